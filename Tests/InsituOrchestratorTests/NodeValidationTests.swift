import Foundation
import InsituAPI
import InsituModel
import InsituOrchestrator
import InsituStore
import InsituTestKit
import Testing

@Suite struct NodeValidationTests {
    @Test func aHelloWithInvalidInfoIsRefusedAndNotStored() async throws {
        let harness = try await Harness()
        let info = NodeInfo(id: "node-a", name: "node-a", resources: Resources(cpuMillis: Int.min, memoryBytes: 1 << 30))
        await #expect(throws: NodeInfoProblem.self) {
            _ = try await harness.orchestrator.nodeConnected(
                AgentHello(node: info, epoch: 1, knownExecutions: []), connection: NodeConnection(id: 1) { _ in })
        }
        #expect(try await harness.store.nodes().isEmpty)
        #expect(await harness.orchestrator.nodeSummaries().isEmpty)
    }

    /// Item 3: a poisoned node record (stored before hellos were validated) crashed the first
    /// placement after every restart.
    @Test func aStoredNodeWithInvalidInfoIsIgnoredAtRecovery() async throws {
        let first = try await Harness()
        try await first.connect("node-a")
        try await first.connect("node-b", connection: 2)
        _ = try await first.orchestrator.submit(.fixture(type: .ops))
        let poisoned = NodeInfo(id: "node-a", name: "node-a", resources: Resources(cpuMillis: Int.min, memoryBytes: Int64.min))
        _ = try await first.store.commit(StoreBatch(nodes: [NodeRecord(info: poisoned, liveness: .connected, lastSeen: first.clock.now)]))

        let second = try await Harness(directory: first.directory, seed: 2)
        #expect(await second.orchestrator.nodeSummaries().map(\.id) == ["node-b"])
        // Placement over node-a's allocation is what trapped.
        let job = try await second.orchestrator.submit(.fixture(count: 2))
        #expect(try await second.store.job(job.id)?.state == .queued, "node-b is disconnected until it says hello")
        // node-a may come back with valid info.
        let again = try await second.connect("node-a", epoch: 2)
        #expect(!again.assignments.isEmpty)
    }
}
