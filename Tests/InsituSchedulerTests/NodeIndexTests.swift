import InsituModel
import InsituScheduler
import InsituTestKit
import Testing

private let now = FixtureDefaults.epoch
private let scheduler = Scheduler()

private func info(
    _ id: NodeID, labels: Labels = [:], datasets: [String] = [], cpu: Int = 4000, engines: [EngineKind] = [.wasm]
) -> NodeInfo {
    NodeStatus.fixture(id: id, labels: labels, datasets: datasets, cpu: cpu, engines: engines).info
}

private func plan(_ spec: JobSpec, on index: NodeIndex, id: JobID = "job-1") -> Plan {
    scheduler.plan(job: .fixture(id: id, spec: spec), existing: [], index: index, now: now)
}

/// Every kind of update to a `NodeIndex` shows in the next plan, with no rebuild in between.
@Suite("Node index")
struct NodeIndexTests {
    @Test func allocationSteersAndReleaseRestores() {
        var index = NodeIndex()
        index.upsert(info("node-a", datasets: ["patients"]), liveness: .connected, at: now)
        index.upsert(info("node-b", datasets: ["patients"]), liveness: .connected, at: now)
        let spec = JobSpec.fixture(datasets: ["patients"], cpu: 1000, memory: 0)
        #expect(plan(spec, on: index).placements.map(\.nodeID) == ["node-a"])

        let allocated = index.allocate(Resources(cpuMillis: 2000, memoryBytes: 0), on: "node-a")
        #expect(allocated)
        #expect(index["node-a"]?.allocated == Resources(cpuMillis: 2000, memoryBytes: 0))
        #expect(index["node-a"]?.activeExecutions == 1)
        #expect(plan(spec, on: index).placements.map(\.nodeID) == ["node-b"])

        // Full: the node is examined and explained, not placed on.
        let allocated2 = index.allocate(Resources(cpuMillis: 2500, memoryBytes: 0), on: "node-a")
        #expect(allocated2)
        let full = plan(.fixture(count: 3, datasets: ["patients"], cpu: 1000, memory: 0), on: index)
        #expect(full.placements.map(\.nodeID) == ["node-b", "node-b", "node-b"])
        #expect(
            full.rejections["node-a"] == [
                .insufficientResources(
                    requested: .init(cpuMillis: 1000, memoryBytes: 0),
                    free: .init(cpuMillis: -500, memoryBytes: 8 * FixtureDefaults.gibibyte))
            ])

        let released = index.release(Resources(cpuMillis: 2500, memoryBytes: 0), on: "node-a")
        #expect(released)
        let released2 = index.release(Resources(cpuMillis: 2000, memoryBytes: 0), on: "node-a")
        #expect(released2)
        #expect(index["node-a"]?.allocated == .zero)
        #expect(index["node-a"]?.activeExecutions == 0)
        #expect(plan(spec, on: index).placements.map(\.nodeID) == ["node-a"])
    }

    @Test func livenessDecidesWhoGetsWork() {
        var index = NodeIndex()
        index.upsert(info("node-a", datasets: ["patients"]), liveness: .connected, at: now)
        index.upsert(info("node-b"), liveness: .connected, at: now)
        let spec = JobSpec.fixture(datasets: ["patients"])

        let known = index.setLiveness(.disconnected, of: "node-a", at: now + .seconds(5))
        #expect(known)
        #expect(index.connectedCount == 1)
        #expect(index["node-a"]?.lastSeen == now + .seconds(5))
        let down = plan(spec, on: index)
        #expect(down.unplacedPartitions == [0])
        #expect(down.rejections == ["node-a": [.notConnected(.disconnected)]])
        #expect(down.explain() == ["node-a: node is disconnected", "1 other node: dataset \"patients\" not present"])

        let known2 = index.setLiveness(.connected, of: "node-a", at: now + .seconds(9))
        #expect(known2)
        #expect(plan(spec, on: index).placements.map(\.nodeID) == ["node-a"])
        let known3 = index.setLiveness(.connected, of: "node-z", at: now)
        #expect(!known3)

        // Re-registering keeps the node's allocation and takes the liveness given.
        index.allocate(Resources(cpuMillis: 100, memoryBytes: 0), on: "node-a")
        let isNew = index.upsert(info("node-a", datasets: ["patients"]), liveness: .disconnected, at: now)
        #expect(!isNew)
        #expect(index["node-a"]?.allocated.cpuMillis == 100)
        #expect(index["node-a"]?.liveness == .disconnected)
    }

    @Test func removedNodeIsForgotten() {
        var index = NodeIndex()
        index.upsert(info("node-a", datasets: ["patients"]), liveness: .connected, at: now)
        index.upsert(info("node-b", datasets: ["patients"]), liveness: .connected, at: now)
        index.allocate(Resources(cpuMillis: 100, memoryBytes: 0), on: "node-a")

        let removed = index.remove("node-a")
        #expect(removed?.allocated.cpuMillis == 100)
        #expect(index.count == 1)
        #expect(index.holderCount(of: "patients") == 1)
        #expect(index["node-a"] == nil)
        let removed2 = index.remove("node-a")
        #expect(removed2 == nil)
        let allocated = index.allocate(.zero, on: "node-a")
        #expect(!allocated)
        let released = index.release(.zero, on: "node-a")
        #expect(!released)
        #expect(plan(.fixture(count: 2, datasets: ["patients"]), on: index).placements.map(\.nodeID) == ["node-b", "node-b"])

        // Coming back is a new node, with no allocation from its previous life.
        let isNew = index.upsert(info("node-a", datasets: ["patients"]), liveness: .connected, at: now)
        #expect(isNew)
        #expect(index["node-a"]?.allocated == .zero)
        #expect(index.statuses.map(\.info.id) == ["node-a", "node-b"])
    }

    @Test func changedDatasetsLabelsAndEnginesMovePostings() {
        var index = NodeIndex()
        index.upsert(
            info("node-a", labels: ["region": "eu"], datasets: ["patients"], engines: [.wasm]), liveness: .connected, at: now)
        let eu = LabelConstraint(key: "region", operator: .equals, values: ["eu"])
        let us = LabelConstraint(key: "region", operator: .equals, values: ["us"])
        #expect(plan(.fixture(datasets: ["patients"]), on: index).isComplete)
        #expect(plan(.fixture(constraints: [eu]), on: index).isComplete)

        index.upsert(
            info("node-a", labels: ["region": "us"], datasets: ["visits"], engines: [.process]), liveness: .connected, at: now)
        #expect(index.holderCount(of: "patients") == 0)
        #expect(index.holderCount(of: "visits") == 1)

        let patients = plan(.fixture(datasets: ["patients"]), on: index)
        #expect(!patients.isComplete)
        #expect(patients.examinedNodeCount == 0)
        #expect(patients.unlisted == RejectionTally(nodeCount: 1, reasons: [.missingDataset("patients"): 1]))
        #expect(plan(.fixture(datasets: ["visits"], engine: .process), on: index).isComplete)
        #expect(plan(.fixture(constraints: [us], engine: .process), on: index).isComplete)
        let wasEU = plan(.fixture(constraints: [eu], engine: .process), on: index)
        #expect(wasEU.unlisted.reasons == [.constraintMismatch(eu): 1])
        let wasm = plan(.fixture(datasets: ["visits"], engine: .wasm), on: index)
        #expect(wasm.rejections.isEmpty)
        #expect(wasm.unlisted.reasons == [.engineUnsupported(.wasm): 1])
    }

    /// Capacities and requests are untrusted: no update may trap, and no release may make a node
    /// look emptier than it is.
    @Test func allocationArithmeticSaturates() {
        var index = NodeIndex()
        index.upsert(info("node-a", cpu: .max), liveness: .connected, at: now)
        let huge = Resources(cpuMillis: .max, memoryBytes: .max)
        index.allocate(huge, on: "node-a")
        index.allocate(huge, on: "node-a")
        #expect(index["node-a"]?.allocated == huge)
        index.release(Resources(cpuMillis: .min, memoryBytes: .min), on: "node-a")
        #expect(index["node-a"]?.allocated == huge)
        index.release(huge, on: "node-a")
        index.release(huge, on: "node-a")
        index.release(huge, on: "node-a")
        #expect(index["node-a"]?.allocated == .zero)
        #expect(index["node-a"]?.activeExecutions == 0)

        let hostile = NodeStatus.fixture(id: "node-b", cpu: .min, memory: .min, activeExecutions: .max)
        var other = NodeIndex([hostile])
        other.allocate(huge, on: "node-b")
        #expect(other["node-b"]?.activeExecutions == .max)
        #expect(plan(.fixture(), on: other).placements.isEmpty)
    }

    /// Random updates applied to an index and to a plain dictionary: after every step the index
    /// holds exactly the dictionary's nodes, and plans against it equal plans against the
    /// dictionary as a snapshot.
    @Test(arguments: 0..<20)
    func randomUpdatesMatchARebuiltSnapshot(seed: Int) {
        var random = SeededRandom(seed: UInt64(seed) &+ 1000)
        func pick<T>(_ options: [T]) -> T { options.randomElement(using: &random)! }
        let ids: [NodeID] = (0..<12).map { NodeID("node-\($0)") }
        let datasets = ["patients", "visits", "weather"]
        var index = NodeIndex()
        var model: [NodeID: NodeStatus] = [:]
        var time = now

        for step in 0..<150 {
            time = time + .milliseconds(10)
            let id = pick(ids)
            switch Int.random(in: 0..<6, using: &random) {
            case 0, 1:
                let labels: Labels = Bool.random(using: &random) ? ["region": pick(["eu", "us"])] : [:]
                let node = info(
                    id, labels: labels, datasets: datasets.filter { _ in Bool.random(using: &random) },
                    cpu: pick([1000, 2000, 4000]), engines: pick([[.wasm], [.process], [.wasm, .process]]))
                let liveness: NodeLiveness = pick([.connected, .connected, .disconnected])
                index.upsert(node, liveness: liveness, at: time)
                var status = model[id] ?? NodeStatus(info: node, liveness: liveness, lastSeen: time)
                status.info = node
                status.liveness = liveness
                status.lastSeen = time
                model[id] = status
            case 2:
                let liveness: NodeLiveness = pick([.connected, .disconnected])
                let known = index.setLiveness(liveness, of: id, at: time)
                #expect(known == (model[id] != nil))
                model[id]?.liveness = liveness
                model[id]?.lastSeen = time
            case 3:
                let removed = index.remove(id)
                #expect(removed == model.removeValue(forKey: id))
            case 4:
                let request = Resources(cpuMillis: pick([100, 500]), memoryBytes: 0)
                let allocated = index.allocate(request, on: id)
                #expect(allocated == (model[id] != nil))
                model[id]?.allocated += request
                model[id]?.activeExecutions += 1
            default:
                let request = Resources(cpuMillis: 100, memoryBytes: 0)
                let released = index.release(request, on: id)
                #expect(released == (model[id] != nil))
                if let status = model[id] {
                    let left = status.allocated - request
                    model[id]?.allocated = Resources(cpuMillis: max(0, left.cpuMillis), memoryBytes: max(0, left.memoryBytes))
                    model[id]?.activeExecutions = max(0, status.activeExecutions - 1)
                }
            }

            let snapshot = model.values.sorted { $0.info.id < $1.info.id }
            #expect(index.statuses == snapshot, "seed \(seed) step \(step)")
            #expect(index.count == snapshot.count)
            #expect(index.connectedCount == snapshot.filter { $0.liveness == .connected }.count)
            let spec = JobSpec.fixture(
                count: 3, datasets: [pick(datasets)],
                constraints: Bool.random(using: &random) ? [.init(key: "region", operator: .equals, values: ["eu"])] : [],
                engine: pick([.wasm, .process]), cpu: 300, memory: 0)
            let job = Job.fixture(id: JobID("job-\(step)"), spec: spec)
            let indexed = scheduler.plan(job: job, existing: [], index: index, now: time)
            let rebuilt = scheduler.plan(job: job, existing: [], nodes: snapshot, now: time)
            #expect(indexed.placements == rebuilt.placements, "seed \(seed) step \(step)")
            #expect(indexed.unplacedPartitions == rebuilt.unplacedPartitions, "seed \(seed) step \(step)")
        }
    }
}
