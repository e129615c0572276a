import CWasmtimeShim
public import InsituExecutor
import Synchronization

/// wasmtime's C library, opened at run time. Nothing in the build links against it: the agent
/// finds it through its config (`engines.wasm.wasmtime_library`) or the `INSITU_WASMTIME_LIB`
/// environment variable, so the package builds and runs on machines without it.
///
/// The PyPI package `wasmtime` (version 50) ships the whole C API as
/// `wasmtime/linux-x86_64/_libwasmtime.so`; see the README for installing it.
public final class WasmtimeLibrary: @unchecked Sendable {
    /// The environment variable naming the library when the config does not.
    public static let environmentVariable = "INSITU_WASMTIME_LIB"

    public let path: String
    /// Immutable after loading (hence `@unchecked Sendable`); the functions it points at are
    /// thread-safe as wasmtime documents (engines, modules and linkers are shareable, a store is
    /// used by one thread at a time).
    let api: insitu_wasmtime_api_t

    private init(path: String, api: insitu_wasmtime_api_t) {
        self.path = path
        self.api = api
    }

    private static let loaded = Mutex<[String: WasmtimeLibrary]>([:])

    /// Opens the library at `path` (once per process and path: a library is never unloaded).
    public static func load(path: String) throws(ExecutorError) -> WasmtimeLibrary {
        if let library = loaded.withLock({ $0[path] }) { return library }
        var api = insitu_wasmtime_api_t()
        var message = [CChar](repeating: 0, count: 1024)
        let rc = message.withUnsafeMutableBufferPointer { buffer in
            insitu_wasmtime_open(path, &api, buffer.baseAddress, buffer.count)
        }
        guard rc == 0 else {
            let detail = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ExecutorError(
                "cannot load the wasmtime library \(path): \(detail); install it with `pip install wasmtime==50.*` in a virtualenv and point engines.wasm.wasmtime_library (or \(environmentVariable)) at its wasmtime/linux-x86_64/_libwasmtime.so"
            )
        }
        let library = WasmtimeLibrary(path: path, api: api)
        return loaded.withLock { loaded in
            if let existing = loaded[path] { return existing }
            loaded[path] = library
            return library
        }
    }

    /// The library path to use: the configured one, else `INSITU_WASMTIME_LIB`, else nil.
    public static func configuredPath(config: String?, environment: [String: String]) -> String? {
        if let config, !config.isEmpty { return config }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty { return fromEnvironment }
        return nil
    }

    // MARK: Errors and traps

    /// Takes a wasmtime error: its message, and the WASI exit status when it is `proc_exit`.
    /// Frees the error.
    func consume(_ error: OpaquePointer) -> (message: String, exitStatus: Int32?) {
        var status: Int32 = 0
        let exit = api.wasmtime_error_exit_status!(error, &status) ? status : nil
        var vector = insitu_wasm_byte_vec_t()
        api.wasmtime_error_message!(error, &vector)
        let message = take(&vector)
        api.wasmtime_error_delete!(error)
        return (message, exit)
    }

    /// Takes a trap: its message and trap code. Frees the trap.
    func consume(trap: OpaquePointer) -> (message: String, code: UInt8?) {
        var code: UInt8 = 0
        let hasCode = api.wasmtime_trap_code!(trap, &code)
        var vector = insitu_wasm_byte_vec_t()
        api.wasm_trap_message!(trap, &vector)
        let message = take(&vector)
        api.wasm_trap_delete!(trap)
        return (message, hasCode ? code : nil)
    }

    /// The text of a byte vector the library allocated; frees the vector.
    func take(_ vector: inout insitu_wasm_byte_vec_t) -> String {
        defer { api.wasm_byte_vec_delete!(&vector) }
        guard let data = vector.data, vector.size > 0 else { return "" }
        let bytes = UnsafeRawBufferPointer(start: data, count: vector.size)
        var text = String(decoding: bytes, as: UTF8.self)
        // Messages may carry a trailing NUL or a backtrace after the first line.
        if let nul = text.firstIndex(of: "\0") { text = String(text[..<nul]) }
        return text
    }
}
