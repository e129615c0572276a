import InsituModel
import InsituScheduler

// Placements per second of the pure scheduler against a large synthetic cluster, for three
// workloads. Build with `-c release`; run through `scripts/bench.sh scheduler`, which prints the
// ratios against the target (20,000 dataset-pinned placements/s at 10,000 nodes).
//
// Options: --nodes N (10000), --runs N (5; the median is printed).

let arguments = CommandLine.arguments
func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else {
        return value
    }
    return parsed
}
let nodeCount = option("--nodes", default: 10_000)
let runs = max(1, option("--runs", default: 5))

let cluster = SyntheticCluster(nodeCount: nodeCount)
let scheduler = Scheduler()
let digest = ContentDigest(rawValue: String(repeating: "ab", count: 32))!
let now = Timestamp(milliseconds: 0)
/// What every benchmark job requests.
let resources = Resources(cpuMillis: 100, memoryBytes: 64 << 20)

func spec(type: JobType = .batch, count: Int = 1, datasets: [String] = [], constraints: [LabelConstraint] = []) -> JobSpec {
    JobSpec(
        name: "bench", type: type, count: count, constraints: constraints,
        inputs: datasets.map { InputSpec(source: .dataset(name: $0), target: "/data/\($0)") },
        engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest))),
        resources: resources)
}

/// One kind of job, planned `snapshotPlans` times per run against the snapshot API and
/// `indexPlans` times against the index (enough for a run to last well over a millisecond).
struct Workload {
    var name: String
    var snapshotPlans: Int
    var indexPlans: Int
    var job: (Int) -> Job
}

let workloads = [
    Workload(name: "pinned", snapshotPlans: 100, indexPlans: 20_000) { index in
        Job(
            id: JobID("pinned-\(index)"), spec: spec(datasets: [SyntheticCluster.datasetName(index % cluster.datasetCount)]),
            createdAt: now)
    },
    Workload(name: "batch100", snapshotPlans: 10, indexPlans: 500) { index in
        Job(id: JobID("batch-\(index)"), spec: spec(count: 100), createdAt: now)
    },
    Workload(name: "ops", snapshotPlans: 5, indexPlans: 5) { index in
        Job(
            id: JobID("ops-\(index)"), spec: spec(type: .ops, constraints: [.init(key: "region", operator: .equals, values: ["eu"])]),
            createdAt: now)
    },
]

func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) / 1e18
}

/// Placements per second of `plan` over one run of `workload`, median of `runs` runs; `reset`
/// runs between runs, outside the timing.
func measure(_ workload: Workload, plans: Int, plan: (Job) -> Int, reset: () -> Void = {}) -> (
    perSecond: Double, placementsPerRun: Int
) {
    var rates: [Double] = []
    var placements = 0
    for _ in 0..<runs {
        placements = 0
        let jobs = (0..<plans).map(workload.job)
        let start = ContinuousClock.now
        for job in jobs { placements += plan(job) }
        rates.append(Double(placements) / seconds(ContinuousClock.now - start))
        reset()
    }
    rates.sort()
    return (rates[rates.count / 2], placements)
}

func report(_ workload: Workload, api: String, _ result: (perSecond: Double, placementsPerRun: Int)) {
    print(
        "scheduler_\(workload.name)_\(api)_placements_per_s \(Int(result.perSecond + 0.5)) (\(result.placementsPerRun) placements per run)")
}

print("nodes \(nodeCount) datasets \(cluster.datasetCount) runs \(runs)")
for workload in workloads {
    // The snapshot is built once, outside the timing: the orchestrator also pays for rebuilding it
    // on every evaluation, so this figure flatters the snapshot API.
    let snapshot = measure(workload, plans: workload.snapshotPlans) { job in
        scheduler.plan(job: job, existing: [], nodes: cluster.nodes, now: now).placements.count
    }
    report(workload, api: "snapshot", snapshot)

    // The index is built once, as the control plane keeps it; each plan's placements are then
    // allocated on it (timed, the control plane does that too) and released between runs.
    var index = NodeIndex(cluster.nodes)
    var allocated: [NodeID] = []
    let indexed = measure(
        workload, plans: workload.indexPlans,
        plan: { job in
            let plan = scheduler.plan(job: job, existing: [], index: index, now: now)
            for placement in plan.placements {
                index.allocate(job.spec.resources, on: placement.nodeID)
                allocated.append(placement.nodeID)
            }
            return plan.placements.count
        },
        reset: {
            for id in allocated { index.release(resources, on: id) }
            allocated.removeAll()
        })
    report(workload, api: "index", indexed)
}
