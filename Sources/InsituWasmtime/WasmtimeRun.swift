import CWasmtimeShim
import InsituExecutor
import InsituWasm

/// One run's stop request, shared by the thread running the guest (whose store's epoch
/// callback reads it) and the executor (which sets it). Freed when the last of them lets go.
final class RunControl: @unchecked Sendable {
    let pointer: OpaquePointer

    init(library: WasmtimeLibrary) throws(ExecutorError) {
        guard let pointer = insitu_run_control_new(library.api.wasmtime_error_new) else {
            throw ExecutorError("out of memory preparing a wasmtime run")
        }
        self.pointer = pointer
    }

    deinit { insitu_run_control_free(pointer) }

    func requestStop(_ reason: Int32) { insitu_run_control_request_stop(pointer, reason) }
    var stopReason: Int32 { insitu_run_control_stop_reason(pointer) }
}

/// Runs a compiled module once with WASI preview 1 in a fresh store. Blocks the calling thread
/// until the guest returns, traps or is interrupted through `control`: call it from a dedicated
/// thread. Every wasmtime object it creates is freed before it returns.
enum WasmtimeModuleRunner {
    static func run(
        _ spec: WasmRunSpec, module: OpaquePointer, engine: WasmtimeEngine, control: RunControl, stdout: Int32,
        stderr: Int32
    ) -> WasmRunResult {
        let library = engine.library
        let api = library.api
        guard let store = api.wasmtime_store_new!(engine.engine, nil, nil) else {
            return WasmRunResult(status: .failed, reason: "wasmtime could not create a store")
        }
        defer { api.wasmtime_store_delete!(store) }
        guard let context = api.wasmtime_store_context!(store) else {
            return WasmRunResult(status: .failed, reason: "wasmtime returned no store context")
        }
        // Linear memory capped; tables capped like the WasmKit path; instance, table and memory
        // counts left at wasmtime's defaults (-1).
        api.wasmtime_store_limiter!(store, spec.memoryLimitBytes, 1 << 20, -1, -1, -1)
        api.wasmtime_store_epoch_deadline_callback!(store, insitu_epoch_deadline_callback, UnsafeMutableRawPointer(control.pointer), nil)
        api.wasmtime_context_set_epoch_deadline!(context, 1)
        if let fuel = spec.fuel {
            if let error = api.wasmtime_context_set_fuel!(context, fuel) {
                return WasmRunResult(status: .failed, reason: "wasmtime refused the fuel budget: \(library.consume(error).message)")
            }
        }
        if let problem = configureWASI(spec, context: context, library: library, stdout: stdout, stderr: stderr) {
            return WasmRunResult(status: .failed, reason: problem)
        }

        var instance = insitu_wasmtime_instance_t()
        var trap: OpaquePointer?
        if let error = api.wasmtime_linker_instantiate!(engine.linker, context, module, &instance, &trap) {
            let message = library.consume(error).message
            // wasmtime 50: "memory minimum size of N pages exceeds memory limits".
            if message.contains("exceeds memory limits") { return outOfMemory(spec, atStart: true) }
            return failure(message, spec: spec, control: control)
        }
        if let trap {
            let (message, code) = library.consume(trap: trap)
            return failure(message, code: code, spec: spec, control: control)
        }

        var entry = insitu_wasmtime_extern_t()
        let found = spec.entrypoint.withCString { name in
            api.wasmtime_instance_export_get!(context, &instance, name, spec.entrypoint.utf8.count, &entry)
        }
        guard found else {
            return WasmRunResult(
                status: .failed, reason: "the module exports no function named \"\(spec.entrypoint)\" (engine.entrypoint)")
        }
        defer { api.wasmtime_extern_delete!(&entry) }
        guard entry.kind == UInt8(INSITU_WASMTIME_EXTERN_FUNC) else {
            return WasmRunResult(
                status: .failed, reason: "the module's export \"\(spec.entrypoint)\" is not a function (engine.entrypoint)")
        }

        var callTrap: OpaquePointer?
        let error = withUnsafePointer(to: &entry.of.func) { function in
            api.wasmtime_func_call!(context, function, nil, 0, nil, 0, &callTrap)
        }
        if let error {
            let (message, exitStatus) = library.consume(error)
            if let exitStatus {
                if exitStatus == 0 { return WasmRunResult(status: .succeeded, exitCode: 0) }
                if memoryNearLimit(spec, context: context, instance: &instance, library: library) { return outOfMemory(spec) }
                return WasmRunResult(status: .failed, exitCode: exitStatus, reason: "exited with status \(exitStatus)")
            }
            if let stopped = stopped(control) { return stopped }
            if memoryNearLimit(spec, context: context, instance: &instance, library: library) { return outOfMemory(spec) }
            return failure(message, spec: spec, control: control)
        }
        if let callTrap {
            let (message, code) = library.consume(trap: callTrap)
            var result = failure(message, code: code, spec: spec, control: control)
            guard result.outcomeStatus == .failed else { return result }
            if memoryNearLimit(spec, context: context, instance: &instance, library: library) { return outOfMemory(spec) }
            // A trap often follows a refused allocation far beyond the limit, which the limiter
            // does not report: give the figures so the job's author can tell.
            if let used = memoryInUse(context: context, instance: &instance, library: library) {
                result.reason = (result.reason ?? "trapped")
                    + " (linear memory in use: \(shownBytes(used)) of the \(shownBytes(spec.memoryLimitBytes)) limit, engine.memory)"
            }
            return result
        }
        return WasmRunResult(status: .succeeded, exitCode: 0)
    }

    /// Arguments, environment, output sinks and preopens: nothing else (no inherited
    /// environment, stdin empty, no network: preview 1 has no socket creation).
    private static func configureWASI(
        _ spec: WasmRunSpec, context: OpaquePointer, library: WasmtimeLibrary, stdout: Int32, stderr: Int32
    ) -> String? {
        let api = library.api
        guard let wasi = api.wasi_config_new!() else { return "wasmtime could not create a WASI config" }
        var handedOver = false
        defer { if !handedOver { api.wasi_config_delete!(wasi) } }

        let argv = [spec.moduleName] + spec.args
        let argvOK = withCStrings(argv) { pointers in api.wasi_config_set_argv!(wasi, pointers.count, pointers.baseAddress) }
        guard argvOK else { return "wasmtime refused the arguments (is one of them not valid UTF-8?)" }
        let environment = spec.env.sorted { $0.key < $1.key }
        let envOK = withCStrings(environment.map(\.key)) { names in
            withCStrings(environment.map(\.value)) { values in
                api.wasi_config_set_env!(wasi, names.count, names.baseAddress, values.baseAddress)
            }
        }
        guard envOK else { return "wasmtime refused the environment (is a name or value not valid UTF-8?)" }
        api.wasi_config_set_stdout_custom!(wasi, insitu_write_to_fd, UnsafeMutableRawPointer(bitPattern: Int(stdout)), nil)
        api.wasi_config_set_stderr_custom!(wasi, insitu_write_to_fd, UnsafeMutableRawPointer(bitPattern: Int(stderr)), nil)
        for mount in spec.mounts {
            // Read-only mounts get neither directory nor file mutation rights: creating,
            // truncating, writing, renaming or deleting through them fails in the guest.
            let ok = api.wasi_config_preopen_dir!(wasi, mount.hostPath, mount.guestPath, !mount.readOnly)
            // The host path stays on the node: the message names the mount as the job sees it.
            if !ok { return "could not mount \(mount.guestPath): the node's directory for it cannot be opened" }
        }
        handedOver = true
        if let error = api.wasmtime_context_set_wasi!(context, wasi) {
            return "wasmtime refused the WASI configuration: \(WasmtimeEngine.firstLine(library.consume(error).message))"
        }
        return nil
    }

    /// Why the run ended when it was stopped from outside, or nil.
    private static func stopped(_ control: RunControl) -> WasmRunResult? {
        switch control.stopReason {
        case Int32(INSITU_RUN_STOP_TIMEOUT): WasmRunResult(status: .timedOut, reason: "timeout")
        case Int32(INSITU_RUN_STOP_CANCEL): WasmRunResult(status: .cancelled, reason: "cancelled")
        default: nil
        }
    }

    private static func failure(_ message: String, code: UInt8? = nil, spec: WasmRunSpec, control: RunControl) -> WasmRunResult {
        if let stopped = stopped(control) { return stopped }
        if code == UInt8(INSITU_WASMTIME_TRAP_CODE_OUT_OF_FUEL) {
            return WasmRunResult(
                status: .timedOut,
                reason: "exceeded its instruction budget (engine.fuel = \(spec.fuel.map(String.init) ?? "unset"))")
        }
        let text = WasmtimeEngine.firstLine(message)
        let shown = text.hasPrefix("wasm trap: ") ? String(text.dropFirst("wasm trap: ".count)) : text
        return WasmRunResult(status: .failed, reason: "trapped: \(shown)")
    }

    /// wasmtime's store limiter refuses growth silently (`memory.grow` returns -1) and tells the
    /// host nothing, so a failed guest whose memory ended within a quarter of the limit is taken
    /// to have failed for want of memory. A guest that asked for one huge block far beyond the
    /// limit while its memory was small is reported as an ordinary failure.
    private static func memoryNearLimit(
        _ spec: WasmRunSpec, context: OpaquePointer, instance: inout insitu_wasmtime_instance_t, library: WasmtimeLibrary
    ) -> Bool {
        guard let size = memoryInUse(context: context, instance: &instance, library: library) else { return false }
        let limit = spec.memoryLimitBytes
        return limit > 0 && size > limit - limit / 4
    }

    /// The size of the instance's exported `memory`, if it exports one.
    private static func memoryInUse(
        context: OpaquePointer, instance: inout insitu_wasmtime_instance_t, library: WasmtimeLibrary
    ) -> Int64? {
        let api = library.api
        var memory = insitu_wasmtime_extern_t()
        let found = api.wasmtime_instance_export_get!(context, &instance, "memory", 6, &memory)
        guard found else { return nil }
        defer { api.wasmtime_extern_delete!(&memory) }
        guard memory.kind == UInt8(INSITU_WASMTIME_EXTERN_MEMORY) else { return nil }
        let size = withUnsafePointer(to: &memory.of.memory) { api.wasmtime_memory_data_size!(context, $0) }
        return Int64(clamping: size)
    }

    private static func shownBytes(_ bytes: Int64) -> String {
        if bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    private static func outOfMemory(_ spec: WasmRunSpec, atStart: Bool = false) -> WasmRunResult {
        let shown = shownBytes(spec.memoryLimitBytes)
        let what =
            atStart
            ? "the module's initial memory exceeds the limit of \(shown)"
            : "the module failed with its memory near the limit of \(shown) (growth beyond it is refused)"
        return WasmRunResult(status: .outOfMemory, reason: what + "; raise engine.memory in the job spec")
    }
}

/// Calls `body` with NUL-terminated copies of `strings`, valid only during the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer(body)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
