import Foundation
import InsituAPI
@testable import InsituAgent
import InsituExecutor
import InsituModel
import InsituTestKit
import Logging
import Testing

@Suite struct ExecutionEnvironmentTests {
    func assignment(_ spec: JobSpec, partition: Int = 2) -> ExecutionAssignment {
        ExecutionAssignment(executionID: ExecutionID(job: "j-7", partition: partition, attempt: 1), jobID: "j-7", partition: partition, spec: spec)
    }

    @Test func aBatchExecutionLearnsItsJobPartitionNodeAndLabels() {
        let spec = JobSpec(name: "scan", count: 4, engine: EngineSpec(process: ProcessSettings(command: "true")))
        let variables = ExecutionEnvironment.variables(
            for: assignment(spec), nodeName: "hospital-a", labels: ["site": "north", "insitu.io/zone": "b"])
        #expect(
            variables == [
                "INSITU_JOB_ID": "j-7", "INSITU_EXECUTION_ID": ExecutionID(job: "j-7", partition: 2, attempt: 1).rawValue,
                "INSITU_PARTITION": "2", "INSITU_PARTITION_COUNT": "4", "INSITU_NODE_NAME": "hospital-a",
                "INSITU_LABEL_SITE": "north", "INSITU_LABEL_INSITU_IO_ZONE": "b",
            ])
    }

    /// An ops job runs once per matching node, a number that grows as nodes join: no count.
    @Test func anOpsExecutionHasNoPartitionCount() {
        let spec = JobSpec(name: "ops", type: .ops, engine: EngineSpec(process: ProcessSettings(command: "true")))
        let variables = ExecutionEnvironment.variables(for: assignment(spec, partition: 0), nodeName: "n", labels: [:])
        #expect(variables["INSITU_PARTITION"] == "0")
        #expect(variables["INSITU_PARTITION_COUNT"] == nil)
    }

    /// Keys that map to one name: the smallest key wins, whatever the dictionary's order.
    @Test func collidingLabelNamesResolveToTheSmallestKey() {
        for _ in 0..<3 {
            let labels = Dictionary(uniqueKeysWithValues: [("a-b", "dash"), ("a.b", "dot"), ("A_B", "upper")].shuffled())
            let variables = ExecutionEnvironment.variables(
                for: assignment(JobSpec(name: "x", engine: EngineSpec(process: ProcessSettings(command: "true")))), nodeName: "n",
                labels: labels)
            #expect(variables["INSITU_LABEL_A_B"] == "upper")
        }
        #expect(ExecutionEnvironment.labelName("région/1") == "R__GION_1")
    }

    @Test func theNodesVariablesOverrideTheJobs() {
        let merged = ExecutionEnvironment.merged(["MODE": "fast", "INSITU_NODE_NAME": "forged"], with: ["INSITU_NODE_NAME": "real"])
        #expect(merged == ["MODE": "fast", "INSITU_NODE_NAME": "real"])
    }

    /// Through the runner: the engine gets the job's env with the node's variables.
    @Test func theRunnerGivesTheEngineTheVariables() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-env-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let config = AgentConfig(
            name: "hospital-a", orchestrators: ["http://127.0.0.1:1"], dataDirectory: base + "/state", labels: ["site": "north"])
        let executor = ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded, exitCode: 0) }
        let runner = try ExecutionRunner(
            config: config, outbox: Outbox(store: try AgentStore.inMemory()), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
            executors: [.process: executor])
        let work = assignment(JobSpec(name: "x", count: 3, engine: EngineSpec(process: ProcessSettings(command: "true")), env: ["MODE": "fast"]))
        #expect(try await runner.accept(work))
        await runner.run(work)
        let env = try #require(executor.requests.first?.env)
        #expect(env["MODE"] == "fast")
        #expect(env["INSITU_PARTITION"] == "2" && env["INSITU_PARTITION_COUNT"] == "3")
        #expect(env["INSITU_NODE_NAME"] == "hospital-a" && env["INSITU_LABEL_SITE"] == "north")
    }
}

@Suite struct HostPathRedactionTests {
    let redaction = HostPathRedaction(
        mounts: [Mount(hostPath: "/srv/sites/patients/", guestPath: "/data", readOnly: true)],
        workDirectory: "/var/lib/insitu/executions/e-1", dataDirectory: "/var/lib/insitu",
        datasets: [(name: "patients", path: "/srv/sites/patients"), (name: "images", path: "/srv/sites/images")])

    @Test func aMountedDatasetIsNamedByItsSandboxPath() {
        #expect(
            redaction.apply("Failed to open preopen path '/srv/sites/patients': ENOENT")
                == "Failed to open preopen path '/data': ENOENT")
        #expect(redaction.apply("cannot read /srv/sites/patients/patients.csv.") == "cannot read /data/patients.csv.")
        #expect(redaction.apply("gone: /srv/sites/patients.") == "gone: /data.")
    }

    @Test func otherNodePathsBecomePlaceholders() {
        #expect(redaction.apply("no space in /var/lib/insitu/executions/e-1/outputs/x") == "no space in <execution directory>/outputs/x")
        #expect(redaction.apply("store at /var/lib/insitu/agent.sqlite failed") == "store at <node data directory>/agent.sqlite failed")
        #expect(redaction.apply("/srv/sites/images is busy") == "<dataset images> is busy")
    }

    /// Only whole paths: a longer name that merely starts like a host path is not rewritten.
    @Test func onlyWholePathsAreRewritten() {
        #expect(redaction.apply("/srv/sites/patients2 and /srv/sites/patients.old") == "/srv/sites/patients2 and /srv/sites/patients.old")
        #expect(redaction.apply("/var/lib/insitudata") == "/var/lib/insitudata")
    }

    /// A dataset reached through a symbolic link is also caught under its resolved path.
    @Test func aResolvedLinkIsRewrittenToo() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-redact-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base + "/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: base + "/real")
        let redaction = HostPathRedaction(
            mounts: [Mount(hostPath: base + "/link", guestPath: "/data", readOnly: true)], workDirectory: "/w", dataDirectory: "/d",
            datasets: [])
        #expect(redaction.apply("open \(base)/real/x.csv: EACCES") == "open /data/x.csv: EACCES")
    }
}
