import Foundation
import InsituExecutor
import InsituWasm

/// Builds the node's WebAssembly engine from its config (`engines.wasm.isolation`).
enum WasmEngineFactory {
    /// `in-process` (and `auto`): guests run on dedicated threads of the agent, stopped by the
    /// fuel interrupt. `process`: each run in a killable `insitu-wasm-runner` child process,
    /// found beside the `insitu` executable.
    static func make(isolation: String) throws -> any Executor {
        switch isolation {
        case "process":
            let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            let runner = directory.appendingPathComponent("insitu-wasm-runner").path
            guard FileManager.default.isExecutableFile(atPath: runner) else {
                throw ExecutorError(
                    "engines.wasm.isolation is \"process\" but \(runner) does not exist: build the insitu-wasm-runner product or use in-process isolation")
            }
            return WasmExecutor(isolation: .childProcess(runnerPath: runner))
        default:
            return WasmExecutor(isolation: .inProcess)
        }
    }
}
