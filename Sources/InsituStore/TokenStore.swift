public import InsituAuth
public import InsituModel

/// Where the orchestrator keeps API tokens (hashes only). Separate from `OrchestratorStore`'s
/// batches: a token changes on its own, never together with jobs, and every write is durable
/// before the call returns.
public protocol TokenStore: Sendable {
    /// Stores a new token; a `.conflict` StoreError when its ID exists already.
    func insertToken(_ record: TokenRecord) async throws
    func token(id: String) async throws -> TokenRecord?
    /// Every token, revoked and expired ones included, oldest first.
    func tokens() async throws -> [TokenRecord]
    /// Marks the token revoked at `time` (a second revocation keeps the first time). Returns the
    /// updated record, or nil when there is no such token.
    func revokeToken(id: String, at time: Timestamp) async throws -> TokenRecord?
}
