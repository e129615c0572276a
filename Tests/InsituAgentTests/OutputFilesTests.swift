import Foundation
@testable import InsituAgent
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Collecting a job's outputs never reads through links or special files, and never reads more
/// than a result may carry.
@Suite struct OutputFilesTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-outputs-\(UUID().uuidString)").path

    /// `base/secret/secret.txt` outside the output root, and `base/out` as the root.
    func makeTree() throws -> (root: String, secret: String) {
        let root = base + "/out"
        let secretDirectory = base + "/secret"
        try FileManager.default.createDirectory(atPath: root + "/nested", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: secretDirectory, withIntermediateDirectories: true)
        let secret = "TOP-SECRET-\(UUID().uuidString)"
        try Data(secret.utf8).write(to: URL(fileURLWithPath: secretDirectory + "/secret.txt"))
        try Data("a\n".utf8).write(to: URL(fileURLWithPath: root + "/a.txt"))
        try Data("b\n".utf8).write(to: URL(fileURLWithPath: root + "/nested/b.txt"))
        return (root, secret)
    }

    @Test func linksFIFOsAndSocketsStayBehindAndNothingOutsideTheRootIsRead() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (root, secret) = try makeTree()
        #expect(symlink(base + "/secret/secret.txt", root + "/absolute") == 0)
        #expect(symlink("../secret/secret.txt", root + "/relative") == 0)
        #expect(symlink("../../secret", root + "/nested/directory") == 0)
        #expect(symlink("/etc/passwd", root + "/passwd") == 0)
        #expect(symlink("/proc/self/environ", root + "/environ") == 0)
        #expect(mkfifo(root + "/fifo", 0o644) == 0)

        let collected = try OutputFiles.collect(root: root, label: "outputs/r", budget: 1 << 20)
        #expect(collected.files == [.init(path: "a.txt", bytes: Array("a\n".utf8)), .init(path: "nested/b.txt", bytes: Array("b\n".utf8))])
        #expect(collected.totalBytes == 4)
        let skipped = Dictionary(uniqueKeysWithValues: collected.skipped.map { ($0.path, $0.kind) })
        #expect(
            skipped == [
                "absolute": "symbolic link", "relative": "symbolic link", "nested/directory": "symbolic link",
                "passwd": "symbolic link", "environ": "symbolic link", "fifo": "FIFO",
            ])
        for file in collected.files {
            #expect(!String(decoding: file.bytes, as: UTF8.self).contains(secret))
        }
    }

    @Test func aRootReplacedByALinkIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (root, _) = try makeTree()
        try FileManager.default.removeItem(atPath: root)
        #expect(symlink(base + "/secret", root) == 0)
        #expect(throws: (any Error).self) { try OutputFiles.collect(root: root, label: "outputs/r", budget: 1 << 20) }
    }

    @Test func anUnreadableFileIsSkipped() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (root, _) = try makeTree()
        try Data("hidden".utf8).write(to: URL(fileURLWithPath: root + "/locked"))
        #expect(chmod(root + "/locked", 0) == 0)
        let collected = try OutputFiles.collect(root: root, label: "outputs/r", budget: 1 << 20)
        if geteuid() == 0 {
            // root reads it regardless of its mode; then it is an ordinary regular file.
            #expect(collected.files.map(\.path) == ["a.txt", "locked", "nested/b.txt"])
        } else {
            #expect(collected.skipped == [.init(path: "locked", kind: "unreadable file")])
        }
    }

    @Test func formatBytesIsReadable() {
        #expect(formatBytes(512) == "512 bytes")
        #expect(formatBytes(16 << 20) == "16 MiB")
        #expect(formatBytes(6 << 30) == "6 GiB")
        #expect(formatBytes(1536) == "1.5 KiB")
        #expect(formatBytes(Int64.max).hasSuffix("GiB"))
    }
}
