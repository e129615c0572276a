public import InsituModel

/// What a node's newly reported audit head says about its log, given the head it reported
/// before.
public enum AuditHeadCheck: Hashable, Sendable {
    /// No earlier head is known: remember this one.
    case first
    /// Same head, or the log grew: fine.
    case consistent
    /// The head contradicts the earlier one: the node's log was rewritten (or lost).
    case rewritten(reason: String)
    /// The reported head is not a head (not a 64-digit lowercase hex hash, or seq 0).
    case malformed(reason: String)

    /// Compares `reported` with `known`. A log only grows, so a lower `seq`, or the same `seq`
    /// with another hash, means entries were removed or replaced. A higher `seq` is consistent
    /// as far as heads alone can tell.
    public static func compare(known: AuditHead?, reported: AuditHead) -> AuditHeadCheck {
        guard reported.seq > 0, Hex.isDigest(reported.hash) else {
            return .malformed(reason: "the reported audit head is not an entry number and a sha256")
        }
        guard let known else { return .first }
        if reported.seq < known.seq {
            return .rewritten(
                reason: "the node's audit log went back from entry \(known.seq) to entry \(reported.seq): "
                    + "entries were removed or the log was replaced")
        }
        if reported.seq == known.seq && reported.hash != known.hash {
            return .rewritten(
                reason: "the node's audit entry \(known.seq) changed (hash \(known.hash.prefix(12))… became \(reported.hash.prefix(12))…): "
                    + "the log was rewritten")
        }
        return .consistent
    }
}
