import InsituModel
import InsituScheduler
import InsituTestKit
import Testing

private let now = FixtureDefaults.epoch
private let scheduler = Scheduler()

private func plan(_ spec: JobSpec, on nodes: [NodeStatus], existing: [Execution] = [], id: JobID = "job-1") -> Plan {
    scheduler.plan(job: .fixture(id: id, spec: spec), existing: existing, nodes: nodes, now: now)
}

/// Executions per node in a plan.
private func counts(_ plan: Plan) -> [NodeID: Int] {
    plan.placements.reduce(into: [:]) { $0[$1.nodeID, default: 0] += 1 }
}

@Suite("Datasets")
struct DatasetPlacementTests {
    @Test func jobLandsOnlyOnTheNodeHoldingTheDataset() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", datasets: ["patients"]),
            .fixture(id: "node-b", datasets: ["weather"]),
        ]
        let result = plan(.fixture(datasets: ["patients"]), on: nodes)
        #expect(result.placements == [Placement(partition: 0, attempt: 1, nodeID: "node-a")])
        #expect(result.unplacedPartitions.isEmpty)
        #expect(result.isComplete)
        #expect(result.rejections == ["node-b": [.missingDataset("patients")]])
    }

    @Test func everyDatasetMustBeHeld() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", datasets: ["patients"]),
            .fixture(id: "node-b", datasets: ["patients", "visits"]),
        ]
        let result = plan(.fixture(count: 2, datasets: ["patients", "visits"]), on: nodes)
        #expect(result.placements.map(\.nodeID) == ["node-b", "node-b"])
        #expect(result.rejections["node-a"] == [.missingDataset("visits")])
    }

    @Test func twoHoldersShareTheWork() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", datasets: ["patients"]),
            .fixture(id: "node-b", datasets: ["patients"]),
            .fixture(id: "node-c"),
        ]
        let result = plan(.fixture(count: 4, datasets: ["patients"]), on: nodes)
        #expect(counts(result) == ["node-a": 2, "node-b": 2])
        #expect(result.rejections["node-c"] == [.missingDataset("patients")])
    }
}

struct ConstraintCase: Sendable, CustomTestStringConvertible {
    var constraint: LabelConstraint
    var eligible: [NodeID]
    var testDescription: String { constraint.description }
}

@Suite("Constraints")
struct ConstraintTests {
    /// node-eu has region=eu, node-us has region=us, node-none has no region label.
    static let nodes: [NodeStatus] = [
        .fixture(id: "node-eu", labels: ["region": "eu"]),
        .fixture(id: "node-none", labels: ["tier": "edge"]),
        .fixture(id: "node-us", labels: ["region": "us"]),
    ]

    static let cases: [ConstraintCase] = [
        .init(constraint: .init(key: "region", operator: .equals, values: ["eu"]), eligible: ["node-eu"]),
        .init(constraint: .init(key: "region", operator: .notEquals, values: ["eu"]), eligible: ["node-none", "node-us"]),
        .init(constraint: .init(key: "region", operator: .in, values: ["eu", "us"]), eligible: ["node-eu", "node-us"]),
        .init(constraint: .init(key: "region", operator: .notIn, values: ["eu"]), eligible: ["node-none", "node-us"]),
        .init(constraint: .init(key: "region", operator: .exists), eligible: ["node-eu", "node-us"]),
        .init(constraint: .init(key: "region", operator: .doesNotExist), eligible: ["node-none"]),
    ]

    @Test(arguments: cases)
    func operatorSelectsTheRightNodes(_ testCase: ConstraintCase) {
        let result = plan(.fixture(type: .ops, constraints: [testCase.constraint]), on: Self.nodes)
        #expect(result.placements.map(\.nodeID) == testCase.eligible)
        for node in Self.nodes where !testCase.eligible.contains(node.info.id) {
            let actual = node.info.labels["region"]
            #expect(result.rejections[node.info.id] == [.constraintMismatch(testCase.constraint, actual: actual)])
        }
        #expect(Set(result.rejections.keys).isDisjoint(with: testCase.eligible))
    }

    @Test func everyConstraintMustMatch() {
        let region = LabelConstraint(key: "region", operator: .equals, values: ["eu"])
        let tier = LabelConstraint(key: "tier", operator: .in, values: ["gpu"])
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", labels: ["region": "eu", "tier": "gpu"]),
            .fixture(id: "node-b", labels: ["region": "eu", "tier": "cpu"]),
            .fixture(id: "node-c", labels: ["region": "us"]),
        ]
        let result = plan(.fixture(type: .ops, constraints: [region, tier]), on: nodes)
        #expect(result.placements.map(\.nodeID) == ["node-a"])
        #expect(result.rejections["node-b"] == [.constraintMismatch(tier, actual: "cpu")])
        #expect(
            result.rejections["node-c"] == [
                .constraintMismatch(region, actual: "us"), .constraintMismatch(tier, actual: nil),
            ])
    }
}

@Suite("Resources")
struct ResourceTests {
    @Test func tooBigForEveryNodeLeavesAllPartitionsUnplacedWithReasons() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", cpu: 2000, memory: 4 * FixtureDefaults.gibibyte),
            .fixture(id: "node-b", cpu: 4000, memory: 2 * FixtureDefaults.gibibyte, allocated: .init(cpuMillis: 500, memoryBytes: 0)),
        ]
        let spec = JobSpec.fixture(count: 3, cpu: 3000, memory: 3 * FixtureDefaults.gibibyte)
        let result = plan(spec, on: nodes)
        #expect(result.placements.isEmpty)
        #expect(result.unplacedPartitions == [0, 1, 2])
        #expect(!result.isComplete)
        #expect(
            result.rejections == [
                "node-a": [.insufficientResources(requested: spec.resources, free: .init(cpuMillis: 2000, memoryBytes: 4 * FixtureDefaults.gibibyte))],
                "node-b": [.insufficientResources(requested: spec.resources, free: .init(cpuMillis: 3500, memoryBytes: 2 * FixtureDefaults.gibibyte))],
            ])
        #expect(result.explain() == [
            "node-a: insufficient resources: requested cpu=3000m memory=3Gi, free cpu=2000m memory=4Gi",
            "node-b: insufficient resources: requested cpu=3000m memory=3Gi, free cpu=3500m memory=2Gi",
        ])
    }

    @Test func allocationWithinOnePlanCounts() {
        // Each execution needs 60% of a node: they must not stack.
        let nodes: [NodeStatus] = ["node-a", "node-b", "node-c"].map { .fixture(id: $0, cpu: 1000) }
        let spec = JobSpec.fixture(count: 3, cpu: 600, memory: 0)
        let result = plan(spec, on: nodes)
        #expect(counts(result) == ["node-a": 1, "node-b": 1, "node-c": 1])
        #expect(result.isComplete)
        // Every node is now full for this job, and says so with what is left.
        for node in nodes {
            #expect(
                result.rejections[node.info.id] == [
                    .insufficientResources(requested: spec.resources, free: .init(cpuMillis: 400, memoryBytes: 8 * FixtureDefaults.gibibyte))
                ])
        }
    }

    @Test func plannedAllocationLeavesTheRestUnplaced() {
        let nodes: [NodeStatus] = ["node-a", "node-b"].map { .fixture(id: $0, cpu: 1000) }
        let result = plan(.fixture(count: 3, cpu: 600), on: nodes)
        #expect(counts(result) == ["node-a": 1, "node-b": 1])
        #expect(result.unplacedPartitions == [2])
        #expect(!result.isComplete)
        #expect(result.rejections.keys.sorted() == ["node-a", "node-b"])
    }

    @Test func memoryCountsAsMuchAsCPU() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", cpu: 8000, memory: 1 * FixtureDefaults.gibibyte),
            .fixture(id: "node-b", cpu: 8000, memory: 4 * FixtureDefaults.gibibyte),
        ]
        let result = plan(.fixture(count: 2, cpu: 100, memory: 768 * FixtureDefaults.mebibyte), on: nodes)
        #expect(result.placements.map(\.nodeID) == ["node-b", "node-b"])
        #expect(result.rejections["node-a"] == nil)
    }
}

@Suite("Spreading")
struct SpreadTests {
    @Test func sixOnThreeEqualNodesIsTwoEach() {
        let nodes: [NodeStatus] = ["node-c", "node-a", "node-b"].map { .fixture(id: $0) }
        let result = plan(.fixture(count: 6, cpu: 500), on: nodes)
        #expect(counts(result) == ["node-a": 2, "node-b": 2, "node-c": 2])
        #expect(result.placements.map(\.partition) == Array(0..<6))
        #expect(result.placements.allSatisfy { $0.attempt == 1 })
        #expect(result.rejections.isEmpty)
    }

    @Test func threeOnThreeEqualNodesIsOneEach() {
        let nodes: [NodeStatus] = ["node-a", "node-b", "node-c"].map { .fixture(id: $0) }
        let result = plan(.fixture(count: 3), on: nodes)
        #expect(counts(result) == ["node-a": 1, "node-b": 1, "node-c": 1])
    }

    @Test func loadedNodeReceivesFewer() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", cpu: 4000, allocated: .init(cpuMillis: 2000, memoryBytes: 0), activeExecutions: 2),
            .fixture(id: "node-b", cpu: 4000),
            .fixture(id: "node-c", cpu: 4000),
        ]
        let result = plan(.fixture(count: 5, cpu: 1000, memory: 0), on: nodes)
        let perNode = counts(result)
        #expect(perNode["node-a", default: 0] < perNode["node-b", default: 0])
        #expect(perNode == ["node-a": 1, "node-b": 2, "node-c": 2])
        // The first placements avoid the loaded node entirely.
        #expect(result.placements.prefix(4).allSatisfy { $0.nodeID != "node-a" })
    }

    @Test func equalUtilisationPrefersFewerActiveExecutions() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", activeExecutions: 3),
            .fixture(id: "node-b", activeExecutions: 1),
        ]
        // Zero-resource executions leave utilisation equal, so the active count decides.
        let result = plan(.fixture(count: 3, cpu: 0, memory: 0), on: nodes)
        #expect(result.placements.map(\.nodeID) == ["node-b", "node-b", "node-a"])
    }

    @Test func inputOrderDoesNotMatter() {
        var random = SeededRandom(seed: 7)
        let nodes: [NodeStatus] = (0..<6).map { .fixture(id: NodeID("node-\($0)"), cpu: 1000 * ($0 % 3 + 1)) }
        let spec = JobSpec.fixture(count: 9, cpu: 700)
        let reference = plan(spec, on: nodes)
        for _ in 0..<10 {
            #expect(plan(spec, on: nodes.shuffled(using: &random)) == reference)
        }
    }
}

@Suite("Feasibility")
struct FeasibilityTests {
    @Test func engineMustBeSupported() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", engines: [.wasm]),
            .fixture(id: "node-b", engines: [.wasm, .process]),
        ]
        let result = plan(.fixture(count: 2, engine: .process), on: nodes)
        #expect(result.placements.map(\.nodeID) == ["node-b", "node-b"])
        #expect(result.rejections == ["node-a": [.engineUnsupported(.process)]])
    }

    @Test func disconnectedNodesAreRejected() {
        let nodes: [NodeStatus] = [
            .fixture(id: "node-a", datasets: ["patients"], liveness: .disconnected),
            .fixture(id: "node-b", datasets: ["patients"]),
        ]
        let result = plan(.fixture(count: 2, datasets: ["patients"]), on: nodes)
        #expect(result.placements.map(\.nodeID) == ["node-b", "node-b"])
        #expect(result.rejections == ["node-a": [.notConnected(.disconnected)]])

        let allDown = plan(.fixture(datasets: ["patients"]), on: [nodes[0]])
        #expect(allDown.unplacedPartitions == [0])
        #expect(allDown.explain() == ["node-a: node is disconnected"])
    }

    /// A suspect node was explained as "disconnected" although its link was still open.
    @Test func aNodeThatIsNotConnectedIsExplainedByItsLiveness() {
        for (liveness, text) in [
            (NodeLiveness.suspect, "node-a: node is suspect (it missed heartbeats; no new work until it answers)"),
            (.disconnected, "node-a: node is disconnected"),
            (.lost, "node-a: node is lost (away longer than the orchestrator's --node-lost-after)"),
        ] {
            let result = plan(.fixture(datasets: ["patients"]), on: [.fixture(id: "node-a", datasets: ["patients"], liveness: liveness)])
            #expect(result.rejections == ["node-a": [.notConnected(liveness)]])
            #expect(result.explain() == [text])
        }
    }

    @Test func everyReasonIsCollectedInOrder() {
        let constraint = LabelConstraint(key: "region", operator: .equals, values: ["eu"])
        let node = NodeStatus.fixture(
            id: "node-x", labels: ["region": "us"], cpu: 100, engines: [.process], liveness: .disconnected)
        let spec = JobSpec.fixture(datasets: ["patients", "visits"], constraints: [constraint], cpu: 200)
        let result = plan(spec, on: [node])
        #expect(
            result.rejections["node-x"] == [
                .notConnected(.disconnected), .missingDataset("patients"), .missingDataset("visits"),
                .constraintMismatch(constraint, actual: "us"), .engineUnsupported(.wasm),
                .insufficientResources(requested: spec.resources, free: node.free),
            ])
        #expect(
            result.explain() == [
                "node-x: node is disconnected; dataset \"patients\" not present; dataset \"visits\" not present; "
                    + "constraint \"region = eu\" not met (label region is \"us\"); engine wasm not supported; "
                    + "insufficient resources: requested cpu=200m memory=64Mi, free cpu=100m memory=8Gi"
            ])
    }

    @Test func emptyClusterLeavesEverythingUnplaced() {
        let result = plan(.fixture(count: 2), on: [])
        #expect(result.placements.isEmpty)
        #expect(result.unplacedPartitions == [0, 1])
        #expect(result.rejections.isEmpty)
        #expect(!result.isComplete)
    }

    @Test func duplicateNodeIDsCountOnce() {
        let node = NodeStatus.fixture(id: "node-a", cpu: 1000)
        let result = plan(.fixture(count: 2, cpu: 600), on: [node, node])
        #expect(result.placements.count == 1)
        #expect(result.unplacedPartitions == [1])
    }
}

@Suite("Ops jobs")
struct OpsJobTests {
    static let nodes: [NodeStatus] = [
        .fixture(id: "node-d", labels: ["role": "db"]),
        .fixture(id: "node-a", labels: ["role": "db"]),
        .fixture(id: "node-c", labels: ["role": "web"]),
        .fixture(id: "node-b", labels: ["role": "db"], liveness: .disconnected),
    ]
    static let spec = JobSpec.fixture(
        type: .ops, count: 1, constraints: [.init(key: "role", operator: .equals, values: ["db"])])

    @Test func oneExecutionPerEligibleNodeInNodeOrder() {
        let result = plan(Self.spec, on: Self.nodes)
        #expect(
            result.placements == [
                Placement(partition: 0, attempt: 1, nodeID: "node-a"),
                Placement(partition: 1, attempt: 1, nodeID: "node-d"),
            ])
        #expect(result.unplacedPartitions.isEmpty)
        #expect(result.isComplete)
        #expect(result.rejections.keys.sorted() == ["node-b", "node-c"])
        #expect(result.rejections["node-b"] == [.notConnected(.disconnected)])
    }

    @Test func replanDoesNotPlaceTwiceAndContinuesPartitionNumbers() {
        let first = plan(Self.spec, on: Self.nodes)
        var existing = first.executions(createdAt: now)
        // A finished (even failed) execution still counts: ops jobs are not retried in this version.
        existing[0] = .fixture(job: "job-1", partition: 0, node: "node-a", state: .failed)

        let again = plan(Self.spec, on: Self.nodes, existing: existing)
        #expect(again.placements.isEmpty)
        #expect(again.isComplete)
        #expect(again.rejections["node-a"] == [.alreadyRunsJob])
        #expect(again.rejections["node-d"] == [.alreadyRunsJob])
        #expect(again.explain().first == "node-a: already has an execution of this job")

        let grown = Self.nodes + [.fixture(id: "node-e", labels: ["role": "db"])]
        let third = plan(Self.spec, on: grown, existing: existing)
        #expect(third.placements == [Placement(partition: 2, attempt: 1, nodeID: "node-e")])
    }

    @Test func zeroEligibleNodesQueuesWithReasonsForEveryNode() {
        let spec = JobSpec.fixture(type: .ops, constraints: [.init(key: "role", operator: .equals, values: ["cache"])])
        let result = plan(spec, on: Self.nodes)
        #expect(result.placements.isEmpty)
        #expect(result.unplacedPartitions.isEmpty)
        #expect(!result.isComplete)
        #expect(Set(result.rejections.keys) == Set(Self.nodes.map(\.info.id)))
        #expect(result.explain().count == Self.nodes.count)
        #expect(result.rejections.values.allSatisfy { !$0.isEmpty })
    }

    @Test func opsJobIgnoresCount() {
        let nodes: [NodeStatus] = ["node-a", "node-b", "node-c"].map { .fixture(id: $0) }
        let result = plan(.fixture(type: .ops, count: 1), on: nodes)
        #expect(result.placements.count == 3)
    }
}

@Suite("Re-planning")
struct ReplanTests {
    @Test func onlyPartitionsWithoutAnyExecutionArePlaced() {
        let nodes: [NodeStatus] = ["node-a", "node-b"].map { .fixture(id: $0) }
        let existing: [Execution] = [
            .fixture(job: "job-1", partition: 0, node: "node-a", state: .running),
            .fixture(job: "job-1", partition: 2, node: "node-b", state: .succeeded),
            // Failed, lost and cancelled partitions are not re-placed in this version.
            .fixture(job: "job-1", partition: 3, node: "node-a", state: .failed),
            .fixture(job: "job-1", partition: 4, node: "node-b", state: .lost),
            .fixture(job: "job-1", partition: 5, node: "node-b", state: .cancelled),
            .fixture(job: "job-1", partition: 6, node: "node-b", state: .pending),
            // Another job's executions are ignored.
            .fixture(job: "job-2", partition: 1, node: "node-b", state: .running),
        ]
        let result = plan(.fixture(count: 8), on: nodes, existing: existing)
        #expect(result.placements.map(\.partition) == [1, 7])
        #expect(result.placements.allSatisfy { $0.attempt == 1 })
        #expect(result.existingExecutionCount == 6)
        #expect(result.isComplete)
    }

    @Test func fullyPlacedJobPlansNothing() {
        let nodes: [NodeStatus] = [.fixture(id: "node-a")]
        let existing: [Execution] = (0..<3).map { .fixture(job: "job-1", partition: $0, node: "node-a") }
        let result = plan(.fixture(count: 3), on: nodes, existing: existing)
        #expect(result.placements.isEmpty)
        #expect(result.unplacedPartitions.isEmpty)
        #expect(result.isComplete)
    }

    @Test func queuedJobIsPlacedWhenANodeAppears() {
        let spec = JobSpec.fixture(count: 2, datasets: ["patients"])
        let first = plan(spec, on: [.fixture(id: "node-a")])
        #expect(first.unplacedPartitions == [0, 1])
        #expect(first.explain() == ["node-a: dataset \"patients\" not present"])

        let second = plan(spec, on: [.fixture(id: "node-a"), .fixture(id: "node-b", datasets: ["patients"])])
        #expect(second.placements.map(\.nodeID) == ["node-b", "node-b"])
        #expect(second.isComplete)
    }

    @Test func planExecutionsArePendingWithDerivedIDs() {
        let result = plan(.fixture(count: 2), on: [.fixture(id: "node-a")], id: "job-9")
        let executions = result.executions(createdAt: now)
        #expect(executions.map(\.id.rawValue) == ["job-9-p0-a1", "job-9-p1-a1"])
        #expect(executions.allSatisfy { $0.state == .pending && $0.nodeID == "node-a" && $0.createdAt == now })
        #expect(result.placements[0].executionID(job: "job-9") == executions[0].id)
    }
}

/// Capacities and allocations are whatever nodes claimed: the scheduler must never trap on them.
@Suite("Extreme values")
struct ExtremeValueTests {
    @Test func hostileCapacitiesAndAllocationsNeitherTrapNorAttractWork() {
        let nodes: [NodeStatus] = [
            // A node that held an allocation and then claimed cpu = -2^63 (issue 5, item 3).
            .fixture(
                id: "node-a", cpu: .min, memory: .min, allocated: Resources(cpuMillis: 100, memoryBytes: 64 << 20), activeExecutions: 1),
            .fixture(
                id: "node-b", cpu: .max, memory: .max, allocated: Resources(cpuMillis: .min, memoryBytes: .min),
                activeExecutions: .max),
            .fixture(id: "node-c", cpu: .min, memory: .max, allocated: Resources(cpuMillis: .max, memoryBytes: .max)),
            .fixture(id: "node-d"),
        ]
        for request in [Resources(cpuMillis: 100, memoryBytes: 64 << 20), Resources(cpuMillis: .max, memoryBytes: .max)] {
            let batch = plan(.fixture(count: 4, cpu: request.cpuMillis, memory: request.memoryBytes), on: nodes)
            #expect(!batch.placements.contains { $0.nodeID == "node-a" || $0.nodeID == "node-c" })
            let ops = plan(.fixture(type: .ops, cpu: request.cpuMillis, memory: request.memoryBytes), on: nodes)
            #expect(!ops.placements.contains { $0.nodeID == "node-a" || $0.nodeID == "node-c" })
            // The rejection text formats the saturated free resources without trapping either.
            #expect(!(batch.rejections["node-a"]?.map(\.description).joined().isEmpty ?? true))
        }
        let ordinary = plan(.fixture(count: 2), on: nodes)
        #expect(ordinary.isComplete)
        #expect(Set(ordinary.placements.map(\.nodeID)).isSubset(of: ["node-b", "node-d"]))
    }
}
