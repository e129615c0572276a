import InsituModel
import InsituScheduler
import InsituTestKit
import Testing

/// Issue 8, item 4: the scheduler reads each node's advertised policy and does not place what the
/// node would refuse; the explanation names the rule.
@Suite struct PolicyPlacementTests {
    static func node(_ id: NodeID, policy: NodePolicy?) -> NodeStatus {
        var status = NodeStatus.fixture(id: id, datasets: ["patients"])
        status.info.policy = policy
        return status
    }

    static func job(namespace: String) -> Job {
        var spec = JobSpec.fixture(datasets: ["patients"])
        spec.namespace = namespace
        return Job(id: "j-1", spec: spec, createdAt: FixtureDefaults.epoch)
    }

    static let clinicalOnly = NodePolicy(datasets: ["patients": .init(namespaces: ["clinical"])])

    @Test func aNodeWhosePolicyRefusesIsSkippedForOneThatAdmits() {
        let nodes = [Self.node("node-1", policy: Self.clinicalOnly), Self.node("node-2", policy: nil)]
        for plan in [
            Scheduler().plan(job: Self.job(namespace: "research"), existing: [], nodes: nodes, now: FixtureDefaults.epoch),
            Scheduler().plan(job: Self.job(namespace: "research"), existing: [], index: NodeIndex(nodes), now: FixtureDefaults.epoch),
        ] {
            #expect(plan.placements.map(\.nodeID) == ["node-2"])
        }
        let clinical = Scheduler().plan(job: Self.job(namespace: "clinical"), existing: [], nodes: [nodes[0]], now: FixtureDefaults.epoch)
        #expect(clinical.placements.map(\.nodeID) == ["node-1"])
    }

    @Test func withOnlyARefusingNodeTheExplanationNamesThePolicy() {
        let plan = Scheduler().plan(
            job: Self.job(namespace: "research"), existing: [], index: NodeIndex([Self.node("node-1", policy: Self.clinicalOnly)]),
            now: FixtureDefaults.epoch)
        #expect(plan.placements.isEmpty)
        let explained = plan.explain().joined(separator: "\n")
        #expect(explained.contains("node-1: node policy: namespace \"research\" may not use dataset \"patients\" (allowed: clinical)"), "\(explained)")
        #expect(plan.rejections["node-1"]?.map(\.kind) == [.policyRefused(rule: "node policy: namespace \"research\" may not use dataset \"patients\"")])
    }
}
