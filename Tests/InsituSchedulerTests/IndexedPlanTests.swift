import InsituModel
import InsituScheduler
import InsituTestKit
import Testing

private let now = FixtureDefaults.epoch

/// `node-00042`: fixed width, so ID order is numeric order.
private func nodeID(_ number: Int) -> NodeID {
    let digits = String(number)
    return NodeID("node-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits)
}

/// The indexed plan must agree with the snapshot plan wherever the rank limit does not apply:
/// the same placements, the same unplaced partitions, the listed nodes explained identically, and
/// every other rejected node counted under a reason that really applies to it.
@Suite("Indexed planning agrees with the snapshot")
struct IndexedPlanAgreementTests {
    /// Lists every examined node, so that the unlisted ones are exactly those the index excluded.
    static let listAll = Scheduler(configuration: .init(maxListedRejections: .max))

    static func expectAgreement(job: Job, existing: [Execution], nodes: [NodeStatus], seed: Int) {
        let snapshot = Scheduler().plan(job: job, existing: existing, nodes: nodes, now: now)
        let indexed = listAll.plan(job: job, existing: existing, index: NodeIndex(nodes), now: now)
        var unique: [NodeID: NodeStatus] = [:]
        for node in nodes where unique[node.info.id] == nil { unique[node.info.id] = node }

        #expect(indexed.placements == snapshot.placements, "seed \(seed)")
        #expect(indexed.unplacedPartitions == snapshot.unplacedPartitions, "seed \(seed)")
        #expect(indexed.isComplete == snapshot.isComplete, "seed \(seed)")
        #expect(indexed.existingExecutionCount == snapshot.existingExecutionCount, "seed \(seed)")
        for (id, reasons) in indexed.rejections {
            #expect(snapshot.rejections[id] == reasons, "seed \(seed): \(id)")
        }
        // Every rejected node is listed or counted, and every node examined or excluded.
        #expect(indexed.rejections.count + indexed.unlisted.nodeCount == snapshot.rejections.count, "seed \(seed)")
        #expect(indexed.examinedNodeCount + indexed.unlisted.nodeCount == unique.count, "seed \(seed)")
        #expect(indexed.examinedNodeCount <= unique.count, "seed \(seed)")
        // Every examined node is listed, so the unlisted ones are the nodes the index excluded, all
        // for one reason that each of them really fails.
        let unlisted = Set(snapshot.rejections.keys).subtracting(indexed.rejections.keys)
        #expect(indexed.unlisted.reasons.count == (unlisted.isEmpty ? 0 : 1), "seed \(seed)")
        for (kind, count) in indexed.unlisted.reasons {
            #expect(count == unlisted.count, "seed \(seed)")
            for id in unlisted {
                let reasons = SchedulerPropertyTests.expectedReasons(unique[id]!, job.spec, free: unique[id]!.free)
                #expect(reasons.map(\.kind).contains(kind), "seed \(seed): \(id) counted under \(kind)")
            }
        }
        // The order the index learnt about the nodes in does not matter below the rank limit.
        var random = SeededRandom(seed: UInt64(seed) ^ 0xBEEF)
        let shuffled = listAll.plan(job: job, existing: existing, index: NodeIndex(nodes.shuffled(using: &random)), now: now)
        #expect(shuffled.placements == indexed.placements, "seed \(seed)")
        #expect(shuffled.rejections == indexed.rejections, "seed \(seed)")
        #expect(shuffled.unlisted == indexed.unlisted, "seed \(seed)")
    }

    /// The property test's clusters: up to 10 nodes, any liveness, hostile over-commitment. With
    /// the default configuration too, since at most 10 nodes are always all listed.
    @Test(arguments: 0..<200)
    func smallRandomClusters(seed: Int) {
        let scenario = SchedulerPropertyTests.scenario(seed: UInt64(seed))
        Self.expectAgreement(job: scenario.job, existing: scenario.existing, nodes: scenario.nodes, seed: seed)
        let byDefault = Scheduler().plan(job: scenario.job, existing: scenario.existing, index: NodeIndex(scenario.nodes), now: now)
        let listed = Self.listAll.plan(job: scenario.job, existing: scenario.existing, index: NodeIndex(scenario.nodes), now: now)
        #expect(byDefault == listed, "seed \(seed)")
    }

    /// Up to 100 nodes (the largest pool ranked in full), more datasets and equality constraints,
    /// so the index narrows to every kind of posting set.
    @Test(arguments: 0..<60)
    func mediumRandomClusters(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed) &+ 7_000)
        func pick<T>(_ options: [T]) -> T { options.randomElement(using: &random)! }
        func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }
        let datasets = (0..<8).map { "ds-\($0)" }
        let nodes: [NodeStatus] = (0..<Int.random(in: 0...100, using: &random)).map { number in
            var labels: Labels = [:]
            if chance(80) { labels["region"] = pick(["eu", "us", "ap"]) }
            if chance(30) { labels["site"] = pick(["a", "b"]) }
            let cpu = pick([1000, 2000, 4000])
            return .fixture(
                id: nodeID(number), labels: labels, datasets: datasets.filter { _ in chance(15) }, cpu: cpu,
                engines: pick([[.wasm], [.process], [.wasm, .process]]), liveness: chance(85) ? .connected : .disconnected,
                allocated: Resources(cpuMillis: Int.random(in: 0...cpu, using: &random), memoryBytes: 0),
                activeExecutions: Int.random(in: 0...3, using: &random))
        }
        var constraints: [LabelConstraint] = []
        if chance(50) { constraints.append(.init(key: "region", operator: .equals, values: [pick(["eu", "us"])])) }
        if chance(30) { constraints.append(.init(key: "region", operator: .in, values: pick([["eu"], ["us"], ["eu", "us"]]))) }
        if chance(30) { constraints.append(.init(key: "site", operator: pick(ConstraintOperator.allCases), values: ["a"])) }
        let type: JobType = chance(25) ? .ops : .batch
        let spec = JobSpec.fixture(
            type: type, count: Int.random(in: 1...30, using: &random),
            datasets: chance(60) ? [pick(datasets)] + (chance(30) ? [pick(datasets)] : []) : [], constraints: constraints,
            engine: chance(70) ? .wasm : .process, cpu: pick([100, 400, 900]), memory: 0)
        let job = Job.fixture(id: JobID("job-\(seed)"), spec: spec)
        var existing: [Execution] = []
        for node in nodes.prefix(5) where chance(30) {
            existing.append(.fixture(job: job.id, partition: existing.count, node: node.info.id, state: pick(ExecutionState.allCases)))
        }
        Self.expectAgreement(job: job, existing: existing, nodes: nodes, seed: seed)
    }
}

/// Which constraints may narrow the candidates: only those a single `key=value` posting set
/// answers exactly.
@Suite("Indexed planning narrows only where it may")
struct NarrowingTests {
    static let nodes: [NodeStatus] = [
        .fixture(id: "node-a", labels: ["region": "eu"]),
        .fixture(id: "node-b", labels: ["region": "us"]),
        .fixture(id: "node-c", labels: ["tier": "edge"]),
        .fixture(id: "node-d", labels: ["tier": "edge"]),
    ]

    @Test func inWithSeveralValuesKeepsEveryValue() {
        let either = LabelConstraint(key: "region", operator: .in, values: ["eu", "us"])
        let plan = Scheduler().plan(
            job: .fixture(spec: .fixture(count: 2, constraints: [either])), existing: [], index: NodeIndex(Self.nodes), now: now)
        #expect(plan.placements.map(\.nodeID) == ["node-a", "node-b"])
        #expect(plan.examinedNodeCount == 4)
    }

    @Test func equalityAndSingleValueInNarrowToTheLabelledNodes() {
        for constraint in [
            LabelConstraint(key: "region", operator: .equals, values: ["us"]),
            LabelConstraint(key: "region", operator: .in, values: ["us"]),
        ] {
            let plan = Scheduler().plan(
                job: .fixture(spec: .fixture(constraints: [constraint])), existing: [], index: NodeIndex(Self.nodes), now: now)
            #expect(plan.placements.map(\.nodeID) == ["node-b"])
            #expect(plan.examinedNodeCount == 1)
            #expect(plan.unlisted == RejectionTally(nodeCount: 3, reasons: [.constraintMismatch(constraint): 3]))
        }
    }

    @Test func negativeConstraintsDoNotNarrow() {
        for constraint in [
            LabelConstraint(key: "region", operator: .notEquals, values: ["eu"]),
            LabelConstraint(key: "region", operator: .notIn, values: ["eu"]),
            LabelConstraint(key: "region", operator: .doesNotExist),
            LabelConstraint(key: "region", operator: .exists),
            LabelConstraint(key: "region", operator: .equals, values: []),
        ] {
            let plan = Scheduler().plan(
                job: .fixture(spec: .fixture(constraints: [constraint])), existing: [], index: NodeIndex(Self.nodes), now: now)
            #expect(plan.examinedNodeCount == 4, "\(constraint)")
            #expect(
                plan.placements
                    == Scheduler().plan(job: .fixture(spec: .fixture(constraints: [constraint])), existing: [], nodes: Self.nodes, now: now)
                    .placements)
        }
    }
}

@Suite("Rank limit")
struct RankLimitTests {
    @Test func followsTheDocumentedRule() {
        let scheduler = Scheduler()
        for candidates in [0, 1, 2, 50, 100] { #expect(scheduler.rankLimit(candidates: candidates) == nil) }
        #expect(scheduler.rankLimit(candidates: 101) == 7)
        #expect(scheduler.rankLimit(candidates: 1_000) == 10)
        #expect(scheduler.rankLimit(candidates: 1_024) == 10)
        #expect(scheduler.rankLimit(candidates: 1_025) == 11)
        #expect(scheduler.rankLimit(candidates: 10_000) == 14)
        #expect(scheduler.rankLimit(candidates: .max) == 63)
        let always = Scheduler(configuration: .init(rankEveryCandidateUpTo: 0))
        #expect(always.rankLimit(candidates: 1) == nil)
        #expect(always.rankLimit(candidates: 2) == 2)
        #expect(always.rankLimit(candidates: 3) == 2)
        #expect(always.rankLimit(candidates: 5) == 3)
    }

    static let equalNodes: [NodeStatus] = (0..<1_000).map { .fixture(id: nodeID($0), datasets: $0 % 400 == 0 ? ["patients"] : []) }

    @Test func appliesToLargePoolsOnly() {
        let index = NodeIndex(Self.equalNodes)
        let one = Scheduler().plan(job: .fixture(spec: .fixture(count: 1)), existing: [], index: index, now: now)
        #expect(one.placements.count == 1)
        #expect(one.examinedNodeCount == 10)
        let five = Scheduler().plan(job: .fixture(spec: .fixture(count: 5)), existing: [], index: index, now: now)
        #expect(five.examinedNodeCount == 50)
        #expect(Set(five.placements.map(\.nodeID)).count == 5)
        let snapshot = Scheduler().plan(job: .fixture(spec: .fixture(count: 1)), existing: [], nodes: Self.equalNodes, now: now)
        #expect(snapshot.examinedNodeCount == 1_000)

        // A job pinned to a dataset held by 3 nodes examines those 3 and ranks them all.
        let pinned = JobSpec.fixture(count: 4, datasets: ["patients"])
        let indexed = Scheduler().plan(job: .fixture(spec: pinned), existing: [], index: index, now: now)
        #expect(indexed.examinedNodeCount == 3)
        #expect(
            indexed.placements == Scheduler().plan(job: .fixture(spec: pinned), existing: [], nodes: Self.equalNodes, now: now).placements)
        // Ops jobs run on every eligible node, so no limit.
        let ops = Scheduler().plan(job: .fixture(spec: .fixture(type: .ops)), existing: [], index: index, now: now)
        #expect(ops.placements.count == 1_000)
    }

    @Test func limitedPlacementsAreFeasibleSpreadAndDeterministic() {
        var random = SeededRandom(seed: 99)
        let nodes: [NodeStatus] = (0..<2_000).map { number in
            let cpu = [1000, 2000, 4000].randomElement(using: &random)!
            return .fixture(
                id: nodeID(number), cpu: cpu, liveness: number % 10 == 3 ? .disconnected : .connected,
                allocated: Resources(cpuMillis: Int.random(in: 0...cpu, using: &random), memoryBytes: 0))
        }
        let index = NodeIndex(nodes)
        let spec = JobSpec.fixture(count: 100, cpu: 500, memory: 0)
        let plan = Scheduler().plan(job: .fixture(id: "job-spread", spec: spec), existing: [], index: index, now: now)
        #expect(plan.placements.map(\.partition) == Array(0..<100))
        #expect(plan.unplacedPartitions.isEmpty)
        // Every placement was feasible when made, and no node went over capacity.
        var planned: [NodeID: Resources] = [:]
        let byID = Dictionary(uniqueKeysWithValues: nodes.map { ($0.info.id, $0) })
        for placement in plan.placements {
            let node = byID[placement.nodeID]!
            let free = node.free - planned[placement.nodeID, default: .zero]
            #expect(SchedulerPropertyTests.expectedReasons(node, spec, free: free).isEmpty, "\(placement)")
            planned[placement.nodeID, default: .zero] += spec.resources
        }
        // The cursor moves on after each placement and 100 windows of about 11 feasible nodes do
        // not wrap around 1,800 candidates: 100 placements land on 100 different nodes.
        #expect(planned.count == 100)
        #expect(plan.examinedNodeCount < nodes.count)
        #expect(Scheduler().plan(job: .fixture(id: "job-spread", spec: spec), existing: [], index: index, now: now) == plan)
    }
}

/// On a large cluster, what a person reads about a queued job stays short.
@Suite("Bounded explanations")
struct BoundedExplanationTests {
    @Test func pinnedJobListsTheHoldersAndCountsTheRest() {
        let nodes: [NodeStatus] = (0..<10_000).map { number in
            let holder = [17, 4_242, 9_999].contains(number)
            return .fixture(
                id: nodeID(number), datasets: holder ? ["patients"] : ["weather"], cpu: 1000,
                allocated: holder ? Resources(cpuMillis: 1000, memoryBytes: 0) : .zero)
        }
        let spec = JobSpec.fixture(datasets: ["patients"], cpu: 100, memory: 0)
        let plan = Scheduler().plan(job: .fixture(spec: spec), existing: [], index: NodeIndex(nodes), now: now)
        #expect(plan.unplacedPartitions == [0])
        #expect(plan.examinedNodeCount == 3)
        #expect(plan.unlisted == RejectionTally(nodeCount: 9_997, reasons: [.missingDataset("patients"): 9_997]))
        let full = "insufficient resources: requested cpu=100m memory=0, free cpu=0m memory=8Gi"
        #expect(
            plan.explain() == [
                "node-00017: \(full)", "node-04242: \(full)", "node-09999: \(full)",
                "9,997 other nodes: dataset \"patients\" not present",
            ])
    }

    @Test func unplaceableJobListsAtMostTheConfiguredNumberOfNodes() {
        let nodes: [NodeStatus] = (0..<10_000).map {
            .fixture(id: nodeID($0), cpu: 1000, liveness: $0 % 20 == 0 ? .disconnected : .connected)
        }
        let spec = JobSpec.fixture(count: 50, cpu: 2000, memory: 0)
        let plan = Scheduler().plan(job: .fixture(spec: spec), existing: [], index: NodeIndex(nodes), now: now)
        #expect(plan.unplacedPartitions == Array(0..<50))
        #expect(plan.examinedNodeCount == 9_500)
        #expect(plan.rejections.count == 20)
        #expect(plan.rejections.keys.sorted().first == "node-00001")
        #expect(plan.rejections.keys.sorted().last == "node-00021")
        #expect(
            plan.unlisted
                == RejectionTally(
                    nodeCount: 9_980,
                    reasons: [.insufficientResources(requested: spec.resources): 9_480, .disconnected: 500]))
        let lines = plan.explain()
        #expect(lines.count == 22)
        #expect(
            lines.suffix(2) == [
                "9,480 other nodes: insufficient resources for cpu=2000m memory=0", "500 other nodes: node is disconnected",
            ])

        let terse = Scheduler(configuration: .init(maxListedRejections: 0))
        let counted = terse.plan(job: .fixture(spec: spec), existing: [], index: NodeIndex(nodes), now: now)
        #expect(counted.rejections.isEmpty)
        #expect(counted.unlisted.nodeCount == 10_000)
        #expect(counted.explain().count == 2)
    }

    @Test func opsJobAtScaleListsBoundedlyAndCountsEveryReason() {
        let role = LabelConstraint(key: "role", operator: .equals, values: ["db"])
        let nodes: [NodeStatus] = (0..<2_000).map { number in
            .fixture(
                id: nodeID(number), labels: ["role": number % 2 == 0 ? "db" : "web"], cpu: 1000,
                allocated: Resources(cpuMillis: number % 4 == 0 ? 1000 : 0, memoryBytes: 0))
        }
        let spec = JobSpec.fixture(type: .ops, constraints: [role], cpu: 100, memory: 0)
        let existing: [Execution] = [.fixture(job: "job-1", partition: 0, node: "node-00002")]
        let plan = Scheduler().plan(job: .fixture(spec: spec), existing: existing, index: NodeIndex(nodes), now: now)
        // db nodes are the even ones; every other one is full, and node-00002 already runs it.
        #expect(plan.placements.count == 499)
        #expect(plan.placements.first == Placement(partition: 1, attempt: 1, nodeID: "node-00006"))
        #expect(plan.placements.map(\.nodeID) == plan.placements.map(\.nodeID).sorted())
        #expect(plan.examinedNodeCount == 1_000)
        #expect(plan.rejections.count == 20)
        #expect(plan.rejections["node-00002"] == [.alreadyRunsJob])
        #expect(
            plan.unlisted
                == RejectionTally(
                    nodeCount: 1_000 + 500 + 1 - 20,
                    reasons: [.constraintMismatch(role): 1_000, .insufficientResources(requested: spec.resources): 481]))
    }
}
