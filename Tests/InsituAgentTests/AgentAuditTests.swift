import Foundation
import InsituAPI
@testable import InsituAgent
import InsituAudit
import InsituExecutor
import InsituModel
import InsituTestKit
import Logging
import Testing

/// The node's audit log, at the runner: what it admitted (code and data), what left it (each
/// file's sha256 and size), and every refusal at the admission point.
@Suite struct AgentAuditTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-agent-audit-\(UUID().uuidString)").path

    func makeRunner(_ executor: ScriptedExecutor) throws -> (ExecutionRunner, Outbox) {
        try FileManager.default.createDirectory(atPath: base + "/patients", withIntermediateDirectories: true)
        let config = AgentConfig(
            name: "site", orchestrators: ["http://127.0.0.1:1"], dataDirectory: base + "/state",
            datasets: [.init(name: "patients", path: base + "/patients")])
        let outbox = Outbox(store: try AgentStore.inMemory())
        let runner = try ExecutionRunner(
            config: config, outbox: outbox, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, executors: [.process: executor])
        return (runner, outbox)
    }

    func entries() throws -> [AuditEntry] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: base + "/state/audit.log"))
        let read = AuditVerifier.entries(Array(bytes))
        #expect(read.problem == nil)
        return read.entries
    }

    static let secret = "hunter2-\(UUID().uuidString)"

    func work(_ id: String = "j-1-p0-a1", outputs: [OutputSpec] = [OutputSpec(name: "results", path: "/out")]) -> ExecutionAssignment {
        let spec = JobSpec(
            name: "job", inputs: [InputSpec(source: .dataset(name: "patients"), target: "/data")],
            engine: EngineSpec(process: ProcessSettings(command: "/bin/true")), args: ["--token", Self.secret],
            env: ["DB_PASSWORD": Self.secret], outputs: outputs)
        return ExecutionAssignment(executionID: ExecutionID(rawValue: id), jobID: "j-1", partition: 0, spec: spec)
    }

    @Test func anAdmittedExecutionRecordsItsCodeItsDataAndEachFileThatLeftTheNode() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { request, _ in
            let output = try #require(request.mounts.first { $0.guestPath == "/out" })
            try Data("42\n".utf8).write(to: URL(fileURLWithPath: output.hostPath + "/answer.txt"))
            return ExecutionOutcome(status: .succeeded, exitCode: 0, stdout: Array("done\n".utf8))
        }
        let (runner, outbox) = try makeRunner(executor)
        let assignment = work()
        #expect(try await runner.accept(assignment))
        await runner.run(assignment)

        let entries = try entries()
        let admit = try #require(entries.first { $0.event.action == "execution.admit" })
        #expect(admit.event.actor.kind == .orchestrator)
        #expect(admit.event.details["execution"]?.string == "j-1-p0-a1")
        #expect(admit.event.details["job"]?.string == "j-1")
        #expect(admit.event.details["engine"]?.string == "process")
        #expect(admit.event.details["command"]?.string == "/bin/true")
        #expect(admit.event.details["datasets"] == .list(["patients"]))
        #expect(admit.event.details["env_names"] == .list(["DB_PASSWORD"]))

        let sent = try #require(entries.first { $0.event.action == "result.send" })
        #expect(sent.event.outcome == .ok)
        var result: ExecutionResultMessage?
        for frame in await outbox.next(after: 0) {
            if case .executionResult(let message) = frame.body { result = message }
        }
        let files = try #require(result?.files)
        let recorded = try #require(sent.event.details["files"]?.list)
        #expect(recorded.count == files.count)
        for file in files {
            let entry = recorded.first { $0["path"]?.string == file.path }
            #expect(entry?["sha256"]?.string == file.sha256, "\(file.path)")
            #expect(entry?["size"]?.int == Int64(Data(base64Encoded: file.base64)?.count ?? -1), "\(file.path)")
        }
        #expect(recorded.contains { $0["path"]?.string == "outputs/results/answer.txt" && $0["size"]?.int == 3 })
        let log = try String(contentsOfFile: base + "/state/audit.log", encoding: .utf8)
        #expect(!log.contains(Self.secret), "a secret env value or argument reached the audit log")
    }

    /// Every refusal at the admission point leaves an entry, with the reason the job's author gets.
    @Test func aRefusedAssignmentLeavesAnAuditEntryWithItsReason() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded) }
        let (runner, outbox) = try makeRunner(executor)
        let crafted = work(outputs: [OutputSpec(name: "../../victim", path: "/out")])
        _ = try await runner.accept(crafted)
        await runner.run(crafted)

        #expect(executor.requests.isEmpty)
        var reason: String?
        for frame in await outbox.next(after: 0) {
            if case .executionResult(let message) = frame.body { reason = message.reason }
        }
        let refusal = try #require(try entries().first { $0.event.action == "execution.refuse" })
        #expect(refusal.event.outcome == .refused)
        #expect(refusal.event.details["execution"]?.string == "j-1-p0-a1")
        #expect(refusal.event.details["reason"]?.string == reason)
        #expect(try !entries().contains { $0.event.action == "execution.admit" })
    }

    @Test func aFailedExecutionIsRecordedWithoutTheStderrItPrinted() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, _ in
            ExecutionOutcome(status: .failed, exitCode: 3, stderr: Array("row 17: patient Jane Doe\n".utf8))
        }
        let (runner, _) = try makeRunner(executor)
        let assignment = work()
        #expect(try await runner.accept(assignment))
        await runner.run(assignment)
        let sent = try #require(try entries().first { $0.event.action == "result.send" })
        #expect(sent.event.outcome == .failed)
        #expect(sent.event.details["exit_code"]?.int == 3)
        #expect(sent.event.details["reason"]?.string == "exited with status 3")
        #expect(try !String(contentsOfFile: base + "/state/audit.log", encoding: .utf8).contains("Jane Doe"))
    }
}
