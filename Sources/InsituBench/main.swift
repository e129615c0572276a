import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import WAT

// Submit→result latency and throughput of trivial jobs on a local cluster of real processes (one
// orchestrator, one compute node, loopback). Build with `-c release`; run through scripts/bench.sh
// (which also prints the ratios against the targets) or scripts/bench-engines.sh (one engine
// after another).
//
//   --engine wasm|process|process-unsandboxed|container
//                                what the trivial job runs on (default wasm: an empty module;
//                                process: /bin/true in the bubblewrap sandbox, with a cgroup per
//                                run when root; process-unsandboxed: /bin/true without it;
//                                container: `true` in --container-image through the Docker Engine
//                                API at --container-socket, see scripts/bench-container.sh)
//   --runtime wasmtime|wasmkit   the node's wasm runtime (default: the node's default, auto)
//   --isolation MODE             WasmKit's isolation (default in-process)
//   --agent-config YAML          appended to the node's config (engine settings)
//   --jobs 0                     latency only
//
// `insitu-bench sql [--rows N] [--runs N]` measures the SQL engine instead (see SQLBench).

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
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
let isolation = option("--isolation") ?? "in-process"
let runtime = option("--runtime")
let engine = option("--engine") ?? "wasm"
guard ["wasm", "process", "process-unsandboxed", "container"].contains(engine) else {
    fatalError("--engine must be wasm, process, process-unsandboxed or container")
}
let containerSocket = option("--container-socket")
let containerImage = option("--container-image")
if engine == "container" && (containerSocket == nil || containerImage == nil) {
    fatalError("--engine container needs --container-socket PATH and --container-image IMAGE")
}

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
let cgroupParent = "insitu-bench-\(getpid())"
/// The agent leaves its (empty) cgroup parent behind; remove it (v1 hierarchies and v2).
func removeCGroupParent() {
    for mount in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
        rmdir("\(mount)/\(cgroupParent)")
    }
}
var agentConfig = option("--agent-config") ?? ""
if engine == "container", let containerSocket, let containerImage {
    agentConfig += "engines:\n  container:\n    socket: \(containerSocket)\n    allowed_images: [\"\(containerImage)\"]\n"
}
try cluster.startAgent(
    // The container engine's settings come as a whole `engines:` section in the extra config.
    name: "bench", processEngine: engine.hasPrefix("process"), wasmIsolation: engine == "container" ? nil : isolation,
    wasmRuntime: engine == "container" ? nil : runtime, cpu: "1000", memory: "1000Gi", extraConfig: agentConfig,
    processSettings: engine == "process-unsandboxed"
        ? ["sandbox": "none"] : ["cgroup_parent": getuid() == 0 ? cgroupParent : "none"])
try await cluster.waitForNodes(1)
let client = cluster.client

let spec: String
if engine == "wasm" {
    let trivial = try wat2wasm("(module (memory (export \"memory\") 1) (func (export \"_start\")))")
    let digest = try await client.uploadModule(Data(trivial)).digest
    spec = """
        version: v1
        name: trivial
        engine: {type: wasm, module: "sha256:\(digest.rawValue)"}
        resources: {cpu: 1m, memory: 1Mi}
        """
} else if engine == "container", let containerImage {
    spec = """
        version: v1
        name: trivial
        engine: {type: container, image: "\(containerImage)", command: ["true"]}
        resources: {cpu: 100m, memory: 16Mi}
        """
} else {
    spec = """
        version: v1
        name: trivial
        engine: {type: process, command: /bin/true}
        resources: {cpu: 1m, memory: 16Mi}
        """
}

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
for _ in 0..<option("--warmup", default: 20) { _ = try await runOne() }

var samples: [Double] = []
for _ in 0..<latencyJobs { samples.append(milliseconds(try await runOne())) }
samples.sort()
let median = samples[samples.count / 2]
let p99 = samples[min(samples.count - 1, Int(Double(samples.count) * 0.99))]

print(String(format: "latency_p50_ms %.3f", median))
print(String(format: "latency_p99_ms %.3f", p99))
print("engine \(engine) runtime \(runtime ?? "default") isolation \(isolation) latency_jobs \(latencyJobs)")
// `exit` would skip the `defer` that stops the cluster: no early exit below this point.
if throughputJobs > 0 {
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

    print(String(format: "throughput_jobs_per_s %.0f", throughput))
    print("throughput_jobs \(throughputJobs) concurrency \(concurrency)")
}
removeCGroupParent()
