#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file mapped read-only (`PROT_READ`, private): the CSV reader scans it in place and
/// binds unquoted fields to SQLite without copying them. Unmapped on deinit.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?
    private let length: Int
    private var owned = true

    /// `origin` names the file in errors (the job's path for it, not the node's).
    init(path: String, origin: String) throws(SQLRunError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw SQLRunError("cannot open \(origin): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw SQLRunError("\(origin) is not a regular file")
        }
        length = Int(status.st_size)
        guard length > 0 else {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw SQLRunError("cannot map \(origin) into memory: \(String(cString: strerror(errno)))")
        }
        _ = madvise(mapped, length, MADV_SEQUENTIAL)
        base = mapped
        bytes = UnsafeRawBufferPointer(start: mapped, count: length)
    }

    /// Hands the mapping to whoever unmaps it from now on (`bytes` stays valid until they do).
    func transferMapping() -> (base: UnsafeMutableRawPointer?, length: Int) {
        owned = false
        return (base, length)
    }

    deinit {
        if owned, let base { munmap(base, length) }
    }
}

/// A result file, created new (never through a link, never over an existing file), written
/// through a buffer.
final class OutputFile {
    private let fd: Int32
    private let name: String
    private var buffer: [UInt8] = []
    private var closed = false

    init(directory: String, name: String) throws(SQLRunError) {
        self.name = name
        fd = open(directory + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SQLRunError("cannot create the result file \(name): \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 16)
    }

    deinit { if !closed { Glibc.close(fd) } }

    func write(_ bytes: [UInt8]) throws(SQLRunError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { try flush() }
    }

    func close() throws(SQLRunError) {
        try flush()
        closed = true
        guard Glibc.close(fd) == 0 else { throw SQLRunError("cannot write the result file \(name): \(String(cString: strerror(errno)))") }
    }

    private func flush() throws(SQLRunError) {
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SQLRunError("cannot write the result file \(name): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
