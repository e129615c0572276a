import InsituAPI
import InsituModel
import InsituOrchestrator
import InsituTestKit
import Testing

/// A job without `timeout` gets the cluster's default, visibly: it is written into the stored
/// spec (so `job describe` shows it) and carried by every assignment (so every node enforces it).
/// Before this, such a job ran unbounded although the docs promised a cluster default.
@Suite struct DefaultTimeoutTests {
    @Test func aJobWithoutATimeoutGetsTheClusterDefault() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture())
        #expect(job.spec.timeoutMillis == 3_600_000)
        #expect(try await harness.store.job(job.id)?.spec.timeoutMillis == 3_600_000)
        #expect(node.assignments.map(\.spec.timeoutMillis) == [3_600_000])
    }

    @Test func aJobsOwnTimeoutIsKept() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        var spec = JobSpec.fixture()
        spec.timeoutMillis = 1_500
        let job = try await harness.orchestrator.submit(spec)
        #expect(job.spec.timeoutMillis == 1_500)
        #expect(node.assignments.map(\.spec.timeoutMillis) == [1_500])
    }
}
