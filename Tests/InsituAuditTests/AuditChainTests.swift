import Foundation
import InsituAudit
import InsituModel
import Testing

/// The chain and its verifier, pure: every kind of damage is found at the right line, with the
/// right reason.
struct AuditChainTests {
    /// A log of `count` entries of varied shape (escapes, non-ASCII, nested lists and objects).
    static func log(_ count: Int = 6) -> (bytes: [UInt8], entries: [AuditEntry]) {
        var entries: [AuditEntry] = []
        for index in 0..<count {
            let event = AuditEvent(
                time: Timestamp(milliseconds: 1_700_000_000_000 + Int64(index)),
                actor: index % 2 == 0 ? .anonymous : AuditActor(kind: .token, id: "t-\(index)", namespace: "ns"),
                action: index == 0 ? "job.submit" : "result.accept", outcome: index == 3 ? .refused : .ok,
                details: [
                    "job": .string("j-\(index)"), "note": "quote \" backslash \\ newline \n tab \t bell \u{07} é ✓",
                    "files": .list([.object(["path": "outputs/a/x.csv", "sha256": .string(String(repeating: "ab", count: 32)), "size": 42])]),
                ])
            entries.append(AuditEntry(after: entries.last?.head, event: event))
        }
        return (entries.flatMap(\.line), entries)
    }

    static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map(Array.init)
    }

    static func join(_ lines: [[UInt8]]) -> [UInt8] { lines.flatMap { $0 + [UInt8(ascii: "\n")] } }

    @Test func anUntouchedChainVerifiesAndEndsAtItsLastEntry() {
        let (bytes, entries) = Self.log()
        let result = AuditVerifier.verify(bytes)
        #expect(result.problem == nil)
        #expect(result.entries == entries.count)
        #expect(result.head == entries.last?.head)
        #expect(entries.map(\.seq) == Array(1...UInt64(entries.count)))
        #expect(entries.first?.prev == AuditEntry.genesis)
        #expect(AuditVerifier.verify([]).problem == nil)
    }

    @Test func theCanonicalFormSortsKeysAndEscapesOnlyWhatJSONNeeds() {
        let value = AuditValue.object(["b": 1, "a": .list(["x\"\\\n\u{01}é", -5])])
        #expect(String(decoding: value.canonicalJSON(), as: UTF8.self) == #"{"a":["x\"\\\n\u0001é",-5],"b":1}"#)
    }

    /// Every single byte of the log, changed: each change is found, at its own line or (for a
    /// newline) where the line it joined or split breaks.
    @Test func changingAnyOneByteOfAnyEntryIsDetected() {
        let (bytes, _) = Self.log(3)
        var lineOf: [Int] = []
        var line = 1
        for byte in bytes {
            lineOf.append(line)
            if byte == UInt8(ascii: "\n") { line += 1 }
        }
        for index in bytes.indices {
            for flip: UInt8 in [0x01, 0x20] {
                var damaged = bytes
                damaged[index] ^= flip
                let problem = AuditVerifier.verify(damaged).problem
                #expect(problem != nil, "byte \(index) (line \(lineOf[index])) ^ \(flip) went unnoticed")
                #expect(problem.map { $0.line <= lineOf[index] + 1 } ?? false, "byte \(index): \(String(describing: problem))")
            }
        }
    }

    @Test func anEditedValueIsReportedAsAnEditAtItsLine() {
        let (bytes, _) = Self.log()
        var lines = Self.lines(bytes)
        let text = String(decoding: lines[2], as: UTF8.self).replacingOccurrences(of: "\"j-2\"", with: "\"j-9\"")
        lines[2] = Array(text.utf8)
        let problem = AuditVerifier.verify(Self.join(lines)).problem
        #expect(problem?.line == 3)
        #expect(problem?.kind == .edited)
        #expect(problem?.description.contains("hash does not match its content") == true)
    }

    @Test func aReformattedButEquivalentLineIsReportedAsAnEdit() {
        let (bytes, _) = Self.log()
        var lines = Self.lines(bytes)
        lines[1] = Array(("{ " + String(decoding: lines[1].dropFirst(), as: UTF8.self)).utf8)
        let problem = AuditVerifier.verify(Self.join(lines)).problem
        #expect(problem?.line == 2)
        #expect(problem?.kind == .edited)
        #expect(problem?.description.contains("not the canonical form") == true)
    }

    @Test(arguments: [0, 2, 5]) func aRemovedEntryIsReportedWhereTheChainBreaks(removed: Int) {
        let (bytes, entries) = Self.log()
        var lines = Self.lines(bytes)
        lines.remove(at: removed)
        let result = AuditVerifier.verify(Self.join(lines))
        if removed == entries.count - 1 {
            // The last entry gone leaves a valid, shorter log: only a head kept elsewhere shows it.
            #expect(result.problem == nil)
            #expect(result.head == entries[removed - 1].head)
        } else {
            #expect(result.problem?.line == removed + 1)
            #expect(result.problem?.kind == .removedOrReordered)
            #expect(result.problem?.description.contains("expected entry \(removed + 1), found entry \(removed + 2)") == true)
        }
    }

    @Test func twoSwappedEntriesAreReportedAsReordered() {
        let (bytes, _) = Self.log()
        var lines = Self.lines(bytes)
        lines.swapAt(1, 2)
        let problem = AuditVerifier.verify(Self.join(lines)).problem
        #expect(problem?.line == 2)
        #expect(problem?.kind == .removedOrReordered)
    }

    /// An entry replaced by one chained elsewhere (right seq, its own valid hash) breaks `prev`.
    @Test func anEntryReplacedWithAValidlyHashedForgeryIsReportedAtItsLine() {
        let (_, entries) = Self.log()
        let forged = AuditEntry(
            after: AuditHead(seq: 2, hash: String(repeating: "f", count: 64)),
            event: AuditEvent(time: Timestamp(milliseconds: 0), actor: .system, action: "nothing.happened"))
        var lines = entries.map { Array($0.line.dropLast()) }
        lines[2] = Array(forged.line.dropLast())
        let problem = AuditVerifier.verify(Self.join(lines)).problem
        #expect(problem?.line == 3)
        #expect(problem?.kind == .removedOrReordered)
        #expect(problem?.description.contains("does not follow the line before it") == true)
    }

    @Test func aTruncatedLastLineIsReportedAsIncomplete() {
        let (bytes, entries) = Self.log()
        let result = AuditVerifier.verify(Array(bytes.dropLast(10)))
        #expect(result.problem?.kind == .incomplete)
        #expect(result.problem?.line == entries.count)
        #expect(result.entries == entries.count - 1)
    }

    @Test func aLineCutShortInsideTheLogIsReportedAsCorrupted() {
        let (bytes, _) = Self.log()
        var lines = Self.lines(bytes)
        lines[3] = Array(lines[3].prefix(40))
        let problem = AuditVerifier.verify(Self.join(lines)).problem
        #expect(problem?.line == 4)
        #expect(problem?.kind == .corrupted)
    }

    @Test func fieldsFromOutsideAreBoundedBeforeTheyAreChained() {
        let huge = String(repeating: "x", count: 100_000)
        let entry = AuditEntry(
            after: nil,
            event: AuditEvent(
                time: Timestamp(milliseconds: 1), actor: AuditActor(kind: .node, id: huge), action: huge,
                details: ["reason": .string(huge), "name": .string(huge), "list": .list(Array(repeating: "y", count: 10_000))]))
        #expect(entry.line.count < 64 << 10, "\(entry.line.count) bytes")
        #expect(entry.event.actor.id?.utf8.count == AuditLimits.maxStringBytes)
        #expect(AuditVerifier.verify(entry.line).problem == nil)
    }

    @Test func headsThatGoBackOrChangeAreARewrite() {
        let a = String(repeating: "a", count: 64)
        let b = String(repeating: "b", count: 64)
        #expect(AuditHeadCheck.compare(known: nil, reported: AuditHead(seq: 3, hash: a)) == .first)
        #expect(AuditHeadCheck.compare(known: AuditHead(seq: 3, hash: a), reported: AuditHead(seq: 3, hash: a)) == .consistent)
        #expect(AuditHeadCheck.compare(known: AuditHead(seq: 3, hash: a), reported: AuditHead(seq: 9, hash: b)) == .consistent)
        guard case .rewritten = AuditHeadCheck.compare(known: AuditHead(seq: 9, hash: a), reported: AuditHead(seq: 2, hash: b)) else {
            Issue.record("a head that went back was not flagged")
            return
        }
        guard case .rewritten = AuditHeadCheck.compare(known: AuditHead(seq: 9, hash: a), reported: AuditHead(seq: 9, hash: b)) else {
            Issue.record("the same entry with another hash was not flagged")
            return
        }
        guard case .malformed = AuditHeadCheck.compare(known: nil, reported: AuditHead(seq: 1, hash: "zz")) else {
            Issue.record("a malformed head was accepted")
            return
        }
    }
}

@Suite struct AuditRateLimitTests {
    @Test func aFloodCostsAFewEntriesPerWindowAndTheNextOneCountsTheRest() {
        var limit = AuditRateLimit(perWindow: 2, windowMillis: 1_000)
        #expect(limit.admit(now: 0) == 0)
        #expect(limit.admit(now: 10) == 0)
        for step in 0..<5 { #expect(limit.admit(now: 20 + Int64(step)) == nil) }
        // The next window admits again, reporting the five suppressed before it.
        #expect(limit.admit(now: 1_000) == 5)
        #expect(limit.admit(now: 1_001) == 0)
        #expect(limit.admit(now: 1_002) == nil)
        // A clock that goes back starts a new window instead of suppressing forever.
        #expect(limit.admit(now: 500) == 1)
    }
}
