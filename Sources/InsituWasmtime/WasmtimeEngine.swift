#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CWasmtimeShim
import Crypto
public import InsituExecutor
import InsituWasm
import Synchronization

/// A wasmtime engine (Cranelift, epoch interruption on) and the modules compiled for it, keyed
/// by the SHA-256 of their bytes: a module is compiled once per node and engine, then
/// instantiated per run. With a cache directory, compiled code is also kept on disk
/// (`<sha256>.<variant>.cwasm`) so a restarted agent does not compile again.
///
/// Fuel metering is an engine setting (and a fuel-metered engine makes every store start with
/// none), so an executor holds a plain engine and a metered one, each with its own modules.
final class WasmtimeEngine: @unchecked Sendable {
    let library: WasmtimeLibrary
    let metered: Bool
    /// Owned; deleted in deinit, after every module compiled for it.
    let engine: OpaquePointer
    /// WASI preview 1 defined once per engine; instantiation only reads it, from any thread.
    let linker: OpaquePointer
    private let cache: CompiledModules

    init(library: WasmtimeLibrary, metered: Bool, capacity: Int, directory: String?) throws(ExecutorError) {
        let api = library.api
        guard let config = api.wasm_config_new!() else { throw ExecutorError("wasmtime could not allocate an engine config") }
        api.wasmtime_config_epoch_interruption_set!(config, true)
        api.wasmtime_config_consume_fuel_set!(config, metered)
        // Takes the config, whether or not it succeeds.
        guard let engine = api.wasm_engine_new_with_config!(config) else {
            throw ExecutorError("wasmtime could not create an engine")
        }
        guard let linker = api.wasmtime_linker_new!(engine) else {
            api.wasm_engine_delete!(engine)
            throw ExecutorError("wasmtime could not create a linker")
        }
        if let error = api.wasmtime_linker_define_wasi!(linker) {
            let message = library.consume(error).message
            api.wasmtime_linker_delete!(linker)
            api.wasm_engine_delete!(engine)
            throw ExecutorError("wasmtime could not define WASI preview 1: \(message)")
        }
        self.library = library
        self.metered = metered
        self.engine = engine
        self.linker = linker
        self.cache = CompiledModules(
            capacity: max(1, capacity), directory: directory, variant: metered ? "fuel" : "plain")
    }

    deinit {
        cache.removeAll(library)
        library.api.wasmtime_linker_delete!(linker)
        library.api.wasm_engine_delete!(engine)
    }

    var statistics: ModuleCacheStatistics { cache.statistics }
    var compiles: Int { cache.compiles }

    /// Makes every store's epoch deadline arrive now. Stores whose run was not asked to stop
    /// carry on (see `insitu_epoch_deadline_callback`).
    func interruptAll() { library.api.wasmtime_engine_increment_epoch!(engine) }

    /// The compiled module for the file at `path`, as a new reference the caller must release
    /// with `release(_:)`.
    func module(atPath path: String) throws(ExecutorError) -> OpaquePointer {
        let bytes = try readFile(path)
        let digest = SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        if let cached = cache.lookup(digest, library: library) { return cached }
        let module = try loadOrCompile(bytes, digest: digest, path: path)
        return cache.insert(module, digest: digest, library: library)
    }

    func release(_ module: OpaquePointer) { library.api.wasmtime_module_delete!(module) }

    private func loadOrCompile(_ bytes: [UInt8], digest: String, path: String) throws(ExecutorError) -> OpaquePointer {
        let api = library.api
        if let file = cache.file(for: digest), let compiled = try? readFile(file) {
            var module: OpaquePointer?
            // Only the agent writes its cache directory. wasmtime refuses (with an error, not a
            // crash) artefacts of another version or engine configuration; compile afresh then.
            let error = compiled.withUnsafeBufferPointer { api.wasmtime_module_deserialize!(engine, $0.baseAddress, $0.count, &module) }
            if let error {
                _ = library.consume(error)
                unlink(file)
            } else if let module {
                cache.countLoad()
                return module
            }
        }
        var module: OpaquePointer?
        let error = bytes.withUnsafeBufferPointer { api.wasmtime_module_new!(engine, $0.baseAddress, $0.count, &module) }
        if let error {
            let (message, _) = library.consume(error)
            throw ExecutorError("\(path) is not a valid WebAssembly module: \(Self.firstLine(message))")
        }
        guard let module else { throw ExecutorError("wasmtime compiled \(path) but returned no module") }
        cache.countCompile()
        if let file = cache.file(for: digest) { persist(module, to: file) }
        return module
    }

    /// Writes compiled code next to the cache, best effort: a failure only costs a compile later.
    private func persist(_ module: OpaquePointer, to file: String) {
        var vector = insitu_wasm_byte_vec_t()
        if let error = library.api.wasmtime_module_serialize!(module, &vector) {
            _ = library.consume(error)
            return
        }
        defer { library.api.wasm_byte_vec_delete!(&vector) }
        guard let data = vector.data, vector.size > 0 else { return }
        let bytes = Array(UnsafeRawBufferPointer(start: data, count: vector.size))
        let temporary = file + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        var offset = 0
        var ok = true
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                ok = false
                break
            }
            offset += count
        }
        close(fd)
        if ok { rename(temporary, file) } else { unlink(temporary) }
    }

    /// The line of a wasmtime message that says what happened. Messages with a backtrace read
    /// "error while executing at wasm backtrace: <frames> Caused by: <what>": keep the cause.
    static func firstLine(_ text: String) -> String {
        var relevant = Substring(text)
        if let cause = text.firstRange(of: "Caused by:") { relevant = text[cause.upperBound...] }
        let line = relevant.split(separator: "\n", omittingEmptySubsequences: true)
            .first { !$0.allSatisfy { $0 == " " || $0 == "\t" } }
        return line.map { String($0.drop { $0 == " " || $0 == "\t" }) } ?? text
    }
}

/// Compiled modules by digest, least recently used evicted first. Holds one reference to each
/// module; `lookup` and `insert` hand out clones (wasmtime modules are reference-counted), so
/// evicting a module never pulls it from under a run that uses it.
private final class CompiledModules: Sendable {
    private struct State {
        var modules: [String: OpaquePointer] = [:]
        var order: [String] = []  // least recently used first
        var statistics = ModuleCacheStatistics(hits: 0, parses: 0)
        var compiles = 0
    }
    private struct Guarded: @unchecked Sendable { var state = State() }
    let capacity: Int
    let directory: String?
    let variant: String
    private let state = Mutex(Guarded())

    init(capacity: Int, directory: String?, variant: String) {
        self.capacity = capacity
        self.directory = directory
        self.variant = variant
    }

    var statistics: ModuleCacheStatistics { state.withLock { $0.state.statistics } }

    func file(for digest: String) -> String? { directory.map { "\($0)/\(digest).\(variant).cwasm" } }

    func lookup(_ digest: String, library: WasmtimeLibrary) -> OpaquePointer? {
        let found: Handle? = state.withLock { guarded in
            guard let module = guarded.state.modules[digest] else { return nil }
            guarded.state.statistics.hits += 1
            if let index = guarded.state.order.firstIndex(of: digest) { guarded.state.order.remove(at: index) }
            guarded.state.order.append(digest)
            return library.api.wasmtime_module_clone!(module).map(Handle.init)
        }
        return found?.pointer
    }

    var compiles: Int { state.withLock { $0.state.compiles } }

    func countCompile() {
        state.withLock {
            $0.state.statistics.parses += 1
            $0.state.compiles += 1
        }
    }
    /// A module read back from disk counts as a parse: it was not in memory.
    func countLoad() { state.withLock { $0.state.statistics.parses += 1 } }

    /// Keeps `module` (taking the caller's reference) and returns a clone for the caller.
    func insert(_ module: OpaquePointer, digest: String, library: WasmtimeLibrary) -> OpaquePointer {
        let api = library.api
        let (handed, evicted): (Handle, [Handle]) = state.withLock { guarded in
            if let existing = guarded.state.modules[digest] {
                // Another run compiled it meanwhile: keep theirs, drop ours.
                return (Handle(api.wasmtime_module_clone!(existing)!), [Handle(module)])
            }
            guarded.state.modules[digest] = module
            guarded.state.order.append(digest)
            var evicted: [Handle] = []
            if guarded.state.order.count > capacity {
                let oldest = guarded.state.order.removeFirst()
                if let old = guarded.state.modules.removeValue(forKey: oldest) { evicted.append(Handle(old)) }
            }
            return (Handle(api.wasmtime_module_clone!(module)!), evicted)
        }
        for module in evicted { api.wasmtime_module_delete!(module.pointer) }
        return handed.pointer
    }

    func removeAll(_ library: WasmtimeLibrary) {
        let modules: [Handle] = state.withLock { guarded in
            defer { guarded.state = State() }
            return guarded.state.modules.values.map(Handle.init)
        }
        for module in modules { library.api.wasmtime_module_delete!(module.pointer) }
    }

    /// A module pointer leaving the lock (modules are thread-safe in wasmtime).
    private struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
    }
}
