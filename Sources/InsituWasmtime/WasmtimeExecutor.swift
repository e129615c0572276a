#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CWasmtimeShim
public import InsituExecutor
public import InsituModel
public import InsituProcess
public import InsituWasm

/// Runs WebAssembly modules with WASI preview 1 in wasmtime (Cranelift JIT), in this process
/// (engine `wasm`, runtime `wasmtime`).
///
/// What the guest gets is what ``WasmExecutor`` gives it: argv = module file name +
/// `request.args`; `request.env` and nothing inherited; each mount preopened at its guest path,
/// read-only mounts without any mutation right (wasmtime enforces it); stdin empty;
/// stdout/stderr streamed to `onOutput` and kept up to `outputLimit` each; no sockets.
///
/// Limits: linear memory through the store limiter (→ `.outOfMemory`, see
/// `WasmtimeModuleRunner.memoryNearLimit`), optional instruction budget `engine.wasm.fuel`
/// (→ `.timedOut`), and the request's timeout and task cancellation (→ `.timedOut` /
/// `.cancelled`), which really stop the guest: the engine runs with epoch interruption, and a
/// stop sets the run's flag and advances the engine's epoch, so the guest traps at its next loop
/// back-edge or function entry. No process per run is needed to honour a deadline.
///
/// A guest blocked inside a host call (a long `poll_oneoff` sleep) notices the stop only when
/// the call returns; if it has not stopped `abandonGrace` after the request, `run` returns
/// anyway, the rest of its output is dropped, and its thread ends when the call returns.
public struct WasmtimeExecutor: Executor {
    public let engine: EngineKind = .wasm
    public let library: WasmtimeLibrary
    public let outputLimit: Int
    private let engines: Engines

    /// How long a stopped guest may take to notice before `run` gives up waiting for it.
    public static let abandonGrace = Duration.seconds(1)

    /// `cacheDirectory`, when given, keeps compiled modules across restarts of the agent.
    public init(
        library: WasmtimeLibrary, moduleCacheCapacity: Int = 64, cacheDirectory: String? = nil,
        outputLimit: Int = OutputCollector.defaultLimit
    ) throws(ExecutorError) {
        self.library = library
        self.outputLimit = outputLimit
        self.engines = Engines(
            plain: try WasmtimeEngine(library: library, metered: false, capacity: moduleCacheCapacity, directory: cacheDirectory),
            metered: try WasmtimeEngine(library: library, metered: true, capacity: moduleCacheCapacity, directory: cacheDirectory))
    }

    /// Modules found compiled in memory (hits) and compiled or read from disk (parses), over
    /// both engines.
    public var moduleCacheStatistics: ModuleCacheStatistics {
        let (plain, metered) = (engines.plain.statistics, engines.metered.statistics)
        return ModuleCacheStatistics(hits: plain.hits + metered.hits, parses: plain.parses + metered.parses)
    }

    /// Modules compiled from WebAssembly (not found in memory or on disk), over both engines.
    public var compiledFromSource: Int { engines.plain.compiles + engines.metered.compiles }

    public func run(
        _ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ExecutionOutcome {
        let spec = try WasmExecutor.spec(for: request)
        let engine = spec.fuel != nil ? engines.metered : engines.plain
        // Compiling takes tens of milliseconds: not on the cooperative pool.
        let compiled = await DedicatedThread.run { () -> Result<ModuleReference, ExecutorError> in
            do throws(ExecutorError) { return .success(ModuleReference(pointer: try engine.module(atPath: spec.modulePath))) } catch {
                return .failure(error)
            }
        }
        let module = try compiled.get()
        if Task.isCancelled {
            engine.release(module.pointer)
            return ExecutionOutcome(status: .cancelled, reason: "cancelled")
        }
        let control: RunControl
        let out: (read: Int32, write: Int32)
        let err: (read: Int32, write: Int32)
        do {
            control = try RunControl(library: library)
            out = try makePipe()
            do { err = try makePipe() } catch {
                close(out.read)
                close(out.write)
                throw error
            }
        } catch {
            engine.release(module.pointer)
            throw error
        }
        let collector = OutputCollector(limit: outputLimit, onOutput: onOutput)
        let reader = PipeReader(pipes: [(out.read, .stdout), (err.read, .stderr)], into: collector)

        // `finished` gets the guest's result (or, after `abandonGrace`, the stop's); `stop` gets
        // the first of: the guest ended (0), the deadline, cancellation.
        let finished = OneShot<(result: WasmRunResult, fromGuest: Bool)>()
        let stop = OneShot<Int32>()
        DedicatedThread.start {
            let result = WasmtimeModuleRunner.run(
                spec, module: module.pointer, engine: engine, control: control, stdout: out.write, stderr: err.write)
            engine.release(module.pointer)
            close(out.write)
            close(err.write)
            finished.fulfill((result, true))
            stop.fulfill(Int32(INSITU_RUN_CONTINUE))
        }
        let deadline: Task<Void, Never>? = request.timeout.map { timeout in
            Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { stop.fulfill(Int32(INSITU_RUN_STOP_TIMEOUT)) }
            }
        }
        // Not a child of this task, so cancelling the run does not cancel the stopping.
        let stopper = Task.detached {
            let reason = await stop.wait()
            guard reason != Int32(INSITU_RUN_CONTINUE) else { return }
            control.requestStop(reason)
            // The first advance normally suffices; repeating it covers a stop that raced the
            // store's deadline being armed, and a guest inside a long host call.
            let clock = ContinuousClock()
            let giveUp = clock.now + Self.abandonGrace
            while finished.value == nil {
                engine.interruptAll()
                if clock.now >= giveUp {
                    finished.fulfill((Self.stoppedResult(reason, timeout: request.timeout, abandoned: true), false))
                    return
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let (guestResult, fromGuest) = await withTaskCancellationHandler {
            await finished.wait()
        } onCancel: {
            stop.fulfill(Int32(INSITU_RUN_STOP_CANCEL))
        }
        deadline?.cancel()
        await stopper.value
        var result = guestResult
        if fromGuest {
            await reader.wait()
            // The guest's own account of a stop says only "timeout"/"cancelled": say it fully.
            if result.outcomeStatus == .timedOut, result.reason == "timeout" {
                result = Self.stoppedResult(Int32(INSITU_RUN_STOP_TIMEOUT), timeout: request.timeout, abandoned: false)
            } else if result.outcomeStatus == .cancelled {
                result = Self.stoppedResult(Int32(INSITU_RUN_STOP_CANCEL), timeout: request.timeout, abandoned: false)
            }
        } else {
            // The guest is still inside a host call and may still write: keep draining its
            // pipes (closing them would hand it EPIPE) but stop collecting.
            collector.seal()
        }
        return ExecutionOutcome(
            status: result.outcomeStatus, exitCode: result.exitCode, reason: result.reason,
            stdout: collector.stdout.bytes, stderr: collector.stderr.bytes)
    }

    private static func stoppedResult(_ reason: Int32, timeout: Duration?, abandoned: Bool) -> WasmRunResult {
        let suffix =
            abandoned
            ? " (the module was inside a host call and had not stopped \(formatSeconds(abandonGrace)) later; it stops when the call returns)"
            : ""
        if reason == Int32(INSITU_RUN_STOP_TIMEOUT) {
            return WasmRunResult(status: .timedOut, reason: "exceeded its timeout of \(formatSeconds(timeout ?? .zero))" + suffix)
        }
        return WasmRunResult(status: .cancelled, reason: "cancelled" + suffix)
    }
}

/// A compiled module reference crossing to the compile thread and back.
private struct ModuleReference: @unchecked Sendable { let pointer: OpaquePointer }

private struct Engines: Sendable {
    let plain: WasmtimeEngine
    let metered: WasmtimeEngine
}
