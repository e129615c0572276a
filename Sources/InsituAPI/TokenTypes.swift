public import InsituModel

/// `POST /v1/tokens`. Scopes by name (`job:submit`, ...); `ttlSeconds` 0 means the token never
/// expires, which must be asked for explicitly (nil takes the default of 30 days).
public struct CreateTokenRequest: Codable, Sendable {
    public var name: String
    public var namespace: String
    public var scopes: [String]
    public var ttlSeconds: Int64?

    public init(name: String, namespace: String, scopes: [String], ttlSeconds: Int64?) {
        self.name = name
        self.namespace = namespace
        self.scopes = scopes
        self.ttlSeconds = ttlSeconds
    }
}

/// A token as lists show it: never its secret, nor the secret's hash.
public struct TokenInfo: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable { case active, expired, revoked }
    public var id: String
    public var name: String
    public var namespace: String
    public var scopes: [String]
    public var state: State
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?

    public init(
        id: String, name: String, namespace: String, scopes: [String], state: State, createdAt: Timestamp,
        expiresAt: Timestamp?, revokedAt: Timestamp?
    ) {
        self.id = id
        self.name = name
        self.namespace = namespace
        self.scopes = scopes
        self.state = state
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}

/// The answer to `POST /v1/tokens`: the only time the secret is shown.
public struct CreatedToken: Codable, Sendable {
    public var token: String
    public var info: TokenInfo
    public init(token: String, info: TokenInfo) {
        self.token = token
        self.info = info
    }
}

/// `GET /v1/whoami`: the caller as the orchestrator sees it.
public struct WhoAmI: Codable, Sendable, Hashable {
    /// `token` or `development`.
    public var kind: String
    public var tokenID: String?
    public var tokenName: String?
    public var namespace: String
    public var scopes: [String]
    public init(kind: String, tokenID: String?, tokenName: String?, namespace: String, scopes: [String]) {
        self.kind = kind
        self.tokenID = tokenID
        self.tokenName = tokenName
        self.namespace = namespace
        self.scopes = scopes
    }
}
