import InsituModel
import InsituOrchestrator
import InsituTestKit
import Testing

/// A submission retried with the same idempotency key (its answer was lost, the client timed
/// out) returns the job the first one created; nothing is stored twice.
@Suite struct IdempotentSubmitTests {
    @Test func aRetriedSubmissionReturnsTheFirstJob() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let first = try await harness.orchestrator.submit(.fixture(name: "first"), idempotencyKey: "key-1")
        let retry = try await harness.orchestrator.submit(.fixture(name: "first"), idempotencyKey: "key-1")
        #expect(first.created && !retry.created)
        #expect(retry.job.id == first.job.id)
        #expect(try await harness.store.jobs(limit: 10).count == 1)
        #expect(node.assignments.count == 1, "the retry placed nothing")

        let other = try await harness.orchestrator.submit(.fixture(name: "other"), idempotencyKey: "key-2")
        #expect(other.created && other.job.id != first.job.id)
    }

    @Test func twoSubmissionsThatBothFindTheKeyUnusedCreateOneJob() async throws {
        let harness = try await Harness()
        let orchestrator = harness.orchestrator
        // Submitted together, so they may share one drain: the key is resolved inside the drain,
        // where no commit can come between the lookup and the decision.
        async let a = orchestrator.submit(.fixture(datasets: ["nowhere"]), idempotencyKey: "same")
        async let b = orchestrator.submit(.fixture(datasets: ["nowhere"]), idempotencyKey: "same")
        let results = try await [a, b]
        #expect(results[0].job.id == results[1].job.id)
        #expect(results.filter(\.created).count == 1)
        #expect(try await harness.store.jobs(limit: 10).count == 1)
    }

    @Test func aKeyStillNamesItsJobAfterTheJobFinished() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let first = try await harness.orchestrator.submit(.fixture(), idempotencyKey: "k")
        try await harness.succeed(try #require(node.assignments.first).executionID, on: "node-a")
        let retry = try await harness.orchestrator.submit(.fixture(), idempotencyKey: "k")
        #expect(!retry.created && retry.job.id == first.job.id && retry.job.state == .completed)
    }
}
