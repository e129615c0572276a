public import InsituAuth
public import InsituModel

/// Where the orchestrator keeps join tokens (hashes only) and the identities of the nodes they
/// admitted. Like `TokenStore`, every write is durable before the call returns.
public protocol NodeIdentityStore: Sendable {
    /// Stores a new join token; a `.conflict` StoreError when its ID exists already.
    func insertJoinToken(_ record: JoinTokenRecord) async throws
    func joinToken(id: String) async throws -> JoinTokenRecord?
    /// Every join token, oldest first.
    func joinTokens() async throws -> [JoinTokenRecord]
    /// Marks the join token revoked at `time`; nil when there is no such token.
    func revokeJoinToken(id: String, at time: Timestamp) async throws -> JoinTokenRecord?

    /// Records a node's request to join, in one transaction: when a node with the same join token
    /// and public key asked before, returns that node unchanged (no use is consumed: the node
    /// restarted before it stored its certificate); otherwise consumes one use of the token, which
    /// must still be usable at `now` (`NodeJoining.usable`), and stores `request`. Throws an
    /// `AuthFailure` when the token admits no further node.
    func join(_ request: NodeIdentityRecord, now: Timestamp) async throws -> NodeIdentityRecord
    func nodeIdentity(_ id: NodeID) async throws -> NodeIdentityRecord?
    /// Every node identity, oldest request first.
    func nodeIdentities() async throws -> [NodeIdentityRecord]
    /// Moves a node to `state` (approve, reject, revoke) at `time`, recording the expiry of the
    /// certificate issued with the change, if any. Returns the updated record, or nil when there
    /// is no such node.
    /// Records that a certificate expiring at `expiresAt` was issued to the node.
    func recordCertificate(_ id: NodeID, expiresAt: Timestamp) async throws
    func decideNode(_ id: NodeID, state: NodeIdentityRecord.State, at time: Timestamp, certificateExpiresAt: Timestamp?) async throws
        -> NodeIdentityRecord?
}
