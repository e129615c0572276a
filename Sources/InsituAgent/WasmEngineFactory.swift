import Foundation
import InsituExecutor
import InsituWasm

/// Builds the node's WebAssembly engine from its config (`engines.wasm.isolation`).
///
/// WasmKit 0.4.2 cannot interrupt a running guest from another thread, so only a child process
/// can be stopped at a wall-clock deadline or by `job stop`. Hence the default:
/// - `process` (default): every run in a fresh `insitu-wasm-runner` process, SIGKILLed on timeout
///   or cancellation. Costs a process start per run (milliseconds).
/// - `auto`: a child process when the job has a timeout, in-process otherwise.
/// - `in-process`: every run on a dedicated thread of the agent (tens of microseconds). A timeout
///   or stop is reported at once, but the guest keeps its thread until it ends or exhausts its
///   fuel budget: use only on nodes that run trusted, fuel-budgeted modules.
enum WasmEngineFactory {
    static func make(isolation: String) throws -> any Executor {
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
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        return directory.appendingPathComponent("insitu-wasm-runner").path
    }
}
