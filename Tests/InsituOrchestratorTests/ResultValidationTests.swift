import Foundation
import InsituAPI
import InsituModel
import InsituOrchestrator
import InsituTestKit
import Testing

/// What a node reports as a result is checked before anything of it is stored (issue 5, item
/// 17): a refused result fails its execution with a reason, never the connection.
@Suite struct ResultValidationTests {
    static func file(_ path: String, _ text: String = "x") -> ResultFilePayload {
        let bytes = Data(text.utf8)
        return ResultFilePayload(path: path, base64: bytes.base64EncodedString(), sha256: BlobStore.digest(of: bytes))
    }

    /// Runs a one-partition job on node-a, reports `files` as its successful result, and returns
    /// the job's stored detail.
    static func report(_ files: [ResultFilePayload]) async throws -> (job: Job, execution: Execution, results: [ResultRecord]) {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture())
        let execution = try #require(node.assignments.first).executionID
        try await harness.orchestrator.handle(
            .executionResult(ExecutionResultMessage(executionID: execution, state: .succeeded, exitCode: 0, reason: nil, files: files)),
            from: "node-a")
        let stored = try #require(try await harness.store.job(job.id))
        let executions = try await harness.store.executions(of: job.id)
        return (stored, try #require(executions.first), try await harness.store.results(of: job.id))
    }

    @Test func aResultWithAMalformedDigestFailsTheExecution() async throws {
        let bytes = Data("x".utf8)
        let bad = ResultFilePayload(path: "stdout", base64: bytes.base64EncodedString(), sha256Text: "not-hex")
        let outcome = try await Self.report([bad])
        #expect(outcome.execution.state == .failed)
        #expect(outcome.execution.stateReason?.contains("malformed sha256") == true, "\(outcome.execution.stateReason ?? "")")
        #expect(outcome.results.isEmpty)
    }

    @Test func aValidResultIsStillAccepted() async throws {
        let outcome = try await Self.report([Self.file("stdout", "hi"), Self.file("stderr", ""), Self.file("outputs/o/dir/f.json", "{}")])
        #expect(outcome.execution.state == .succeeded)
        #expect(outcome.results.first?.files.map(\.path) == ["stdout", "stderr", "outputs/o/dir/f.json"])
    }
}
