import Foundation
import InsituAPI
@testable import InsituAgent
import InsituExecutor
import InsituModel
import InsituTestKit
import Logging
import Testing

/// The node checks every ID, name and path of an assignment itself.
@Suite struct AssignmentValidationTests {
    func assignment(id: String = "j-1-p0-a1", _ spec: JobSpec) -> ExecutionAssignment {
        ExecutionAssignment(executionID: ExecutionID(rawValue: id), jobID: "j-1", partition: 0, spec: spec)
    }

    let engine = EngineSpec(process: ProcessSettings(command: "true"))

    func reason(_ assignment: ExecutionAssignment) -> String? {
        do {
            try AssignmentValidation.validate(assignment)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func aValidAssignmentPasses() {
        let spec = JobSpec(
            name: "job",
            inputs: [
                InputSpec(source: .dataset(name: "patients.v2"), target: "/data"),
                InputSpec(source: .inline(content: "x"), target: "/config/a.txt"),
                InputSpec(source: .inline(content: "y"), target: "/config/b.txt"),
            ],
            engine: engine, env: ["MODE": "fast"], timeoutMillis: 60_000, outputs: [OutputSpec(name: "results", path: "/out")])
        #expect(reason(assignment(spec)) == nil)
    }

    @Test(arguments: ["../../../victim", "..", ".", "a/b", "", "a\u{0}b", "-x", String(repeating: "a", count: 129), "ü"])
    func executionIDsThatAreNotPlainNamesAreRefused(_ id: String) {
        let refused = reason(assignment(id: id, JobSpec(name: "job", engine: engine)))
        #expect(refused?.contains("execution ID") == true, "\(refused ?? "accepted")")
    }

    @Test(arguments: ["../../../../victim2", "a/b", "..", ".hidden", ""])
    func outputNamesThatAreNotPlainNamesAreRefused(_ name: String) {
        let spec = JobSpec(name: "job", engine: engine, outputs: [OutputSpec(name: name, path: "/out")])
        let refused = reason(assignment(spec))
        #expect(refused?.contains("outputs[0].name") == true, "\(refused ?? "accepted")")
    }

    @Test(arguments: ["relative", "/a/../../etc", "/a//b", "/a/./b", "/", "/a/", "/a\u{0}"])
    func sandboxPathsThatAreNotPlainAbsolutePathsAreRefused(_ path: String) {
        let spec = JobSpec(name: "job", engine: engine, outputs: [OutputSpec(name: "out", path: path)])
        #expect(reason(assignment(spec)) != nil, "\(path) was accepted")
        let input = JobSpec(name: "job", inputs: [InputSpec(source: .inline(content: "x"), target: path + "/f")], engine: engine)
        if path != "/" { #expect(reason(assignment(input)) != nil, "\(path)/f was accepted") }
    }

    @Test func collidingMountsDuplicateOutputsAndBadEnvironmentAreRefused() {
        let twice = JobSpec(
            name: "job", engine: engine, outputs: [OutputSpec(name: "a", path: "/out"), OutputSpec(name: "a", path: "/out2")])
        #expect(reason(assignment(twice))?.contains("appears twice") == true)
        let collide = JobSpec(
            name: "job", inputs: [InputSpec(source: .inline(content: "x"), target: "/out/f")], engine: engine,
            outputs: [OutputSpec(name: "a", path: "/out")])
        #expect(reason(assignment(collide))?.contains("used by both") == true)
        #expect(reason(assignment(JobSpec(name: "job", engine: engine, env: ["A=B": "c"]))) != nil)
        #expect(reason(assignment(JobSpec(name: "job", engine: engine, timeoutMillis: -5))) != nil)
        #expect(reason(assignment(JobSpec(name: "job", engine: engine, args: ["a\u{0}b"]))) != nil)
        let dataset = JobSpec(name: "job", inputs: [InputSpec(source: .dataset(name: "../etc"), target: "/d")], engine: engine)
        #expect(reason(assignment(dataset)) != nil)
    }

    /// The runner itself: a crafted execution ID and output name touch nothing on the host.
    @Test func theRunnerRefusesACraftedAssignmentWithoutTouchingTheHost() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-validate-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        // Both crafted values below resolve to <base>/victim from the node's directories:
        // <base>/state/executions/../../victim and <base>/state/executions/<id>/outputs/../../../../victim.
        let victim = base + "/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: victim + "/file"))
        let executor = ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded) }
        let config = AgentConfig(name: "site", orchestrators: ["http://127.0.0.1:1"], dataDirectory: base + "/state")
        let outbox = Outbox(store: try AgentStore.inMemory())
        let runner = try ExecutionRunner(
            config: config, outbox: outbox, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, executors: [.process: executor])

        for crafted in [
            assignment(id: "../../victim", JobSpec(name: "job", engine: engine)),
            assignment(JobSpec(name: "job", engine: engine, outputs: [OutputSpec(name: "../../../../victim", path: "/out")])),
        ] {
            _ = try await runner.accept(crafted)
            await runner.run(crafted)
        }
        var results: [ExecutionResultMessage] = []
        for frame in await outbox.next(after: 0) {
            if case .executionResult(let result) = frame.body { results.append(result) }
        }
        #expect(results.count == 2)
        #expect(results.allSatisfy { $0.state == .failed && $0.reason?.contains("the node refused this assignment") == true })
        #expect(executor.requests.isEmpty, "nothing ran")
        #expect(try String(contentsOfFile: victim + "/file", encoding: .utf8) == "keep me")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim) == ["file"])
    }
}
