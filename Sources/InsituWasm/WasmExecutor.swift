#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
public import InsituExecutor
public import InsituModel
public import InsituProcess
import WasmKit

/// Runs WebAssembly modules with WASI preview 1 in WasmKit's interpreter (engine `wasm`).
///
/// What the guest gets: argv = module file name + `request.args`; `request.env`; each mount
/// preopened at its guest path (read-only mounts refuse writes, see `ReadOnlyDescriptors`);
/// stdin empty; stdout/stderr captured, streamed to `onOutput` and kept up to 1 MiB each.
/// Limits: linear memory capped at `engine.wasm.memoryLimitBytes` (→ `.outOfMemory`), optional
/// instruction budget `engine.wasm.fuel` (→ `.timedOut`), the request's timeout and task
/// cancellation (→ `.timedOut` / `.cancelled`).
///
/// ## Isolation, and why it matters for timeouts
/// WasmKit 0.4.2 cannot interrupt a running guest from another thread. It has no interrupt API,
/// and writing 0 into the store's fuel from another thread (the one shared value the interpreter
/// re-reads at every fuel checkpoint) was tried and does NOT stop a running guest in practice.
/// The only ways to end a guest that does not end by itself are a fuel budget (set before the
/// run) or killing the process it runs in. Hence:
/// - ``Isolation/inProcess``: the guest runs on a dedicated thread of the agent (tens of
///   microseconds per trivial run in a release build). When the timeout passes or the task is
///   cancelled, `run` returns `.timedOut`/`.cancelled` at once, but **the guest keeps running**
///   on its thread, burning a core, until it ends by itself or exhausts `engine.wasm.fuel`; its
///   further output is dropped. A WasmKit crash takes the agent down.
/// - ``Isolation/childProcess(runnerPath:)``: every run happens in a fresh `insitu-wasm-runner`
///   process in its own process group, SIGKILLed on timeout or cancellation: the guest really
///   stops. Costs a process start (about 1.5-10 ms, see the `isolationCost` test).
/// - ``Isolation/automatic(runnerPath:)`` (what an agent should use): child process when the
///   request has a timeout, because only a kill can honour a wall-clock limit; in process
///   otherwise, where nothing but cancellation can end the run early and the guest is bounded
///   only by its own termination or fuel. Requests from the orchestrator always carry the
///   cluster's default timeout, so in practice `automatic` means a child process per job; the
///   in-process path serves local tools and tests (`insitu run`, benchmarks) that pass no
///   timeout. Fuel-budgeted requests are not special-cased: a budget bounds instructions, not
///   time spent in host calls, so it is no substitute for the kill.
public struct WasmExecutor: Executor {
    public enum Isolation: Hashable, Sendable {
        /// Dedicated thread in this process; cannot stop a running guest (see above).
        case inProcess
        /// A killable `insitu-wasm-runner` process per run; `runnerPath` is that executable.
        case childProcess(runnerPath: String)
        /// Child process when the request has a timeout, in process otherwise.
        case automatic(runnerPath: String)
    }

    public let engine: EngineKind = .wasm
    public let isolation: Isolation
    public let outputLimit: Int
    private let cache: ModuleCache
    private let engines: Engines

    public init(
        isolation: Isolation = .inProcess, moduleCacheCapacity: Int = 64,
        outputLimit: Int = OutputCollector.defaultLimit
    ) {
        self.isolation = isolation
        self.outputLimit = outputLimit
        self.cache = ModuleCache(capacity: moduleCacheCapacity)
        self.engines = Engines()
    }

    /// Hits and parses of the in-process module cache.
    public var moduleCacheStatistics: ModuleCacheStatistics { cache.statistics }

    public func run(
        _ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ExecutionOutcome {
        let spec = try Self.spec(for: request)
        switch isolation {
        case .inProcess:
            return try await runInProcess(spec, timeout: request.timeout, onOutput: onOutput)
        case .childProcess(let runnerPath):
            return try await runInChild(spec, request: request, runnerPath: runnerPath, onOutput: onOutput)
        case .automatic(let runnerPath):
            if request.timeout != nil {
                return try await runInChild(spec, request: request, runnerPath: runnerPath, onOutput: onOutput)
            }
            return try await runInProcess(spec, timeout: nil, onOutput: onOutput)
        }
    }

    package static func spec(for request: ExecutionRequest) throws(ExecutorError) -> WasmRunSpec {
        guard let settings = request.engine.wasm else {
            throw ExecutorError("execution \(request.executionID) has no engine.wasm settings")
        }
        guard let modulePath = request.modulePath else {
            throw ExecutorError("execution \(request.executionID) has no module file")
        }
        for mount in request.mounts where !mount.guestPath.hasPrefix("/") {
            throw ExecutorError("mount guest path \(mount.guestPath) must be absolute")
        }
        let name = modulePath.split(separator: "/").last.map(String.init) ?? modulePath
        return WasmRunSpec(
            modulePath: modulePath, moduleName: name, args: request.args, env: request.env,
            mounts: request.mounts,
            entrypoint: settings.entrypoint, memoryLimitBytes: settings.memoryLimitBytes, fuel: settings.fuel)
    }

    // MARK: In process

    private func runInProcess(
        _ spec: WasmRunSpec, timeout: Duration?, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ExecutionOutcome {
        let module = try cache.module(atPath: spec.modulePath)
        if Task.isCancelled { return ExecutionOutcome(status: .cancelled, reason: "cancelled") }
        let collector = OutputCollector(limit: outputLimit, onOutput: onOutput)
        let out = try makePipe()
        let err: (read: Int32, write: Int32)
        do { err = try makePipe() } catch {
            close(out.read)
            close(out.write)
            throw error
        }
        let reader = PipeReader(pipes: [(out.read, .stdout), (err.read, .stderr)], into: collector)
        let engine = engines.engine(metered: spec.fuel != nil)

        // The first of: the guest's own result, the deadline, cancellation.
        let first = OneShot<(result: WasmRunResult, fromGuest: Bool)>()
        DedicatedThread.start {
            let result = WasmModuleRunner.run(
                spec, module: module, engine: engine.engine, stdin: Engines.devNull, stdout: out.write, stderr: err.write)
            close(out.write)
            close(err.write)
            first.fulfill((result, true))
        }
        let deadline: Task<Void, Never>? = timeout.map { timeout in
            Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled {
                    first.fulfill((WasmRunResult(status: .timedOut, reason: Self.abandoned("exceeded its timeout of \(formatSeconds(timeout))")), false))
                }
            }
        }
        let (result, fromGuest) = await withTaskCancellationHandler {
            await first.wait()
        } onCancel: {
            first.fulfill((WasmRunResult(status: .cancelled, reason: Self.abandoned("cancelled")), false))
        }
        deadline?.cancel()
        if fromGuest {
            await reader.wait()
        } else {
            // The guest is still running and may still write: keep draining its pipes (closing
            // them would hand it EPIPE, or the agent SIGPIPE) but stop collecting.
            collector.seal()
        }
        return ExecutionOutcome(
            status: result.outcomeStatus, exitCode: result.exitCode, reason: result.reason,
            stdout: collector.stdout.bytes, stderr: collector.stderr.bytes)
    }

    /// Whole milliseconds of `duration`, saturating instead of overflowing.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        return millis.addingReportingOverflow(attoseconds / 1_000_000_000_000_000).overflow ? .max : millis + attoseconds / 1_000_000_000_000_000
    }

    private static func abandoned(_ reason: String) -> String {
        reason + " (in-process isolation cannot stop a running module: it keeps running on its own thread until it ends or runs out of fuel)"
    }

    // MARK: Child process

    private func runInChild(
        _ spec: WasmRunSpec, request: ExecutionRequest, runnerPath: String,
        onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ExecutionOutcome {
        let safeID = String(request.executionID.rawValue.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        let base = "\(request.workDirectory)/.insitu-wasm-\(safeID)"
        let runnerRequest = WasmRunnerRequest(
            spec: spec, resultPath: base + ".result.json", parentPID: getpid(),
            timeoutMillis: request.timeout.map(Self.milliseconds))
        let requestPath = base + ".request.json"
        do {
            try writeFile(requestPath, Array(try JSONEncoder().encode(runnerRequest)))
        } catch let error as ExecutorError {
            throw error
        } catch {
            throw ExecutorError("could not encode the runner request: \(error)")
        }
        unlink(runnerRequest.resultPath)
        defer {
            unlink(requestPath)
            unlink(runnerRequest.resultPath)
        }
        let process = try await ChildProcess.run(
            executable: runnerPath, arguments: [requestPath], environment: [:],
            workingDirectory: request.workDirectory, timeout: request.timeout, outputLimit: outputLimit,
            onOutput: onOutput)

        var outcome = ExecutionOutcome(status: .failed, stdout: process.stdout.bytes, stderr: process.stderr.bytes)
        switch process.stopReason {
        case .cancellation:
            outcome.status = .cancelled
            outcome.reason = "cancelled"
        case .timeout:
            outcome.status = .timedOut
            outcome.reason = "exceeded its timeout of \(formatSeconds(request.timeout ?? .zero))"
        case nil:
            if let bytes = try? readFile(runnerRequest.resultPath),
                let result = try? JSONDecoder().decode(WasmRunResult.self, from: Data(bytes))
            {
                outcome.status = result.outcomeStatus
                outcome.exitCode = result.exitCode
                outcome.reason = result.reason
            } else {
                outcome.reason = "insitu-wasm-runner \(process.termination) without reporting a result"
            }
        }
        return outcome
    }
}

/// WasmKit engines shared by all runs of an executor (engines without an interceptor may be
/// shared by concurrently running stores). Fuel metering is a translation-time setting that costs
/// 0-11 % of guest speed, so there is a metered engine for runs with a budget and a plain one.
final class Engines: @unchecked Sendable {
    struct Handle: @unchecked Sendable { let engine: Engine }
    private let plain = Handle(engine: Engine(configuration: EngineConfiguration(fuelMetering: false)))
    private let metered = Handle(engine: Engine(configuration: EngineConfiguration(fuelMetering: true)))

    func engine(metered: Bool) -> Handle { metered ? self.metered : plain }

    /// The guest's stdin.
    static let devNull: Int32 = open("/dev/null", O_RDONLY | O_CLOEXEC)
}
