import Foundation
public import InsituAudit
public import InsituModel

/// What checking an audit log file found.
public struct AuditFileReport: Sendable {
    /// Valid entries before the first problem (all of them when there is none).
    public var entries: Int
    /// The last valid entry's head; nil for an empty log.
    public var head: AuditHead?
    public var problem: AuditProblem?
}

public enum AuditFileCheck {
    /// Verifies the log at `path`, reading it in chunks, so memory stays bounded whatever its
    /// size. A missing file is an empty log. Throws only when the file cannot be read.
    public static func verify(path: String) throws -> AuditFileReport {
        try verify(path: path, visit: nil)
    }

    /// Lines `after + 1` to `after + limit` of the log (each with its newline) as the file holds
    /// them, checked on the way like `verify`: a damaged log yields its first problem instead
    /// of lines past it. Reads the log from its start (a page costs a read of everything before it).
    public static func page(path: String, after: UInt64, limit: Int) throws -> (lines: [UInt8], problem: AuditProblem?) {
        var lines: [UInt8] = []
        var taken = 0
        let report = try verify(path: path) { entry, line in
            if entry.seq > after {
                lines += line
                lines.append(UInt8(ascii: "\n"))
                taken += 1
            }
            return taken < limit
        }
        return (lines, report.problem)
    }

    /// `visit` sees each valid entry and its line (without the newline); returning false stops
    /// the read there.
    static func verify(path: String, visit: ((AuditEntry, ArraySlice<UInt8>) -> Bool)?) throws -> AuditFileReport {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if descriptor < 0 {
            if errno == ENOENT { return AuditFileReport(entries: 0, head: nil, problem: nil) }
            throw AuditLogError("cannot open the audit log \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var verifier = AuditVerifier()
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        reading: while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw AuditLogError("cannot read the audit log \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            var start = 0
            for index in 0..<count where chunk[index] == UInt8(ascii: "\n") {
                var keepReading = true
                if pending.isEmpty {
                    verifier.check(chunk[start..<index])
                    if let visit, let entry = verifier.last { keepReading = visit(entry, chunk[start..<index]) }
                } else {
                    pending += chunk[start..<index]
                    verifier.check(pending)
                    if let visit, let entry = verifier.last { keepReading = visit(entry, pending[...]) }
                    pending.removeAll(keepingCapacity: true)
                }
                if verifier.problem != nil { break reading }
                start = index + 1
                if !keepReading { return AuditFileReport(entries: Int(verifier.head?.seq ?? 0), head: verifier.head, problem: nil) }
            }
            pending += chunk[start..<count]
            if pending.count > AuditLimits.maxLineBytes {
                verifier.check(pending)
                break
            }
        }
        if verifier.problem == nil { verifier.finish(trailing: pending) }
        return AuditFileReport(entries: Int(verifier.head?.seq ?? 0), head: verifier.head, problem: verifier.problem)
    }
}

public struct AuditLogError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
