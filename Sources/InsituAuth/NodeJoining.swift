public import InsituModel

/// A token an administrator creates so that nodes can join the cluster (`insitu node join-token
/// create`). Like an API token only its hash is stored. It admits at most `maxUses` nodes until it
/// expires, pins the labels it carries onto each of them, and may ask for an administrator's
/// approval of each node before it gets a certificate.
public struct JoinTokenRecord: Hashable, Codable, Sendable {
    public var id: String
    /// A label for people (`factory-berlin`).
    public var name: String
    public var maxUses: Int
    public var uses: Int
    /// Labels every node joined with this token carries, whatever its config says.
    public var labels: [String: String]
    /// Whether each node waits for `insitu node approve` before it gets a certificate.
    public var manualApproval: Bool
    public var createdAt: Timestamp
    /// Join tokens always expire: one that leaks must not admit nodes forever.
    public var expiresAt: Timestamp
    public var revokedAt: Timestamp?
    public var secretHash: String

    public init(
        id: String, name: String, maxUses: Int, uses: Int = 0, labels: [String: String] = [:], manualApproval: Bool = false,
        createdAt: Timestamp, expiresAt: Timestamp, revokedAt: Timestamp? = nil, secretHash: String
    ) {
        self.id = id
        self.name = name
        self.maxUses = maxUses
        self.uses = uses
        self.labels = labels
        self.manualApproval = manualApproval
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.secretHash = secretHash
    }
}

/// What the orchestrator knows about a node's identity: who it is (the ID the orchestrator gave it,
/// which its certificate carries), which key it proved it holds, and whether it may connect.
public struct NodeIdentityRecord: Hashable, Codable, Sendable {
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Asked to join with a token that needs approval; has no certificate yet.
        case pending
        case approved
        case rejected
        /// Was approved; its certificates are refused from now on.
        case revoked
    }

    public var nodeID: NodeID
    /// The name the node asked to join with (its config's `name`).
    public var name: String
    public var state: State
    public var joinTokenID: String
    /// Lowercase hex SHA-256 of the DER public key the node's certificate request carried: a node
    /// that asks again with the same key (it restarted before storing its certificate) is the same
    /// request, not a second use of the token.
    public var publicKeyDigest: String
    /// The certificate request, kept so that approval can issue the certificate.
    public var requestPEM: String
    /// Labels pinned by the join token.
    public var labels: [String: String]
    public var requestedAt: Timestamp
    public var decidedAt: Timestamp?
    /// When the newest certificate issued to the node expires.
    public var certificateExpiresAt: Timestamp?

    public init(
        nodeID: NodeID, name: String, state: State, joinTokenID: String, publicKeyDigest: String, requestPEM: String,
        labels: [String: String], requestedAt: Timestamp, decidedAt: Timestamp? = nil, certificateExpiresAt: Timestamp? = nil
    ) {
        self.nodeID = nodeID
        self.name = name
        self.state = state
        self.joinTokenID = joinTokenID
        self.publicKeyDigest = publicKeyDigest
        self.requestPEM = requestPEM
        self.labels = labels
        self.requestedAt = requestedAt
        self.decidedAt = decidedAt
        self.certificateExpiresAt = certificateExpiresAt
    }
}

/// The decisions of node admission, as pure functions: the shell reads the stores and the clock.
public enum NodeJoining {
    /// Whether a presented join token may admit one more node. The store consumes the use itself,
    /// atomically, so two nodes racing for the last use cannot both win.
    public static func admit(presented text: String, record: (String) -> JoinTokenRecord?, now: Timestamp) -> Result<
        JoinTokenRecord, AuthFailure
    > {
        guard let presented = PresentedToken(text, prefix: PresentedToken.joinPrefix) else {
            return .failure(AuthFailure(
                .unauthenticated, code: "join_token_malformed",
                message: "the node's join token is not one (insitu_join_ followed by 16 hex digits, '_' and 43 characters); "
                    + "copy it whole from 'insitu node join-token create'"))
        }
        guard let stored = record(presented.id), PresentedToken.constantTimeEqual(stored.secretHash, presented.secretHash) else {
            return .failure(AuthFailure(
                .unauthenticated, code: "join_token_invalid",
                message: "the join token is not known to this orchestrator; create one with 'insitu node join-token create'"))
        }
        if let failure = usable(stored, now: now) { return .failure(failure) }
        return .success(stored)
    }

    /// Why a known join token admits no further node, or nil when it still does.
    public static func usable(_ token: JoinTokenRecord, now: Timestamp) -> AuthFailure? {
        if let revoked = token.revokedAt, revoked <= now {
            return AuthFailure(
                .unauthenticated, code: "join_token_revoked",
                message: "join token \(token.id) (\(token.name)) was revoked; create a new one with 'insitu node join-token create'")
        }
        if token.expiresAt <= now {
            return AuthFailure(
                .unauthenticated, code: "join_token_expired",
                message: "join token \(token.id) (\(token.name)) expired; create a new one with 'insitu node join-token create'")
        }
        if token.uses >= token.maxUses {
            return AuthFailure(
                .unauthenticated, code: "join_token_used",
                message: "join token \(token.id) (\(token.name)) admitted its \(token.maxUses) node\(token.maxUses == 1 ? "" : "s") already; "
                    + "create a new one with 'insitu node join-token create' (--uses N for several nodes)")
        }
        return nil
    }

    /// Whether a node that presents a certificate for `nodeID` may connect, given what the
    /// orchestrator holds about it.
    public static func mayConnect(_ nodeID: NodeID, record: NodeIdentityRecord?) -> AuthFailure? {
        guard let record else {
            return AuthFailure(
                .unauthenticated, code: "node_unknown",
                message: "node \(nodeID) is not known to this orchestrator; give the node a join token to join again")
        }
        switch record.state {
        case .approved:
            return nil
        case .pending:
            return AuthFailure(
                .forbidden, code: "node_pending", message: "node \(nodeID) waits for approval: 'insitu node approve \(nodeID)'")
        case .rejected:
            return AuthFailure(.forbidden, code: "node_rejected", message: "node \(nodeID) was rejected by an administrator")
        case .revoked:
            return AuthFailure(
                .forbidden, code: "node_revoked",
                message: "node \(nodeID) was revoked; its certificate is refused (a new join token makes it a new node)")
        }
    }

    /// The labels a joined node advertises: its own, with the join token's pinned labels winning.
    public static func labels(advertised: Labels, pinned: [String: String]) -> Labels {
        var labels = advertised
        for (key, value) in pinned { labels[key] = value }
        return labels
    }
}
