#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import InsituExecutor

/// Reads what a job left in one output directory without trusting any of it.
///
/// The guest controls the directory's contents: it can plant symbolic links (`x -> /etc/passwd`,
/// `y -> ../../node-id`), FIFOs that block a reader, sparse files of any apparent size, and deep
/// or wide trees. So the walk:
/// - opens the root and every directory with `O_NOFOLLOW | O_DIRECTORY` and everything below
///   it with `openat` relative to its parent's descriptor, by a single name from `readdir`: no
///   path is ever resolved, so nothing outside the root can be reached;
/// - keeps regular files only, checked with `fstat` on the opened descriptor (not on the name,
///   which could be swapped in between); links, FIFOs (opened `O_NONBLOCK`, so they cannot
///   block), sockets and devices are skipped and listed in `skipped`;
/// - checks each file's size against what is left of `budget` before reading it, and never
///   reads more than that size (a file that grows while read is refused);
/// - stops at `maxDepth` levels and `maxEntries` entries.
enum OutputFiles {
    struct File: Equatable {
        /// Path below the root, `/`-separated.
        var path: String
        var bytes: [UInt8]
    }

    struct Skipped: Equatable {
        var path: String
        /// What it was, for people: "symbolic link", "FIFO", "unreadable file", ...
        var kind: String
    }

    struct Collected {
        var files: [File] = []
        var skipped: [Skipped] = []
        var totalBytes = 0
    }

    static let maxDepth = 32
    static let maxEntries = 10_000

    /// Collects the regular files under `root`, in path order, up to `budget` bytes in total.
    /// Throws when the budget, the depth or the entry count is exceeded, or the root itself is
    /// not a real directory.
    /// `label` names the directory in messages (e.g. `outputs/results`); `overBudget` says why a
    /// file of this size does not fit (by default: the most a result may carry).
    static func collect(
        root: String, label: String, budget: Int, overBudget: ((_ path: String, _ size: Int64) -> ExecutorError)? = nil
    ) throws(ExecutorError) -> Collected {
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else {
            throw ExecutorError("output directory \(label) is no longer a directory the job may write (\(String(cString: strerror(errno))))")
        }
        defer { close(rootFD) }
        var collected = Collected()
        var entries = 0
        try walk(rootFD, prefix: "", depth: 0, entries: &entries) { fd, name, path, kind throws(ExecutorError) in
            switch kind {
            case .directory: break
            case .other(let what): collected.skipped.append(Skipped(path: path, kind: what))
            case .regular:
                let remaining = budget - collected.totalBytes
                switch readRegularFile(at: fd, name: name, limit: remaining) {
                case .bytes(let bytes):
                    collected.totalBytes += bytes.count
                    collected.files.append(File(path: path, bytes: bytes))
                case .tooLarge(let size):
                    if let overBudget { throw overBudget("\(label)/\(path)", size) }
                    throw ExecutorError(
                        "output file \(label)/\(path) is \(formatBytes(size)) but a result carries at most \(formatBytes(Int64(budget))) "
                            + "in total (including stdout and stderr): write less, or keep large data on the node")
                case .skipped(let what):
                    collected.skipped.append(Skipped(path: path, kind: what))
                }
            }
        }
        return collected
    }

    /// Bytes of disk the tree under `root` occupies (allocated blocks, so a sparse file counts
    /// what it really uses), without following links. Bounded like ``collect``; past the bounds
    /// it returns what it counted so far.
    static func diskUsage(root: String) -> Int64 {
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else { return 0 }
        defer { close(rootFD) }
        var total: Int64 = 0
        var entries = 0
        try? walk(rootFD, prefix: "", depth: 0, entries: &entries) { fd, name, _, _ throws(ExecutorError) in
            var info = stat()
            if fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                total &+= Int64(info.st_blocks) &* 512
            }
        }
        return total
    }

    // MARK: Walking

    enum Kind {
        case regular
        case directory
        case other(String)
    }

    /// Visits every entry below the directory open at `directoryFD`, in name order, depth first;
    /// `visit` gets the parent's descriptor, the entry's name and its path below the root.
    private static func walk(
        _ directoryFD: Int32, prefix: String, depth: Int, entries: inout Int,
        _ visit: (Int32, String, String, Kind) throws(ExecutorError) -> Void
    ) throws(ExecutorError) {
        for name in try names(in: directoryFD, path: prefix) {
            entries += 1
            guard entries <= maxEntries else {
                throw ExecutorError("the outputs hold more than \(maxEntries) files and directories, the most a result may carry")
            }
            let path = prefix.isEmpty ? name : prefix + "/" + name
            var info = stat()
            guard fstatat(directoryFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                try visit(directoryFD, name, path, .other("vanished entry"))
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                try visit(directoryFD, name, path, .regular)
            case S_IFDIR:
                guard depth + 1 < maxDepth else {
                    throw ExecutorError("the outputs nest directories deeper than \(maxDepth) levels, the most a result may carry")
                }
                try visit(directoryFD, name, path, .directory)
                let child = openat(directoryFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else {
                    try visit(directoryFD, name, path, .other("unreadable directory"))
                    continue
                }
                defer { close(child) }
                try walk(child, prefix: path, depth: depth + 1, entries: &entries, visit)
            case S_IFLNK: try visit(directoryFD, name, path, .other("symbolic link"))
            case S_IFIFO: try visit(directoryFD, name, path, .other("FIFO"))
            case S_IFSOCK: try visit(directoryFD, name, path, .other("socket"))
            default: try visit(directoryFD, name, path, .other("device"))
            }
        }
    }

    /// The entry names of an open directory, sorted, without `.` and `..`.
    private static func names(in directoryFD: Int32, path: String) throws(ExecutorError) -> [String] {
        // fdopendir takes ownership of the descriptor it is given; the caller keeps its own.
        let own = dup(directoryFD)
        guard own >= 0, let stream = fdopendir(own) else {
            if own >= 0 { close(own) }
            throw ExecutorError("cannot list output directory \(path.isEmpty ? "." : path): \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
            guard names.count <= maxEntries else { break }
        }
        return names.sorted()
    }

    enum Read {
        case bytes([UInt8])
        case tooLarge(Int64)
        case skipped(String)
    }

    /// Reads the regular file `name` in `directoryFD` if it is at most `limit` bytes.
    static func readRegularFile(at directoryFD: Int32, name: String, limit: Int) -> Read {
        let fd = openat(directoryFD, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return .skipped("unreadable file") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return .skipped("not a regular file") }
        let size = Int64(info.st_size)
        guard size >= 0, size <= Int64(max(0, limit)) else { return .tooLarge(size) }
        // One byte more than the size it had, to notice a file that grows while being read.
        var bytes = [UInt8](repeating: 0, count: Int(size) + 1)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return .skipped("unreadable file") }
            if count == 0 { break }
            filled += count
        }
        if filled > Int(size) { return .tooLarge(Int64(filled)) }
        bytes.removeLast(bytes.count - filled)
        return .bytes(bytes)
    }
}

/// Formats a byte count for people: "512 bytes", "16 MiB", "6.0 GiB".
func formatBytes(_ count: Int64) -> String {
    let units: [(Int64, String)] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
    for (size, unit) in units where count >= size {
        if count % size == 0 { return "\(count / size) \(unit)" }
        let tenths = count / size * 10 + count % size * 10 / size
        return "\(tenths / 10).\(tenths % 10) \(unit)"
    }
    return "\(count) bytes"
}
