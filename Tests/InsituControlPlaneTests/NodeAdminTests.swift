import InsituAPI
import InsituControlPlane
import InsituModel
import InsituSimulation
import InsituStore
import Testing

/// Issue 9, item 1: `insitu node drain` and `insitu node delete` in the pure core.
@Suite struct NodeAdminTests {
    @Test func aDrainedNodeGetsNoNewWorkSaysWhyAndTakesWorkAgainOnceLifted() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        guard case .node(let status) = core.apply(.drainNode("node-a", draining: true)) else {
            Issue.record("no node status")
            return
        }
        #expect(status.draining)
        let job = core.submit(Core.spec())
        #expect(core.assignments.isEmpty)
        #expect(job.state == .queued)
        #expect(core.plane.placementFailures(of: job.id).values.joined().contains { $0.contains("node is draining") })

        core.apply(.drainNode("node-a", draining: false))
        #expect(core.assignments.map(\.0) == ["node-a"], "the queued job runs once the drain is lifted")
    }

    @Test func workAlreadyRunningOnADrainedNodeFinishesThere() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        _ = core.submit(Core.spec())
        let (_, execution) = try #require(core.assignments.first)
        core.apply(.drainNode("node-a", draining: true))
        #expect(core.cancellations.isEmpty)
        _ = core.report("node-a", connection: 1, seq: 1, Core.success(execution))
        #expect(core.store.jobs["j-1"]?.state == .completed)
    }

    @Test func aDrainOutlivesARestartAndAReconnection() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        core.apply(.drainNode("node-a", draining: true))
        var restarted = Core()
        restarted.plane = ControlPlane(settings: core.plane.settings, recovered: core.store.recover(), now: Timestamp(milliseconds: core.now))
        restarted.store = core.store
        restarted.connect("node-a", connection: 2)
        #expect(restarted.plane.nodeStatuses().first?.draining == true)
        _ = restarted.submit(Core.spec())
        #expect(restarted.assignments.isEmpty, "the recovered drain still holds new work back")
    }

    @Test func onlyANodeThatIsAwayCanBeDeletedAndItsWorkIsReplacedAtOnce() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        core.connect("node-b", connection: 2)
        _ = core.submit(Core.spec(grace: 3_600_000))
        let (first, execution) = try #require(core.assignments.first)
        let firstConnection: UInt64 = first == "node-a" ? 1 : 2
        let other: NodeID = first == "node-a" ? "node-b" : "node-a"

        guard case .nodeStillConnected(_, .connected) = core.apply(.forgetNode(first)) else {
            Issue.record("a connected node was deleted")
            return
        }
        #expect(core.apply(.forgetNode("node-zz")).isUnknownNode)

        core.apply(.nodeDisconnected(first, connection: firstConnection))
        guard case .forgotten(_, let lost) = core.apply(.forgetNode(first)) else {
            Issue.record("not forgotten")
            return
        }
        #expect(lost == 1)
        // Lost now, not after the hour of grace, and placed again on the other node.
        #expect(core.store.executions[execution]?.state == .lost)
        #expect(core.assignments.map(\.0) == [other])
        #expect(core.store.nodes[first] == nil && !core.plane.nodeStatuses().contains { $0.info.id == first })
    }
}

extension Reply {
    var isUnknownNode: Bool {
        if case .unknownNode = self { return true }
        return false
    }
}
