public import InsituModel

/// `POST /v1/join-tokens`. `uses` nodes may join with the token (default 1) within `ttlSeconds`
/// (default one hour); `labels` are pinned on each of them; `manualApproval` makes each wait for
/// `insitu node approve`.
public struct CreateJoinTokenRequest: Codable, Sendable {
    public var name: String
    public var uses: Int?
    public var ttlSeconds: Int64?
    public var labels: [String: String]?
    public var manualApproval: Bool?

    public init(name: String, uses: Int? = nil, ttlSeconds: Int64? = nil, labels: [String: String]? = nil, manualApproval: Bool? = nil) {
        self.name = name
        self.uses = uses
        self.ttlSeconds = ttlSeconds
        self.labels = labels
        self.manualApproval = manualApproval
    }
}

/// A join token as lists show it: never its secret.
public struct JoinTokenInfo: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable { case active, used, expired, revoked }
    public var id: String
    public var name: String
    public var state: State
    public var maxUses: Int
    public var uses: Int
    public var labels: [String: String]
    public var manualApproval: Bool
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    public var revokedAt: Timestamp?

    public init(
        id: String, name: String, state: State, maxUses: Int, uses: Int, labels: [String: String], manualApproval: Bool,
        createdAt: Timestamp, expiresAt: Timestamp, revokedAt: Timestamp?
    ) {
        self.id = id
        self.name = name
        self.state = state
        self.maxUses = maxUses
        self.uses = uses
        self.labels = labels
        self.manualApproval = manualApproval
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}

/// The answer to `POST /v1/join-tokens`: the only time the secret is shown.
public struct CreatedJoinToken: Codable, Sendable {
    public var token: String
    public var info: JoinTokenInfo
    public init(token: String, info: JoinTokenInfo) {
        self.token = token
        self.info = info
    }
}

/// `POST /v1/node/join`, sent by an agent that has no certificate yet: its join token and a
/// certificate request for a key it made (the key stays on the node).
public struct NodeJoinRequest: Codable, Sendable {
    public var token: String
    /// PEM `CERTIFICATE REQUEST`.
    public var certificateRequest: String
    /// The node's name from its config, for people.
    public var name: String

    public init(token: String, certificateRequest: String, name: String) {
        self.token = token
        self.certificateRequest = certificateRequest
        self.name = name
    }
}

/// `POST /v1/node/renew`, sent over a connection that presents the node's current certificate:
/// a request for a new key, answered with a new certificate for the same node.
public struct NodeRenewRequest: Codable, Sendable {
    public var certificateRequest: String
    public init(certificateRequest: String) { self.certificateRequest = certificateRequest }
}

/// The answer to a join or renewal. `certificate` is set once the node is approved (200); while
/// it waits for approval the answer is 202 without one, and the node asks again.
public struct NodeJoinResponse: Codable, Sendable {
    public var nodeID: NodeID
    public var state: String
    /// PEM of the node's client certificate.
    public var certificate: String?
    /// PEM of the cluster CA, which the node trusts for its orchestrators.
    public var caCertificate: String?

    public init(nodeID: NodeID, state: String, certificate: String?, caCertificate: String?) {
        self.nodeID = nodeID
        self.state = state
        self.certificate = certificate
        self.caCertificate = caCertificate
    }
}

/// A node's identity as `GET /v1/node-identities` shows it.
public struct NodeIdentityInfo: Codable, Sendable, Hashable {
    public var nodeID: NodeID
    public var name: String
    /// pending, approved, rejected or revoked.
    public var state: String
    public var joinTokenID: String
    public var labels: [String: String]
    public var requestedAt: Timestamp
    public var decidedAt: Timestamp?
    public var certificateExpiresAt: Timestamp?

    public init(
        nodeID: NodeID, name: String, state: String, joinTokenID: String, labels: [String: String], requestedAt: Timestamp,
        decidedAt: Timestamp?, certificateExpiresAt: Timestamp?
    ) {
        self.nodeID = nodeID
        self.name = name
        self.state = state
        self.joinTokenID = joinTokenID
        self.labels = labels
        self.requestedAt = requestedAt
        self.decidedAt = decidedAt
        self.certificateExpiresAt = certificateExpiresAt
    }
}

public enum NodeIdentityPaths {
    public static let join = "/v1/node/join"
    public static let renew = "/v1/node/renew"
}
