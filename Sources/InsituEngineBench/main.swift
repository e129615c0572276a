import Foundation
import InsituExecutor
import InsituLocalCluster
import InsituModel
import InsituWasm
import InsituWasmtime
import WAT

// The engines on one data scan: the demo's count per condition over a synthetic patients CSV
// (2,000,000 rows, about 71 MB by default), run as native C, on wasmtime and on WasmKit, each
// checked against the counts the generator wrote. Build with `-c release` and run through
// scripts/bench-engines.sh, which builds the native binary and prints the ratios.
//
//   insitu-engine-bench --data DIR [--rows N] [--runs N] [--native PATH]
//
// `--native` names the C program built with INPUT_PATH=DIR/patients.csv; the wasm module is the
// committed examples/count-conditions/count_conditions.wasm (`--module` overrides it).
//
// Then how long each wasm runtime takes to stop a guest that spins forever: from the moment its
// run is cancelled (what `job stop` does) or its 300 ms timeout passes, to the run returning.

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
guard let dataDirectory = option("--data") else {
    FileHandle.standardError.write(Data("usage: insitu-engine-bench --data DIR [--rows N] [--runs N] [--native PATH] [--module PATH]\n".utf8))
    exit(2)
}
let rows = option("--rows").flatMap(Int.init) ?? 2_000_000
let runs = max(1, option("--runs").flatMap(Int.init) ?? 3)
let module =
    option("--module")
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("examples/count-conditions/count_conditions.wasm").path

struct Report: Decodable, Equatable {
    var rows: Int
    var counts: [String: Int]
}

// The same data every time for a given size: the generator is seeded.
let expected = try SyntheticPatients(site: "bench", rows: rows, seed: 42).write(to: dataDirectory)
let expectedReport = Report(rows: rows, counts: expected)
let csvBytes = (try FileManager.default.attributesOfItem(atPath: dataDirectory + "/patients.csv")[.size] as? Int) ?? 0

func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) / 1e18
}

func check(_ stdout: [UInt8], _ what: String) {
    guard let report = try? JSONDecoder().decode(Report.self, from: Data(stdout)), report == expectedReport else {
        FileHandle.standardError.write(Data("\(what) printed \(String(decoding: stdout.prefix(300), as: UTF8.self)), not the generated counts\n".utf8))
        exit(1)
    }
}

/// The median of `runs` timed runs of `body`, which returns what the scan printed.
func median(_ what: String, _ body: () async throws -> [UInt8]) async throws -> Double {
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = ContinuousClock.now
        let stdout = try await body()
        samples.append(seconds(ContinuousClock.now - start))
        check(stdout, what)
    }
    samples.sort()
    return samples[samples.count / 2]
}

print("rows \(rows) csv_bytes \(csvBytes) runs \(runs)")

if let native = option("--native") {
    let time = try await median("native") {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: native)
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(output)
    }
    print(String(format: "scan_native_s %.4f", time))
}

let workRoot = dataDirectory + "/work"
try FileManager.default.createDirectory(atPath: workRoot + "/outputs", withIntermediateDirectories: true)
let digest = ContentDigest(rawValue: String(repeating: "0", count: 64))!
let request = ExecutionRequest(
    executionID: ExecutionID(job: "bench", partition: 0, attempt: 1),
    engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest), memoryLimitBytes: 256 << 20)),
    modulePath: module,
    mounts: [
        Mount(hostPath: dataDirectory, guestPath: "/data", readOnly: true),
        Mount(hostPath: workRoot + "/outputs", guestPath: "/outputs", readOnly: false),
    ],
    workDirectory: workRoot, timeout: .seconds(600))

func runWasm(_ executor: any Executor, _ what: String) async throws -> Double {
    // The first run compiles (wasmtime) or parses (WasmKit) the module and fills the page cache;
    // the timed runs find it cached, as a node does from its second job with a module on.
    let warm = try await executor.run(request) { _, _ in }
    check(warm.stdout, what)
    return try await median(what) {
        let outcome = try await executor.run(request) { _, _ in }
        guard outcome.status == .succeeded else {
            FileHandle.standardError.write(Data("\(what): \(outcome.status) \(outcome.reason ?? "")\n".utf8))
            exit(1)
        }
        return outcome.stdout
    }
}

if let library = WasmtimeLibrary.configuredPath(config: nil, environment: ProcessInfo.processInfo.environment) {
    let executor = try WasmtimeExecutor(library: try WasmtimeLibrary.load(path: library))
    print(String(format: "scan_wasmtime_s %.4f", try await runWasm(executor, "wasmtime")))
} else {
    print("scan_wasmtime_s skipped (set \(WasmtimeLibrary.environmentVariable) to wasmtime's _libwasmtime.so)")
}
print(String(format: "scan_wasmkit_s %.4f", try await runWasm(WasmExecutor(isolation: .inProcess), "WasmKit")))

// MARK: Stopping a guest

let spinPath = workRoot + "/spin.wasm"
try Data(try wat2wasm("(module (memory (export \"memory\") 1) (func (export \"_start\") (loop $l (br $l))))"))
    .write(to: URL(fileURLWithPath: spinPath))
func spinRequest(timeout: Duration?) -> ExecutionRequest {
    ExecutionRequest(
        executionID: ExecutionID(job: "spin", partition: 0, attempt: 1),
        engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest), memoryLimitBytes: 16 << 20)),
        modulePath: spinPath, workDirectory: workRoot, timeout: timeout)
}

/// Milliseconds from the stop (cancellation after the guest has run for 200 ms, or the 300 ms
/// timeout) to the run's return, median of `runs`.
func stopLatency(_ executor: any Executor, byTimeout: Bool) async throws -> Double {
    var samples: [Double] = []
    for _ in 0..<runs {
        let timeout = Duration.milliseconds(300)
        let started = ContinuousClock.now
        let task = Task { try await executor.run(spinRequest(timeout: byTimeout ? timeout : nil)) { _, _ in } }
        var stoppedAt = started + timeout
        if !byTimeout {
            try await Task.sleep(for: .milliseconds(200))
            stoppedAt = ContinuousClock.now
            task.cancel()
        }
        let outcome = try await task.value
        let expected: ExecutionOutcome.Status = byTimeout ? .timedOut : .cancelled
        guard outcome.status == expected else {
            FileHandle.standardError.write(Data("stopping a spinning guest gave \(outcome.status), not \(expected)\n".utf8))
            exit(1)
        }
        samples.append(seconds(ContinuousClock.now - stoppedAt) * 1000)
    }
    samples.sort()
    return samples[samples.count / 2]
}

var stoppers: [(String, any Executor)] = []
if let library = WasmtimeLibrary.configuredPath(config: nil, environment: ProcessInfo.processInfo.environment) {
    stoppers.append(("wasmtime", try WasmtimeExecutor(library: try WasmtimeLibrary.load(path: library))))
}
let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    .appendingPathComponent("insitu-wasm-runner").path
if FileManager.default.isExecutableFile(atPath: runner) {
    stoppers.append(("wasmkit_process", WasmExecutor(isolation: .childProcess(runnerPath: runner))))
}
for (name, executor) in stoppers {
    print(String(format: "stop_cancel_\(name)_ms %.1f", try await stopLatency(executor, byTimeout: false)))
    print(String(format: "stop_timeout_\(name)_ms %.1f", try await stopLatency(executor, byTimeout: true)))
}
