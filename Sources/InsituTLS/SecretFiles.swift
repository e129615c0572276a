public import Foundation

/// Small files that may hold secrets (TLS keys, the CLI's tokens). Secret files are written 0600
/// (created that way, never chmod-ed after the fact) and refused when others may read them; every
/// file is opened without following links and is bounded in size.
public enum SecretFiles {
    public static let maxBytes = 1 << 20

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    public static func read(_ path: String, secret: Bool) throws -> String {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw Failure("cannot open \(path): \(String(cString: strerror(errno)))\(errno == ELOOP ? " (it is a symbolic link)" : "")")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw Failure("\(path) is not a regular file")
        }
        if secret && status.st_mode & 0o077 != 0 {
            throw Failure("\(path) holds secrets but others may read it (mode \(String(status.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)")
        }
        guard status.st_size <= maxBytes else { throw Failure("\(path) is larger than 1 MiB, which no file of this kind is") }
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            offset += count
        }
        return String(decoding: bytes[..<offset], as: UTF8.self)
    }

    /// Writes `text` to `path` atomically: a new file created with `mode` beside it, synced, then
    /// renamed over the old one.
    public static func write(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Failure("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else {
                close(descriptor)
                unlink(temporary)
                throw Failure("cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += count
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Failure("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }
}
