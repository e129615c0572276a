import InsituExecutor
import InsituModel

// Temporary until InsituWasm lands: lets the rest of the agent compile.
enum WasmEngineFactory {
    static func make(isolation: String) -> any Executor { Unwired() }
    struct Unwired: Executor {
        var engine: EngineKind { .wasm }
        func run(_ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void) async throws -> ExecutionOutcome {
            throw ExecutorError("wasm engine not wired yet")
        }
    }
}
