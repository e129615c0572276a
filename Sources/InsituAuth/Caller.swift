/// Who is calling the API, as authentication established it: the context every handler
/// authorises against and the audit log records.
public struct Caller: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        /// A request that presented a valid token.
        case token
        /// Any request to an orchestrator started with `--dev`: no authentication at all.
        case development
    }

    public var kind: Kind
    /// The token's ID; nil in development mode.
    public var tokenID: String?
    public var tokenName: String?
    /// The namespace the caller acts in, or `Namespace.all`.
    public var namespace: String
    public var scopes: Set<Scope>

    public init(kind: Kind, tokenID: String?, tokenName: String?, namespace: String, scopes: Set<Scope>) {
        self.kind = kind
        self.tokenID = tokenID
        self.tokenName = tokenName
        self.namespace = namespace
        self.scopes = scopes
    }

    public init(token: TokenRecord) {
        self.init(kind: .token, tokenID: token.id, tokenName: token.name, namespace: token.namespace, scopes: token.scopes)
    }

    public static let development = Caller(
        kind: .development, tokenID: nil, tokenName: nil, namespace: Namespace.all, scopes: Set(Scope.allCases))

    /// Whether this caller may see and act on things in `namespace`.
    public func canAccess(namespace other: String) -> Bool {
        namespace == Namespace.all || namespace == other
    }

    /// The namespace a list request shows, nil for all of them.
    public var visibleNamespace: String? { namespace == Namespace.all ? nil : namespace }
}
