#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import InsituExecutor
import InsituProcess
import Synchronization
@_spi(Fuzzing) import WasmKit
import WASI
import WasmKitWASI

/// Everything needed to run one module once, in this process or in `insitu-wasm-runner`.
/// Codable: the child-process path sends it to the runner as JSON.
public struct WasmRunSpec: Codable, Hashable, Sendable {
    public var modulePath: String
    /// argv[0] seen by the guest.
    public var moduleName: String
    public var args: [String]
    public var env: [String: String]
    public var mounts: [Mount]
    public var entrypoint: String
    public var memoryLimitBytes: Int64
    public var fuel: UInt64?

    public init(
        modulePath: String, moduleName: String, args: [String] = [], env: [String: String] = [:],
        mounts: [Mount] = [], entrypoint: String = "_start", memoryLimitBytes: Int64 = 64 << 20,
        fuel: UInt64? = nil
    ) {
        self.modulePath = modulePath
        self.moduleName = moduleName
        self.args = args
        self.env = env
        self.mounts = mounts
        self.entrypoint = entrypoint
        self.memoryLimitBytes = memoryLimitBytes
        self.fuel = fuel
    }
}

/// How one run ended. Output is not part of it: it went to the file descriptors given to the run.
public struct WasmRunResult: Codable, Hashable, Sendable {
    /// An `ExecutionOutcome.Status` raw value.
    public var status: String
    public var exitCode: Int32?
    public var reason: String?

    public init(status: ExecutionOutcome.Status, exitCode: Int32? = nil, reason: String? = nil) {
        self.status = status.rawValue
        self.exitCode = exitCode
        self.reason = reason
    }

    public var outcomeStatus: ExecutionOutcome.Status { ExecutionOutcome.Status(rawValue: status) ?? .failed }
}

/// Runs a parsed module once. This is the one implementation used both on a dedicated thread of
/// the agent (in-process isolation) and by `insitu-wasm-runner` (child-process isolation).
///
/// It blocks the calling thread until the guest returns: call it from a dedicated thread.
enum WasmModuleRunner {
    static func run(
        _ spec: WasmRunSpec, module: Module, engine: Engine, stdin: Int32, stdout: Int32, stderr: Int32
    ) -> WasmRunResult {
        let store = Store(engine: engine)
        let limiter = MemoryLimiter(limitBytes: spec.memoryLimitBytes)
        store.resourceLimiter = limiter
        if let fuel = spec.fuel { store.fuel = Fuel(remaining: fuel) }

        let bridge: WASIBridgeToHost
        do {
            bridge = try WASIBridgeToHost(
                args: [spec.moduleName] + spec.args, environment: spec.env,
                preopens: spec.mounts.map { .init(guestPath: $0.guestPath, hostPath: $0.hostPath) },
                stdin: stdin, stdout: stdout, stderr: stderr)
        } catch {
            return WasmRunResult(status: .failed, reason: "could not prepare the WASI environment: \(error)")
        }
        defer { try? bridge.close() }

        // Preopens get descriptors 3, 4, ... in order.
        let readOnly = ReadOnlyDescriptors(
            spec.mounts.enumerated().filter { $0.element.readOnly }.map { UInt32(3 + $0.offset) })
        let imports = readOnly.link(bridge, into: module, store: store)

        var exitCode: UInt32 = 0
        do {
            let instance = try module.instantiate(store: store, imports: imports)
            guard let entry = instance.exports[function: spec.entrypoint] else {
                return WasmRunResult(
                    status: .failed, reason: "the module exports no function named \"\(spec.entrypoint)\" (engine.entrypoint)")
            }
            do {
                _ = try entry()
            } catch let exit as WASIExitCode {
                exitCode = exit.code
            }
        } catch {
            let message = describe(error)
            if message == "out of fuel" {
                return WasmRunResult(
                    status: .timedOut,
                    reason: "exceeded its instruction budget (engine.fuel = \(spec.fuel.map(String.init) ?? "unset"))")
            }
            if limiter.wasHit { return limiter.outOfMemory }
            return WasmRunResult(status: .failed, reason: "trapped: \(message)")
        }
        if exitCode != 0 {
            if limiter.wasHit { return limiter.outOfMemory }
            let code = Int32(bitPattern: exitCode)
            return WasmRunResult(status: .failed, exitCode: code, reason: "exited with status \(code)")
        }
        return WasmRunResult(status: .succeeded, exitCode: 0)
    }

    /// The first line of an error's description, without WasmKit's "Trap: " prefix.
    static func describe(_ error: any Error) -> String {
        var text = String(describing: error)
        if let newline = text.firstIndex(of: "\n") { text = String(text[..<newline]) }
        if text.hasPrefix("Trap: ") { text.removeFirst(6) }
        return text
    }
}

/// Caps a store's linear memory (WasmKit SPI, hence the exact version pin). Growth beyond the cap
/// fails the way WebAssembly specifies (`memory.grow` returns -1, malloc returns NULL); a guest
/// that then fails is reported as out of memory rather than as an ordinary failure.
final class MemoryLimiter: ResourceLimiter {
    let limitBytes: Int64
    private let hit = Atomic<Bool>(false)

    init(limitBytes: Int64) { self.limitBytes = limitBytes }

    func limitMemoryGrowth(to desired: Int) throws -> Bool {
        if Int64(desired) <= limitBytes { return true }
        hit.store(true, ordering: .relaxed)
        return false
    }

    func limitTableGrowth(to desired: Int) throws -> Bool { desired <= 1 << 20 }

    var wasHit: Bool { hit.load(ordering: .relaxed) }

    var outOfMemory: WasmRunResult {
        let mib = Double(limitBytes) / Double(1 << 20)
        let shown = mib == mib.rounded() ? "\(Int64(mib)) MiB" : "\(limitBytes) bytes"
        return WasmRunResult(
            status: .outOfMemory,
            reason: "the module tried to grow its memory beyond the limit of \(shown); raise engine.memory in the job spec")
    }
}

