import Foundation
import InsituAPI
import InsituLocalCluster
import InsituModel
import Testing

/// Issue 9, item 1: `insitu node drain` and `insitu node delete` on real processes.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct NodeDrainTests {
    @Test func aDrainedNodeTakesNoNewWorkUntilTheDrainIsLifted() async throws {
        let e2e = try await E2E.withOneNode("drain-node")
        defer { e2e.tearDown() }
        let drained = try e2e.cli(["node", "drain", "drain-node"])
        #expect(drained.status == 0 && drained.stdout.contains("is draining"), "\(drained.stdout) \(drained.stderr)")
        let node = try JSONDecoder().decode(NodeSummary.self, from: Data(try e2e.cli(["node", "describe", "drain-node", "-o", "json"]).stdout.utf8))
        #expect(node.draining == true)

        let spec = try e2e.specFile("held", "version: v1\nname: held\nengine: {type: wasm, module: ./held.wasm}\n", wat: Modules.hello)
        let run = try e2e.cli(["job", "run", spec, "-o", "json"])
        #expect(run.status == 2 && run.stderr.contains("node is draining"), "\(run.stderr)")
        let id = try JSONDecoder().decode(SubmitJobResponse.self, from: Data(run.stdout.utf8)).jobID.rawValue

        let lifted = try e2e.cli(["node", "drain", "drain-node", "--disable"])
        #expect(lifted.status == 0, "\(lifted.stderr)")
        #expect(try await e2e.waitForState(id) { $0.isTerminal }.job.state == .completed)
    }

    @Test func onlyANodeThatIsAwayIsDeletedAndThenItIsGone() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let agent = try e2e.cluster.startAgent(name: "gone-node")
        try await e2e.cluster.waitForNodes(1)

        let refused = try e2e.cli(["node", "delete", "gone-node"])
        #expect(refused.status == 1 && refused.stderr.contains("only a node that is away can be deleted"), "\(refused.stderr)")

        agent.stop(signal: SIGKILL)
        try await waitUntil(timeout: .seconds(30), "the node to be seen as away") {
            (try? await e2e.cluster.client.node("gone-node").liveness) == .disconnected
        }
        let deleted = try e2e.cli(["node", "delete", "gone-node", "-o", "json"])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try JSONDecoder().decode(DeleteNodeResponse.self, from: Data(deleted.stdout.utf8)).lostExecutions == 0)
        #expect(try await e2e.cluster.client.nodes().isEmpty)
        let again = try e2e.cli(["node", "delete", "gone-node"])
        #expect(again.status == 1 && again.stderr.contains("does not exist"), "\(again.stderr)")
    }
}
