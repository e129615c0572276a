/// The newest entry of an audit log: its sequence number and hash. A node ships its head to the
/// orchestrator, which notices when a later head contradicts an earlier one (the log was
/// rewritten).
public struct AuditHead: Hashable, Codable, Sendable, CustomStringConvertible {
    public var seq: UInt64
    /// Lowercase hex SHA-256 of the entry (`AuditEntry.hash`).
    public var hash: String

    public init(seq: UInt64, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    public var description: String { "\(seq):\(hash.prefix(12))" }
}
