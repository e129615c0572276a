#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
package import InsituExecutor
import Synchronization
import WasmKit

/// Counters of a ``WasmExecutor``'s module cache.
public struct ModuleCacheStatistics: Hashable, Sendable {
    public var hits: Int
    /// Modules parsed (cache misses).
    public var parses: Int

    public init(hits: Int, parses: Int) {
        self.hits = hits
        self.parses = parses
    }
}

/// Parsed modules keyed by the SHA-256 of their bytes, least recently used evicted first.
/// Keying by content (not path) means a module re-fetched to another path is still a hit, and a
/// file changed in place is never served stale.
final class ModuleCache: Sendable {
    private struct State {
        var modules: [String: Module] = [:]
        var order: [String] = []  // least recently used first
        var statistics = ModuleCacheStatistics(hits: 0, parses: 0)
    }
    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var statistics: ModuleCacheStatistics { state.withLock { $0.statistics } }

    func module(atPath path: String) throws(ExecutorError) -> Module {
        let bytes = try readFile(path)
        let digest = SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        let cached: Module? = state.withLock { state in
            guard let module = state.modules[digest] else { return nil }
            state.statistics.hits += 1
            if let index = state.order.firstIndex(of: digest) { state.order.remove(at: index) }
            state.order.append(digest)
            return module
        }
        if let cached { return cached }
        let module = try parse(bytes, path: path)
        state.withLock { state in
            state.statistics.parses += 1
            if state.modules.updateValue(module, forKey: digest) == nil {
                state.order.append(digest)
                if state.order.count > capacity {
                    state.modules[state.order.removeFirst()] = nil
                }
            }
        }
        return module
    }
}

func parse(_ bytes: [UInt8], path: String) throws(ExecutorError) -> Module {
    do {
        return try parseWasm(bytes: bytes)
    } catch {
        throw ExecutorError("\(path) is not a valid WebAssembly module: \(error)")
    }
}

package func readFile(_ path: String) throws(ExecutorError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ExecutorError("could not open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw ExecutorError("could not read \(path): \(String(cString: strerror(errno)))")
        }
        if count == 0 { return bytes }
        bytes.append(contentsOf: chunk[0..<count])
    }
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws(ExecutorError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw ExecutorError("could not create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let count = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw ExecutorError("could not write \(path): \(String(cString: strerror(errno)))")
        }
        offset += count
    }
}
