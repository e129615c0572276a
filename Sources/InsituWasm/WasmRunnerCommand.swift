#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
import InsituExecutor
import InsituProcess
import WasmKit

/// What `insitu-wasm-runner` reads: the run, and where to write its result.
public struct WasmRunnerRequest: Codable, Hashable, Sendable {
    public var spec: WasmRunSpec
    /// The runner writes one JSON line (a ``WasmRunResult``) here when the run ends.
    public var resultPath: String
    /// The process that started the runner: when the runner's parent is no longer this process
    /// (the agent died and the runner was re-parented), the runner exits.
    public var parentPID: Int32?
    /// The run's wall-clock limit. The parent kills the runner when it passes; the runner also
    /// ends itself shortly after, in case the parent cannot.
    public var timeoutMillis: Int64?

    public init(spec: WasmRunSpec, resultPath: String, parentPID: Int32? = nil, timeoutMillis: Int64? = nil) {
        self.spec = spec
        self.resultPath = resultPath
        self.parentPID = parentPID
        self.timeoutMillis = timeoutMillis
    }
}

/// The body of `insitu-wasm-runner`:
///
///     insitu-wasm-runner [REQUEST.json]      (the request is read from stdin without an argument)
///
/// Runs the module in this process with the same code as in-process isolation; the guest's stdout
/// and stderr are this process's stdout and stderr. Writes the result to `resultPath` and exits 0;
/// exits 2 with a message on stderr when the request itself is unusable. Timeouts are first the
/// parent's job (it kills this process group); a watchdog thread also ends the runner when its
/// parent is gone (exit 3) or ``watchdogGrace`` after its own deadline (result `timedOut`), so a
/// runner never outlives a `kill -9` of its agent by more than a watchdog tick.
public enum WasmRunnerCommand {
    /// How long after its timeout the runner ends itself, leaving the parent's kill to come first.
    static let watchdogGrace = Duration.seconds(1)
    static let watchdogTick: UInt32 = 50_000  // microseconds

    public static func main(arguments: [String]) -> Int32 {
        let requestBytes: [UInt8]
        do {
            if arguments.count > 1 {
                requestBytes = try readFile(arguments[1])
            } else {
                requestBytes = try readFile("/dev/stdin")
            }
        } catch {
            return fail("insitu-wasm-runner: \(error)")
        }
        let request: WasmRunnerRequest
        do {
            request = try JSONDecoder().decode(WasmRunnerRequest.self, from: Data(requestBytes))
        } catch {
            return fail("insitu-wasm-runner: the request is not valid JSON for a run: \(error)")
        }

        startWatchdog(request)

        let result: WasmRunResult
        do {
            let module = try parse(try readFile(request.spec.modulePath), path: request.spec.modulePath)
            let engine = Engine(configuration: EngineConfiguration(fuelMetering: request.spec.fuel != nil))
            result = WasmModuleRunner.run(request.spec, module: module, engine: engine, stdin: 0, stdout: 1, stderr: 2)
        } catch {
            result = WasmRunResult(status: .failed, reason: error.description)
        }
        do {
            var line = Array(try JSONEncoder().encode(result))
            line.append(UInt8(ascii: "\n"))
            try writeFile(request.resultPath, line)
        } catch {
            return fail("insitu-wasm-runner: could not write the result to \(request.resultPath): \(error)")
        }
        return 0
    }

    /// A parent-death signal (`PR_SET_PDEATHSIG`) is not used: it fires when the *thread* that
    /// spawned the runner ends, and the agent spawns from Swift's pool threads, which come and go.
    /// Polling `getppid` reacts to the process's death only.
    private static func startWatchdog(_ request: WasmRunnerRequest) {
        guard request.parentPID != nil || request.timeoutMillis != nil else { return }
        let started = ContinuousClock.now
        let deadline = request.timeoutMillis.map { started + .milliseconds($0) + watchdogGrace }
        DedicatedThread.start {
            while true {
                if let parent = request.parentPID, getppid() != parent { _exit(3) }
                if let deadline, ContinuousClock.now >= deadline {
                    let timeout = Duration.milliseconds(request.timeoutMillis ?? 0)
                    let result = WasmRunResult(status: .timedOut, reason: "exceeded its timeout of \(formatSeconds(timeout))")
                    if var line = try? Array(JSONEncoder().encode(result)) {
                        line.append(UInt8(ascii: "\n"))
                        try? writeFile(request.resultPath, line)
                    }
                    _exit(0)
                }
                usleep(watchdogTick)
            }
        }
    }

    private static func fail(_ message: String) -> Int32 {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        return 2
    }
}
