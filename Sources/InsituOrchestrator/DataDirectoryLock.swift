#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on an orchestrator's data directory, held for the life of the process.
///
/// Two orchestrators on one directory would each believe they own every job: one re-places work
/// the other already completed. `flock(2)` on `<dir>/lock` makes the second one refuse to start;
/// the kernel releases the lock when the holder exits, however it exits, so a crash never leaves
/// a stale lock behind. The holder's PID is written into the file only to name it in the error.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    /// Takes the lock or throws an error naming the process that holds it.
    public init(directory: String) throws(DataDirectoryLockError) {
        let path = directory + "/lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw DataDirectoryLockError("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = Self.readHolder(descriptor)
            close(descriptor)
            if failure == EWOULDBLOCK {
                throw DataDirectoryLockError(
                    "the data directory \(directory) is in use by another orchestrator"
                        + (holder.map { " (PID \($0))" } ?? "")
                        + "; stop it first, or give this one its own --data-dir")
            }
            throw DataDirectoryLockError("cannot lock \(path): \(String(cString: strerror(failure)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 {
            _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    private static func readHolder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        return Int32(text)
    }
}

public struct DataDirectoryLockError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
