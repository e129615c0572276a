import InsituModel
import InsituScheduler
import InsituTestKit
import Testing

/// Random clusters and jobs from a seeded generator; every plan must satisfy the invariants below.
/// A failure names its seed, so it can be replayed with `scenario(seed:)`.
@Suite("Scheduler properties")
struct SchedulerPropertyTests {
    struct Scenario {
        var job: Job
        var existing: [Execution]
        var nodes: [NodeStatus]
    }

    static let regions = ["eu", "us", "ap"]
    static let datasets = ["patients", "visits", "weather"]

    static func scenario(seed: UInt64) -> Scenario {
        var random = SeededRandom(seed: seed)
        var ids = SeededIDs(seed: seed)
        func pick<T>(_ options: [T]) -> T { options.randomElement(using: &random)! }
        func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

        let nodes: [NodeStatus] = (0..<Int.random(in: 0...10, using: &random)).map { _ in
            var labels: Labels = [:]
            if chance(70) { labels["region"] = pick(regions) }
            if chance(40) { labels["gpu"] = "true" }
            let cpu = pick([500, 1000, 2000, 4000])
            let memory = pick([1, 2, 4]) * FixtureDefaults.gibibyte
            // Sometimes over-committed: allocation beyond capacity must never attract work.
            let overcommitted = chance(10)
            let allocated = Resources(
                cpuMillis: Int.random(in: 0...(overcommitted ? cpu + cpu / 4 : cpu / 2), using: &random),
                memoryBytes: Int64.random(in: 0...(overcommitted ? memory : memory / 2), using: &random))
            let engines: [EngineKind] = pick([[.wasm], [.process], [.wasm, .process], [.wasm, .process]])
            return .fixture(
                id: ids.nextNodeID(), labels: labels, datasets: datasets.filter { _ in chance(70) }, cpu: cpu,
                memory: memory, engines: engines, liveness: chance(90) ? .connected : .disconnected,
                allocated: allocated, activeExecutions: Int.random(in: 0...4, using: &random))
        }

        var constraints: [LabelConstraint] = []
        for _ in 0..<pick([0, 0, 1, 2]) {
            let key = pick(["region", "gpu"])
            let op = pick(ConstraintOperator.allCases)
            let values = key == "region" ? regions.filter { _ in chance(50) } : ["true"]
            constraints.append(LabelConstraint(key: key, operator: op, values: values.isEmpty ? ["eu"] : values))
        }
        let type: JobType = chance(30) ? .ops : .batch
        let spec = JobSpec.fixture(
            type: type, count: Int.random(in: 0...12, using: &random), datasets: datasets.filter { _ in chance(20) },
            constraints: constraints, engine: chance(80) ? .wasm : .process, cpu: pick([50, 250, 600, 1500]),
            memory: pick([0, 64, 512, 1536]) * FixtureDefaults.mebibyte)
        let job = Job.fixture(id: ids.nextJobID(), spec: spec)

        var existing: [Execution] = []
        if !nodes.isEmpty {
            let partitions = type == .batch ? Array(0..<spec.count) : Array(0..<nodes.count)
            for partition in partitions where chance(30) {
                let node = type == .batch ? pick(nodes).info.id : nodes[partition].info.id
                existing.append(
                    .fixture(job: job.id, partition: partition, node: node, state: pick(ExecutionState.allCases)))
            }
        }
        return Scenario(job: job, existing: existing, nodes: nodes)
    }

    /// An independent statement of feasibility, against `free` after the plan's allocations.
    static func expectedReasons(_ node: NodeStatus, _ spec: JobSpec, free: Resources) -> [Rejection] {
        var reasons: [Rejection] = []
        if node.liveness != .connected { reasons.append(.notConnected(node.liveness)) }
        reasons += spec.datasetNames.filter { name in !node.info.datasets.contains { $0.name == name } }
            .map { .missingDataset($0) }
        reasons += spec.constraints.filter { !$0.matches(node.info.labels) }
            .map { .constraintMismatch($0, actual: node.info.labels[$0.key]) }
        if !node.info.engines.contains(spec.engine.kind) { reasons.append(.engineUnsupported(spec.engine.kind)) }
        if !free.fits(spec.resources) {
            reasons.append(.insufficientResources(requested: spec.resources, free: free))
        }
        return reasons
    }

    static func utilisation(_ node: NodeStatus, used: Resources) -> Double {
        func fraction(_ a: Int64, _ b: Int64) -> Double { b > 0 ? Double(a) / Double(b) : (a > 0 ? .infinity : 0) }
        return max(
            fraction(Int64(used.cpuMillis), Int64(node.info.resources.cpuMillis)),
            fraction(used.memoryBytes, node.info.resources.memoryBytes))
    }

    @Test(arguments: 0..<200)
    func invariantsHold(seed: Int) {
        let scenario = Self.scenario(seed: UInt64(seed))
        let spec = scenario.job.spec
        let plan = Scheduler().plan(
            job: scenario.job, existing: scenario.existing, nodes: scenario.nodes, now: FixtureDefaults.epoch)
        let byID = Dictionary(uniqueKeysWithValues: scenario.nodes.map { ($0.info.id, $0) })

        // Replay the placements in order, checking each against the cluster as it was at that step.
        var planned: [NodeID: Resources] = [:]
        var plannedCount: [NodeID: Int] = [:]
        for placement in plan.placements {
            guard let node = byID[placement.nodeID] else {
                Issue.record("seed \(seed): placement on unknown node \(placement.nodeID)")
                continue
            }
            let free = node.free - planned[node.info.id, default: .zero]
            #expect(Self.expectedReasons(node, spec, free: free).isEmpty, "seed \(seed): infeasible \(placement)")
            #expect(placement.attempt == 1, "seed \(seed)")

            if spec.type == .batch {
                // Greedy ranking: no feasible node would have been less utilised after this placement.
                let chosen = Self.utilisation(node, used: node.allocated + planned[node.info.id, default: .zero] + spec.resources)
                for other in scenario.nodes {
                    let otherPlanned = planned[other.info.id, default: .zero]
                    guard Self.expectedReasons(other, spec, free: other.free - otherPlanned).isEmpty else { continue }
                    let theirs = Self.utilisation(other, used: other.allocated + otherPlanned + spec.resources)
                    #expect(chosen <= theirs, "seed \(seed): \(other.info.id) was less loaded than \(placement.nodeID)")
                }
            }
            planned[node.info.id, default: .zero] += spec.resources
            plannedCount[node.info.id, default: 0] += 1
        }

        // No node is pushed past capacity by this plan.
        for (id, total) in planned {
            #expect(byID[id]!.free.fits(total), "seed \(seed): \(id) over capacity")
        }

        // No partition twice, and none that already had an execution.
        let placedPartitions = plan.placements.map(\.partition)
        #expect(Set(placedPartitions).count == placedPartitions.count, "seed \(seed): partition placed twice")
        #expect(Set(placedPartitions).isDisjoint(with: scenario.existing.map(\.partition)), "seed \(seed)")

        switch spec.type {
        case .batch:
            let missing = Set(0..<spec.count).subtracting(scenario.existing.map(\.partition))
            #expect(Set(placedPartitions).union(plan.unplacedPartitions) == missing, "seed \(seed)")
            #expect(Set(placedPartitions).isDisjoint(with: plan.unplacedPartitions), "seed \(seed)")
            #expect(plan.unplacedPartitions == plan.unplacedPartitions.sorted(), "seed \(seed)")
            #expect(placedPartitions == placedPartitions.sorted(), "seed \(seed): partitions out of order")
            // Rejections say exactly why each node cannot take one more execution after the plan.
            for node in scenario.nodes {
                let free = node.free - planned[node.info.id, default: .zero]
                let reasons = Self.expectedReasons(node, spec, free: free)
                #expect(plan.rejections[node.info.id] == (reasons.isEmpty ? nil : reasons), "seed \(seed): \(node.info.id)")
            }
            // Something left unplaced means no node could take it.
            if !plan.unplacedPartitions.isEmpty {
                #expect(plan.rejections.count == scenario.nodes.count, "seed \(seed)")
            }
            #expect(plan.isComplete == plan.unplacedPartitions.isEmpty, "seed \(seed)")
        case .ops:
            #expect(plan.unplacedPartitions.isEmpty, "seed \(seed)")
            let occupied = Set(scenario.existing.map(\.nodeID))
            #expect(plannedCount.values.allSatisfy { $0 == 1 }, "seed \(seed): ops job twice on a node")
            #expect(Set(plannedCount.keys).isDisjoint(with: occupied), "seed \(seed): ops job on occupied node")
            let first = (scenario.existing.map(\.partition).max() ?? -1) + 1
            #expect(placedPartitions == Array(first..<(first + placedPartitions.count)), "seed \(seed)")
            #expect(plan.placements.map(\.nodeID) == plan.placements.map(\.nodeID).sorted(), "seed \(seed)")
            // Every node is either placed on or explained, never both.
            for node in scenario.nodes {
                let id = node.info.id
                if plannedCount[id] != nil {
                    #expect(plan.rejections[id] == nil, "seed \(seed)")
                } else if occupied.contains(id) {
                    #expect(plan.rejections[id] == [.alreadyRunsJob], "seed \(seed)")
                } else {
                    let reasons = Self.expectedReasons(node, spec, free: node.free)
                    #expect(!reasons.isEmpty && plan.rejections[id] == reasons, "seed \(seed): \(id)")
                }
            }
            #expect(plan.isComplete == (!plan.placements.isEmpty || !scenario.existing.isEmpty), "seed \(seed)")
        }

        #expect(plan.explain().count == plan.rejections.count, "seed \(seed)")
        #expect(plan.explain() == plan.explain().sorted(), "seed \(seed)")

        // Deterministic, whatever order the snapshot lists nodes in.
        var random = SeededRandom(seed: UInt64(seed) ^ 0xFEED)
        let shuffled = Scheduler().plan(
            job: scenario.job, existing: scenario.existing.shuffled(using: &random),
            nodes: scenario.nodes.shuffled(using: &random), now: FixtureDefaults.epoch)
        #expect(shuffled == plan, "seed \(seed): plan depends on input order")
    }
}
