import InsituAuth
import InsituModel
import InsituStore

/// Checks a presented API token against the token store: the one check behind both the REST
/// API's `Authorization` header and the dashboard's session cookie, so neither can accept a
/// token the other would refuse.
struct TokenAuthenticator: Sendable {
    let tokens: any TokenStore
    let clock: @Sendable () -> Timestamp

    /// The caller an `Authorization` header value establishes, or why it is refused.
    func authenticate(header: String?) async throws -> Result<Caller, AuthFailure> {
        var record: TokenRecord?
        if let value = header, let presented = Authorization.presentedToken(in: value) {
            record = try await tokens.token(id: presented.id)
        }
        return Authorization.authenticate(header: header, record: { id in record?.id == id ? record : nil }, now: clock())
    }
}
