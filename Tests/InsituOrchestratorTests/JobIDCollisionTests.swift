import InsituModel
import InsituOrchestrator
import InsituStore
import InsituTestKit
import Synchronization
import Testing

/// A new job whose ID is already taken gets another ID; the job that holds it is never touched.
/// Before, jobs were written with an upsert, so a colliding ID silently replaced a finished job.
@Suite struct JobIDCollisionTests {
    /// Hands out the given IDs in order, then `j-fallback-N`.
    static func ids(_ sequence: [JobID]) -> @Sendable () -> JobID {
        let next = Mutex((sequence, 0))
        return {
            next.withLock { state in
                defer { state.1 += 1 }
                return state.1 < state.0.count ? state.0[state.1] : JobID("j-fallback-\(state.1)")
            }
        }
    }

    @Test func anIDTakenByAFinishedJobIsNotReused() async throws {
        let harness = try await Harness(jobIDs: Self.ids(["j-1", "j-1", "j-2"]))
        let node = try await harness.connect("node-a")
        let first = try await harness.orchestrator.submit(.fixture(name: "first"))
        try await harness.succeed(try #require(node.assignments.first).executionID, on: "node-a")
        #expect(try await harness.store.job(first.id)?.state == .completed)

        // The finished job lives only in the store: the store refuses the second creation.
        let second = try await harness.orchestrator.submit(.fixture(name: "second"))
        #expect(second.id == "j-2")
        #expect(try await harness.store.job("j-1")?.spec.name == "first")
        #expect(try await harness.store.job("j-1")?.state == .completed)
        #expect(try await harness.store.job("j-2")?.spec.name == "second")
    }

    @Test func anIDTakenByAnActiveJobIsNotReused() async throws {
        let harness = try await Harness(jobIDs: Self.ids(["j-1", "j-1", "j-3"]))
        let first = try await harness.orchestrator.submit(.fixture(name: "first", datasets: ["nowhere"]))
        let second = try await harness.orchestrator.submit(.fixture(name: "second", datasets: ["nowhere"]))
        #expect(first.id == "j-1" && second.id == "j-3")
        #expect(try await harness.store.job("j-1")?.spec.name == "first")
    }

    @Test func aGeneratorThatOnlyCollidesFailsTheSubmissionWithoutTrapping() async throws {
        let harness = try await Harness(jobIDs: { "j-1" })
        _ = try await harness.orchestrator.submit(.fixture(name: "first", datasets: ["nowhere"]))
        let error = await #expect(throws: StoreError.self) {
            _ = try await harness.orchestrator.submit(.fixture(name: "second", datasets: ["nowhere"]))
        }
        #expect(error?.kind == .conflict)
        #expect(try await harness.store.job("j-1")?.spec.name == "first")
    }

    @Test func freshJobIDsCarry128RandomBits() {
        let ids = (0..<100).map { _ in RandomIDs.jobID().rawValue }
        #expect(ids.allSatisfy { $0.hasPrefix("j-") && $0.count == 2 + 32 && $0.dropFirst(2).allSatisfy(\.isHexDigit) })
        #expect(Set(ids).count == ids.count)
    }
}
