import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import WAT

// Submit→result latency and throughput of trivial WebAssembly jobs on a local cluster of real
// processes (one orchestrator, one compute node, loopback). Build with `-c release`; run through
// scripts/bench.sh, which also prints the ratios against the targets. `insitu-bench sql` measures the
// SQL engine instead (see SQLBench).

let arguments = CommandLine.arguments
func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else {
        return value
    }
    return parsed
}
if arguments.dropFirst().first == "sql" {
    try await SQLBench.run(rows: option("--rows", default: 2_000_000), runs: option("--runs", default: 3))
    exit(0)
}
let latencyJobs = option("--latency-jobs", default: 300)
let throughputJobs = option("--jobs", default: 1000)
let concurrency = option("--concurrency", default: 64)
let isolation: String = {
    guard let index = arguments.firstIndex(of: "--isolation"), index + 1 < arguments.count else { return "in-process" }
    return arguments[index + 1]
}()

guard let executable = LocalCluster.locateExecutable() else {
    fatalError("insitu executable not found beside insitu-bench; build both with `swift build -c release`")
}
let root = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-bench-\(getpid())").path
let cluster = try LocalCluster(executable: executable, root: root)
defer {
    cluster.stopAll()
    try? FileManager.default.removeItem(atPath: root)
}
try await cluster.startOrchestrator(extraArguments: ["--log-level", "warning"])
try cluster.startAgent(name: "bench", wasmIsolation: isolation, cpu: "1000", memory: "1000Gi")
try await cluster.waitForNodes(1)
let client = cluster.client

let trivial = try wat2wasm("(module (memory (export \"memory\") 1) (func (export \"_start\")))")
let digest = try await client.uploadModule(Data(trivial)).digest
let spec = """
    version: v1
    name: trivial
    engine: {type: wasm, module: "sha256:\(digest.rawValue)"}
    resources: {cpu: 1m, memory: 1Mi}
    """

func runOne() async throws -> Duration {
    let start = ContinuousClock.now
    let submitted = try await client.submit(SubmitJobRequest(spec: spec))
    var summary = try await client.wait(submitted.jobID.rawValue)
    while !summary.state.isTerminal { summary = try await client.wait(submitted.jobID.rawValue) }
    guard summary.state == .completed else { fatalError("job \(summary.id) \(summary.state): \(summary.stateReason ?? "")") }
    return ContinuousClock.now - start
}

func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

// Warm-up: module fetch and cache on the node, connection pools, SQLite pages.
for _ in 0..<20 { _ = try await runOne() }

var samples: [Double] = []
for _ in 0..<latencyJobs { samples.append(milliseconds(try await runOne())) }
samples.sort()
let median = samples[samples.count / 2]
let p99 = samples[min(samples.count - 1, Int(Double(samples.count) * 0.99))]

let started = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    let perWorker = throughputJobs / concurrency
    let extra = throughputJobs % concurrency
    for worker in 0..<concurrency {
        let count = perWorker + (worker < extra ? 1 : 0)
        group.addTask { for _ in 0..<count { _ = try await runOne() } }
    }
    try await group.waitForAll()
}
let elapsed = milliseconds(ContinuousClock.now - started) / 1000
let throughput = Double(throughputJobs) / elapsed

print(String(format: "latency_p50_ms %.3f", median))
print(String(format: "latency_p99_ms %.3f", p99))
print(String(format: "throughput_jobs_per_s %.0f", throughput))
print("isolation \(isolation) latency_jobs \(latencyJobs) throughput_jobs \(throughputJobs) concurrency \(concurrency)")
