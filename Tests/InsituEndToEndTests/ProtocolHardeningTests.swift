import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituTestKit
import Testing

/// A real orchestrator process against a fake node that sends what no honest agent would
/// (issue 5). Each test states the attack it replays.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ProtocolHardeningTests {
    static let helloSpec = """
        version: v1
        name: hello
        engine: {type: wasm, module: ./hello.wasm}
        """

    static func hello(_ info: NodeInfo, epoch: UInt64 = 1) -> AgentHello {
        AgentHello(node: info, epoch: epoch, knownExecutions: [])
    }

    /// Item 3: a node holding an allocation said hello again with `cpuMillis = -2^63`; the next
    /// placement trapped on overflow, and because the record was stored, so did the first
    /// placement after every restart.
    @Test func aHostileHelloIsRefusedAndTheOrchestratorSurvivesPlacementAndRestart() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let api = e2e.cluster.apiURL
        let spec = try e2e.specFile("hello", Self.helloSpec, wat: Modules.hello)

        // The node takes an allocation: the job is placed on it (and never finishes).
        let first = try e2e.submit(spec)
        try await FakeNode.connect(api: api, hello: Self.hello(FakeNode.info(id: "fake-1"))) { link throws in
            let placed = try await link.read { !$0.assignments.isEmpty }
            #expect(placed)
            #expect(link.assignments.map(\.jobID.rawValue) == [first])
        }

        let hostile = FakeNode.info(id: "fake-1", cpuMillis: Int.min)
        let refusal = try await FakeNode.connect(api: api, hello: Self.hello(hostile, epoch: 2)) { link in
            // Stops at a welcome (the old behaviour) or when the orchestrator closes the link.
            _ = try await link.read { $0.welcome != nil }
            #expect(link.welcome == nil, "the hostile hello was welcomed")
        }
        #expect(refusal?.code == 1008, "policy violation")
        #expect(refusal?.reason?.contains("resources.cpuMillis") == true, "\(String(describing: refusal))")

        // The next placement runs the scheduler over the node's allocation.
        _ = try e2e.submit(spec)
        #expect(e2e.cluster.orchestrator?.isRunning == true, "\(e2e.cluster.orchestrator?.log() ?? "")")
        let node = try #require(try await e2e.cluster.client.nodes().first { $0.id == "fake-1" })
        #expect(node.resources.cpuMillis == 4000, "the valid registration stays in force")

        // And after a restart, the first placement too.
        e2e.cluster.killOrchestrator()
        try await e2e.cluster.startOrchestrator()
        _ = try e2e.submit(spec)
        #expect(e2e.cluster.orchestrator?.isRunning == true, "\(e2e.cluster.orchestrator?.log() ?? "")")
        #expect(try await e2e.cluster.client.health() == ["status": "ok"])
    }
}
