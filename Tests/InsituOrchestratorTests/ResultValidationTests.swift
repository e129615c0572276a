import Foundation
import InsituAPI
import InsituModel
import InsituOrchestrator
import InsituTestKit
import Testing

/// What a node reports as a result is checked before anything of it is stored (issue 5, items
/// 16 and 17): a refused result fails its execution with a reason, never the connection.
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
        var spec = JobSpec.fixture()
        // Not retried, so a refused result ends the job at once.
        spec.retry = RetryPolicy(attempts: 1, delayMillis: 0)
        let job = try await harness.orchestrator.submit(spec)
        let execution = try #require(node.assignments.first).executionID
        try await harness.orchestrator.handle(
            .executionResult(ExecutionResultMessage(executionID: execution, state: .succeeded, exitCode: 0, reason: nil, files: files)),
            from: "node-a")
        let stored = try #require(try await harness.store.job(job.id))
        let executions = try await harness.store.executions(of: job.id)
        return (stored, try #require(executions.first), try await harness.store.results(of: job.id))
    }

    @Test(arguments: ["../../x", "/etc/cron.d/pwn", "", "outputs/o/../../etc/passwd", "outputs/o/a\u{0}"])
    func aResultWithABadPathFailsTheExecutionNamingThePath(path: String) async throws {
        let outcome = try await Self.report([Self.file("stdout"), Self.file(path)])
        #expect(outcome.execution.state == .failed)
        #expect(outcome.execution.stateReason?.contains(path.debugDescription) == true, "\(outcome.execution.stateReason ?? "")")
        #expect(outcome.job.state == .failed)
        #expect(outcome.results.isEmpty, "nothing of a refused result is kept")
    }

    @Test func aResultWithAMalformedDigestFailsTheExecution() async throws {
        let bytes = Data("x".utf8)
        let bad = ResultFilePayload(path: "stdout", base64: bytes.base64EncodedString(), sha256Text: "not-hex")
        let outcome = try await Self.report([bad])
        #expect(outcome.execution.state == .failed)
        #expect(outcome.execution.stateReason?.contains("malformed sha256") == true, "\(outcome.execution.stateReason ?? "")")
        #expect(outcome.results.isEmpty)
    }

    @Test func resultsAreBoundedInFileCountAndTotalSize() async throws {
        let many = (0...ResultLimits.maxFiles).map { Self.file("outputs/o/f\($0)") }
        let tooMany = try await Self.report(many)
        #expect(tooMany.execution.state == .failed)
        #expect(tooMany.execution.stateReason?.contains("\(ResultLimits.maxFiles)") == true)

        let half = String(repeating: "a", count: Int(ResultLimits.maxTotalBytes / 2) + 1)
        let tooBig = try await Self.report([Self.file("outputs/o/a", half), Self.file("outputs/o/b", half)])
        #expect(tooBig.execution.state == .failed)
        #expect(tooBig.execution.stateReason?.contains("MiB") == true, "\(tooBig.execution.stateReason ?? "")")

        let duplicate = try await Self.report([Self.file("stdout"), Self.file("stdout")])
        #expect(duplicate.execution.stateReason?.contains("twice") == true)
    }

    @Test func aValidResultIsStillAccepted() async throws {
        let outcome = try await Self.report([Self.file("stdout", "hi"), Self.file("stderr", ""), Self.file("outputs/o/dir/f.json", "{}")])
        #expect(outcome.execution.state == .succeeded)
        #expect(outcome.results.first?.files.map(\.path) == ["stdout", "stderr", "outputs/o/dir/f.json"])
    }

    @Test func aNodesReasonIsStoredBounded() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        var spec = JobSpec.fixture()
        // Not retried, so a refused result ends the job at once.
        spec.retry = RetryPolicy(attempts: 1, delayMillis: 0)
        let job = try await harness.orchestrator.submit(spec)
        let execution = try #require(node.assignments.first).executionID
        let huge = String(repeating: "r", count: 1 << 20)
        try await harness.orchestrator.handle(
            .executionResult(ExecutionResultMessage(executionID: execution, state: .failed, exitCode: 1, reason: huge, files: [])),
            from: "node-a")
        let stored = try #require(try await harness.store.executions(of: job.id).first)
        #expect(stored.state == .failed)
        #expect((stored.stateReason?.utf8.count ?? 0) < 4200)
        #expect(stored.stateReason?.hasSuffix("[cut at 4096 bytes]") == true)
        let events = try await harness.store.events(of: job.id)
        #expect(events.allSatisfy { $0.message.utf8.count < 8200 }, "the execution's and the job's transitions quote it")
    }
}
