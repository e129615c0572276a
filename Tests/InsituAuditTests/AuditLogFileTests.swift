import Foundation
import InsituAudit
import InsituAuditFile
import InsituModel
import Testing

/// The log on disk: appends survive reopening, the chain resumes, and a damaged log is refused.
struct AuditLogFileTests {
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-audit-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func event(_ action: String) -> AuditEvent {
        AuditEvent(time: Timestamp(milliseconds: 5), actor: .system, action: action)
    }

    @Test func aReopenedLogResumesItsChain() throws {
        let path = try Self.directory() + "/audit.log"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        do {
            let log = try AuditLog(path: path)
            try log.append(Self.event("one"))
            try log.append(Self.event("two"))
        }
        let log = try AuditLog(path: path)
        #expect(log.head?.seq == 2)
        let third = try log.append(Self.event("three"))
        #expect(third.seq == 3)
        let report = try AuditFileCheck.verify(path: path)
        #expect(report.problem == nil)
        #expect(report.entries == 3)
        #expect(report.head == third.head)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func aDamagedLogIsRefusedWithWhereAndHowToRecover() throws {
        let path = try Self.directory() + "/audit.log"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        do {
            let log = try AuditLog(path: path)
            for index in 0..<3 { try log.append(Self.event("e\(index)")) }
        }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try AuditLog(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains("is damaged at line") && text.contains("move it aside")
        }
    }

    @Test func aSecondWriterOfTheSameLogIsRefused() throws {
        let path = try Self.directory() + "/audit.log"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let first = try AuditLog(path: path)
        #expect(throws: AuditLogError.self) { _ = try AuditLog(path: path) }
        withExtendedLifetime(first) {}
    }

    @Test func writersOfOneLogInOneProcessShareItsChain() throws {
        let path = try Self.directory() + "/audit.log"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let first = try AuditLog.shared(path: path)
        let second = try AuditLog.shared(path: path)
        #expect(first === second)
        try first.append(Self.event("one"))
        try second.append(Self.event("two"))
        #expect(try AuditFileCheck.verify(path: path).entries == 2)
    }

    /// Appends from many threads at once (their flushes shared) still make one valid chain with
    /// every entry in it.
    @Test func concurrentAppendsMakeOneValidChain() async throws {
        let path = try Self.directory() + "/audit.log"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let log = try AuditLog(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask { for index in 0..<40 { try log.append(Self.event("w\(writer)-\(index)")) } }
            }
            try await group.waitForAll()
        }
        let report = try AuditFileCheck.verify(path: path)
        #expect(report.problem == nil)
        #expect(report.entries == 320)
        #expect(report.head == log.head)
    }

    @Test func aLogLongerThanOneReadChunkVerifiesLineByLine() throws {
        let path = try Self.directory() + "/audit.log"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        var head: AuditHead?
        var text: [UInt8] = []
        // About 3 MiB: lines straddle the 1 MiB read chunks.
        let padding = AuditValue.string(String(repeating: "p", count: 400))
        for index in 0..<7000 {
            let entry = AuditEntry(after: head, event: AuditEvent(time: Timestamp(milliseconds: Int64(index)), actor: .system, action: "a", details: ["p": padding]))
            head = entry.head
            text += entry.line
        }
        try Data(text).write(to: URL(fileURLWithPath: path))
        let report = try AuditFileCheck.verify(path: path)
        #expect(report.problem == nil)
        #expect(report.head == head)
    }
}
