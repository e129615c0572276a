public import InsituModel

/// Why a request is refused. `unauthenticated` maps to 401 (present a valid token), the others to
/// 403 (the token is valid but may not do this) or 404 (the thing is not in the caller's
/// namespace: its existence is not revealed).
public struct AuthFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case unauthenticated
        case forbidden
        case notInNamespace
    }
    public var kind: Kind
    /// Stable machine-readable code for API clients (`token_missing`, `token_expired`, ...).
    public var code: String
    public var message: String

    public init(_ kind: Kind, code: String, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// The decisions of authentication and authorisation, as pure functions: the shell looks the
/// token up and reads the clock; these say yes or no and why.
public enum Authorization {
    /// Establishes the caller from an `Authorization` header value and the stored record of the
    /// token it names (nil when there is none). Every refusal says what to do about it.
    public static func authenticate(header: String?, record: (String) -> TokenRecord?, now: Timestamp) -> Result<Caller, AuthFailure> {
        guard let header, !header.isEmpty else {
            return .failure(AuthFailure(
                .unauthenticated, code: "token_missing",
                message: "this API needs a token: send the header 'Authorization: Bearer <token>' "
                    + "(the CLI reads --token or $INSITU_TOKEN); an administrator creates one with 'insitu token create'"))
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            return .failure(AuthFailure(
                .unauthenticated, code: "token_malformed",
                message: "the Authorization header must be 'Bearer <token>'"))
        }
        guard let presented = presentedToken(in: header) else {
            return .failure(AuthFailure(
                .unauthenticated, code: "token_malformed",
                message: "the bearer value is not an Insitu token (insitu_ followed by 16 hex digits, '_' and 43 characters)"))
        }
        // The same answer for an unknown ID and a wrong secret: neither tells a guesser anything.
        guard let stored = record(presented.id), PresentedToken.constantTimeEqual(stored.secretHash, presented.secretHash) else {
            return .failure(AuthFailure(
                .unauthenticated, code: "token_invalid",
                message: "the token is not known to this orchestrator; check that it was copied whole and belongs to this cluster"))
        }
        if let revoked = stored.revokedAt, revoked <= now {
            return .failure(AuthFailure(
                .unauthenticated, code: "token_revoked",
                message: "token \(stored.id) (\(stored.name)) was revoked; ask an administrator for a new one"))
        }
        if let expires = stored.expiresAt, expires <= now {
            return .failure(AuthFailure(
                .unauthenticated, code: "token_expired",
                message: "token \(stored.id) (\(stored.name)) expired; ask an administrator for a new one"))
        }
        return .success(Caller(token: stored))
    }

    /// The token a header value presents, if it is `Bearer <well-formed token>`: what the shell
    /// looks up before calling `authenticate`.
    public static func presentedToken(in header: String) -> PresentedToken? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return PresentedToken(String(parts[1]))
    }

    /// Whether `caller` may use `scope`, and, for something that lives in a namespace, whether it
    /// may see that namespace. Every check must pass: one failing check denies. The scope is checked
    /// first, so a token without it learns nothing about what exists.
    public static func authorize(_ caller: Caller, _ scope: Scope, namespace: String? = nil, what: String? = nil) -> AuthFailure? {
        guard caller.scopes.contains(scope) else {
            let held = caller.scopes.sorted().map(\.rawValue).joined(separator: ", ")
            return AuthFailure(
                .forbidden, code: "scope_missing",
                message: "token \(caller.tokenID ?? "?") lacks the scope \(scope.rawValue) (it has: \(held.isEmpty ? "none" : held)); "
                    + "ask an administrator for a token with it")
        }
        if let namespace, !caller.canAccess(namespace: namespace) {
            return AuthFailure(
                .notInNamespace, code: "not_found",
                message: "\(what ?? "it") does not exist in namespace \(caller.namespace)")
        }
        return nil
    }
}
