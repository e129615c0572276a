import Foundation
import InsituOwnExecutable
import InsituExecutor
import InsituWasm
import InsituWasmtime

/// Builds the node's WebAssembly engine from its config (`engines.wasm`).
///
/// `runtime` picks the implementation:
/// - `wasmtime`: wasmtime's JIT through its C library (`wasmtime_library` or
///   `INSITU_WASMTIME_LIB`), in process. Timeouts and `job stop` interrupt the guest through
///   epoch interruption, so no process per run is needed and `isolation` does not apply. The
///   agent refuses to start when the library cannot be loaded.
/// - `wasmkit`: WasmKit's interpreter, built into the agent; `isolation` applies.
/// - `auto` (default): wasmtime when a library is configured and loads, WasmKit otherwise.
///
/// WasmKit 0.4.2 cannot interrupt a running guest from another thread, so only a child process
/// can be stopped at a wall-clock deadline or by `job stop`. Hence its isolation modes:
/// - `process` (default): every run in a fresh `insitu-wasm-runner` process, SIGKILLed on timeout
///   or cancellation. Costs a process start per run (milliseconds).
/// - `auto`: a child process when the job has a timeout, in-process otherwise.
/// - `in-process`: every run on a dedicated thread of the agent (tens of microseconds). A timeout
///   or stop is reported at once, but the guest keeps its thread until it ends or exhausts its
///   fuel budget: use only on nodes that run trusted, fuel-budgeted modules.
enum WasmEngineFactory {
    struct Choice {
        var executor: any Executor
        /// What the node advertises: `wasmtime` or `wasmkit`.
        var runtime: String
        /// Why `auto` did not pick wasmtime, when it was configured but would not load.
        var fallbackReason: String?
    }

    static func make(config: AgentConfig, environment: [String: String]) throws -> Choice {
        let libraryPath = WasmtimeLibrary.configuredPath(config: config.wasmtimeLibrary, environment: environment)
        switch config.wasmRuntime {
        case "wasmkit":
            return Choice(executor: try makeWasmKit(isolation: config.wasmIsolation), runtime: "wasmkit")
        case "wasmtime":
            guard let libraryPath else {
                throw ExecutorError(
                    "engines.wasm.runtime is wasmtime but no library is configured: set engines.wasm.wasmtime_library or \(WasmtimeLibrary.environmentVariable) to wasmtime's _libwasmtime.so (see the README), or choose runtime wasmkit"
                )
            }
            return Choice(executor: try makeWasmtime(libraryPath, config: config), runtime: "wasmtime")
        default:
            var reason: String?
            if let libraryPath {
                do {
                    return Choice(executor: try makeWasmtime(libraryPath, config: config), runtime: "wasmtime")
                } catch {
                    reason = "\(error)"
                }
            }
            return Choice(executor: try makeWasmKit(isolation: config.wasmIsolation), runtime: "wasmkit", fallbackReason: reason)
        }
    }

    static func makeWasmtime(_ libraryPath: String, config: AgentConfig) throws -> any Executor {
        let library = try WasmtimeLibrary.load(path: libraryPath)
        let cache = config.dataDirectory + "/modules/compiled"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        return try WasmtimeExecutor(library: library, cacheDirectory: cache)
    }

    static func makeWasmKit(isolation: String) throws -> any Executor {
        if isolation == "in-process" { return WasmExecutor(isolation: .inProcess) }
        let runner = runnerPath()
        guard FileManager.default.isExecutableFile(atPath: runner) else {
            throw ExecutorError(
                "engines.wasm.isolation is \"\(isolation)\", which needs \(runner): build the insitu-wasm-runner product (swift build) or set isolation to in-process")
        }
        return WasmExecutor(isolation: isolation == "auto" ? .automatic(runnerPath: runner) : .childProcess(runnerPath: runner))
    }

    /// The runner ships beside the `insitu` executable.
    static func runnerPath() -> String {
        OwnExecutable.sibling("insitu-wasm-runner")
    }
}
