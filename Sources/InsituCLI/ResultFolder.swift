import Foundation
import InsituAPI
import InsituModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where `job results` writes: a destination folder and, inside it, one folder per partition.
///
/// Writes go through directory descriptors opened without following links, so a symbolic link
/// already in the destination (`--force` into a folder someone else can write to) cannot send a
/// result file elsewhere: the write fails and says so.
struct ResultFolder {
    let path: String
    private let descriptor: Int32

    enum Failure: Error, CustomStringConvertible {
        case notEmpty(String)
        case notADirectory(String)
        case cannotOpen(String, String)
        case link(String)

        var description: String {
            switch self {
            case .notEmpty(let path):
                return
                    "\(path) exists and is not empty: give another folder with --dest, or pass --force to write into it (files of the same name are replaced)"
            case .notADirectory(let path): return "\(path) exists and is not a folder: give another one with --dest"
            case .cannotOpen(let path, let reason): return "cannot write \(path): \(reason)"
            case .link(let path):
                return "\(path) is a symbolic link: results are never written through links; remove it or choose another --dest"
            }
        }
    }

    /// The folder `job results` writes to when no `--dest` is given: the job's name and the start
    /// of its ID, in the current directory (`./count-words-j-3f2a1b`).
    static func defaultName(jobName: String, id: String) -> String {
        let safeName = jobName.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
        return (safeName.isEmpty ? "job" : safeName) + "-" + id.prefix(8)
    }

    /// Opens (creating it if needed) the destination; an existing non-empty one only with `force`.
    init(path: String, force: Bool) throws {
        var status = stat()
        if lstat(path, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR || (status.st_mode & S_IFMT) == S_IFLNK else { throw Failure.notADirectory(path) }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            if !entries.isEmpty && !force { throw Failure.notEmpty(path) }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw Failure.cannotOpen(path, error.localizedDescription)
            }
        }
        // The destination itself is the user's choice, link or not; nothing below it is followed.
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure.cannotOpen(path, String(cString: strerror(errno))) }
        self.path = path
        self.descriptor = descriptor
    }

    func finish() { _ = close(descriptor) }

    /// Writes `data` at `relative` (components separated by `/`, each checked by the caller),
    /// creating folders on the way; replaces a regular file of that name.
    func store(_ data: Data, at relative: String) throws {
        let components = relative.split(separator: "/").map(String.init)
        guard let name = components.last, !components.contains(where: { $0 == "." || $0 == ".." || $0.isEmpty }) else {
            throw Failure.cannotOpen(path + "/" + relative, "not a relative path inside the destination")
        }
        var directory = dup(descriptor)
        guard directory >= 0 else { throw Failure.cannotOpen(path, String(cString: strerror(errno))) }
        defer { _ = close(directory) }
        var walked = path
        for component in components.dropLast() {
            walked += "/" + component
            var next = openat(directory, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT {
                guard mkdirat(directory, component, 0o755) == 0 || errno == EEXIST else {
                    throw Failure.cannotOpen(walked, String(cString: strerror(errno)))
                }
                next = openat(directory, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard next >= 0 else { throw failure(walked, in: directory, name: component) }
            _ = close(directory)
            directory = next
        }
        let target = walked + "/" + name
        let file = openat(directory, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard file >= 0 else { throw failure(target, in: directory, name: name) }
        defer { _ = close(file) }
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(file, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure.cannotOpen(target, String(cString: strerror(errno)))
                }
                offset += written
            }
        }
    }

    /// The folder of each partition: `partition-N` for batch jobs; for ops jobs (one partition per
    /// node) the node's name, unless it cannot name a folder or two partitions share it.
    static func partitionFolders(type: JobType, nodeNames: [Int: String]) -> [Int: String] {
        var folders: [Int: String] = [:]
        let counts = Dictionary(nodeNames.values.map { ($0, 1) }, uniquingKeysWith: +)
        for (partition, name) in nodeNames {
            let usable = type == .ops && counts[name] == 1 && !name.hasPrefix("partition-") && isFolderName(name)
            folders[partition] = usable ? name : "partition-\(partition)"
        }
        return folders
    }

    /// One path component that means nothing special and shows as itself.
    static func isFolderName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && name.utf8.count <= 255 && !name.hasPrefix(".")
            && !name.unicodeScalars.contains { $0 == "/" || $0 == "\\" || $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// Why opening `name` failed: a link gets its own message.
    private func failure(_ shown: String, in directory: Int32, name: String) -> Failure {
        let reason = errno
        var status = stat()
        if fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0, (status.st_mode & S_IFMT) == S_IFLNK { return .link(shown) }
        return .cannotOpen(shown, String(cString: strerror(reason)))
    }
}
