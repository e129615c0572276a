#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import InsituModel

/// The first thing wrong with a log, for people: which line, what kind of damage, and why.
public struct AuditProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// The line is not an audit entry at all (not JSON, or not an entry's shape).
        case corrupted
        /// The line's content changed after it was written (its hash or form does not match).
        case edited
        /// An entry is missing here, or entries were reordered or duplicated.
        case removedOrReordered
        /// The log ends inside an entry (a torn write, or the file was cut).
        case incomplete
    }

    public var line: Int
    public var kind: Kind
    public var reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// Checks a log line by line, keeping only the chain's head, so a log of any length is verified
/// in bounded memory. Feed every line (without its newline) to `check`, then call `finish` with
/// whatever followed the last newline.
///
/// Each line must be an entry in canonical form (`AuditValue.canonicalJSON`) whose hash matches
/// its content and whose `seq` and `prev` continue the line before. So an edited byte, a removed
/// entry or two swapped entries are each reported at the first line they break. A log cut after
/// a whole entry is a valid, shorter log: only a head kept elsewhere (the orchestrator keeps
/// each node's) can tell.
public struct AuditVerifier: Sendable {
    public private(set) var head: AuditHead?
    public private(set) var lines = 0
    /// The first problem found; once set, later lines are not checked.
    public private(set) var problem: AuditProblem?
    /// The entry of the last line checked, when it verified.
    public private(set) var last: AuditEntry?

    public init() {}

    /// Checks the next line; returns the log's first problem once there is one.
    @discardableResult
    public mutating func check(_ line: some Collection<UInt8>) -> AuditProblem? {
        guard problem == nil else { return problem }
        lines += 1
        switch Self.entry(Array(line), number: lines, after: head) {
        case .success(let entry):
            head = entry.head
            last = entry
        case .failure(let found):
            problem = found
            last = nil
        }
        return problem
    }

    /// Ends the check: `trailing` is what followed the last newline (empty for a whole log).
    @discardableResult
    public mutating func finish(trailing: some Collection<UInt8>) -> AuditProblem? {
        guard problem == nil, !trailing.isEmpty else { return problem }
        problem = AuditProblem(
            line: lines + 1, kind: .incomplete,
            reason: "the log ends in the middle of an entry (\(trailing.count) bytes without a newline): "
                + "the last write was torn or the file was cut")
        return problem
    }

    /// Verifies a whole log held in memory.
    public static func verify(_ log: [UInt8]) -> (head: AuditHead?, entries: Int, problem: AuditProblem?) {
        var verifier = AuditVerifier()
        var start = 0
        for index in log.indices where log[index] == UInt8(ascii: "\n") {
            if verifier.check(log[start..<index]) != nil { break }
            start = index + 1
        }
        if verifier.problem == nil { verifier.finish(trailing: log[start...]) }
        return (verifier.head, Int(verifier.head?.seq ?? 0), verifier.problem)
    }

    /// The entries of a log held in memory, up to its first problem.
    public static func entries(_ log: [UInt8]) -> (entries: [AuditEntry], problem: AuditProblem?) {
        var verifier = AuditVerifier()
        var entries: [AuditEntry] = []
        var start = 0
        for index in log.indices where log[index] == UInt8(ascii: "\n") {
            guard verifier.check(log[start..<index]) == nil, let entry = verifier.last else { break }
            entries.append(entry)
            start = index + 1
        }
        if verifier.problem == nil { verifier.finish(trailing: log[start...]) }
        return (entries, verifier.problem)
    }

    /// Decodes line `number` and checks it against the chain so far.
    static func entry(_ line: [UInt8], number: Int, after head: AuditHead?) -> Result<AuditEntry, AuditProblem> {
        func problem(_ kind: AuditProblem.Kind, _ reason: String) -> Result<AuditEntry, AuditProblem> {
            .failure(AuditProblem(line: number, kind: kind, reason: reason))
        }
        guard line.count <= AuditLimits.maxLineBytes else {
            return problem(.corrupted, "the line is \(line.count) bytes, longer than any entry (\(AuditLimits.maxLineBytes) bytes)")
        }
        guard let value = try? JSONDecoder().decode(AuditValue.self, from: Data(line)) else {
            return problem(.corrupted, "not a JSON object: the entry is damaged or was edited")
        }
        guard let entry = AuditEntry(value) else {
            return problem(.corrupted, "JSON, but not an audit entry (a field is missing, unknown or of the wrong type)")
        }
        guard entry.line.dropLast().elementsEqual(line) else {
            return problem(.edited, "the entry was edited: its bytes are not the canonical form of its content")
        }
        guard Hex.isDigest(entry.hash), entry.computedHash() == entry.hash else {
            return problem(.edited, "the entry was edited: its hash does not match its content")
        }
        let expected = (head?.seq ?? 0) + 1
        guard entry.seq == expected else {
            if entry.seq > expected {
                return problem(
                    .removedOrReordered,
                    "expected entry \(expected), found entry \(entry.seq): entries were removed before this line, or moved")
            }
            return problem(
                .removedOrReordered,
                "expected entry \(expected), found entry \(entry.seq) again or out of order: entries were reordered or duplicated")
        }
        guard entry.prev == (head?.hash ?? AuditEntry.genesis) else {
            return problem(
                .removedOrReordered,
                "entry \(entry.seq) does not follow the line before it (its prev is not that entry's hash): "
                    + "an entry was replaced, or the log was spliced from another")
        }
        return .success(entry)
    }
}
