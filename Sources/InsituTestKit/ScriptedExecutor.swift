public import InsituExecutor
public import InsituModel
import Synchronization

/// An engine for tests: runs a closure instead of a job, and records every request it got.
/// Use it to script outcomes (success, failure, slowness, output) without a real sandbox.
public final class ScriptedExecutor: Executor {
    public typealias Script = @Sendable (ExecutionRequest, _ emit: (OutputStream, [UInt8]) -> Void) async throws -> ExecutionOutcome

    public let engine: EngineKind
    private let script: Script
    private let recorded = Mutex<[ExecutionRequest]>([])

    public init(engine: EngineKind = .wasm, script: @escaping Script) {
        self.engine = engine
        self.script = script
    }

    public var requests: [ExecutionRequest] { recorded.withLock { $0 } }

    public func run(_ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void) async throws
        -> ExecutionOutcome
    {
        recorded.withLock { $0.append(request) }
        return try await script(request) { stream, bytes in onOutput(stream, bytes) }
    }
}
