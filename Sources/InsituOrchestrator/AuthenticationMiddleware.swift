import Hummingbird
import InsituAudit
import InsituAuditFile
import InsituAuth
import InsituModel
import InsituStore

/// How the REST API establishes who is calling.
public enum APIAuthentication: Sendable {
    /// `--dev`: no authentication; every request acts with every scope in every namespace.
    case development
    /// Every request but the health check presents a bearer token.
    case tokens
}

/// Establishes the caller of every request before any handler runs, and refuses a request
/// without a valid token with 401 and a message that says what to do.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let authentication: APIAuthentication
    let tokens: any TokenStore
    let clock: @Sendable () -> Timestamp
    var audit: AuditTrail? = nil

    /// Routes anyone may call: a load balancer's health probe carries no token, the OpenAPI
    /// document is the checked-in docs/openapi.json (tools fetch it before they have a token),
    /// and nodes download modules by digest without one (they have no API token; node identity
    /// through mutual TLS is to guard this route). A digest names the module's content, so it cannot be
    /// guessed, and no route lists them.
    static func isOpen(_ request: Request) -> Bool {
        let path = request.uri.path
        return path == "/v1/health" || path == OpenAPIDocument.path || (request.method == .get && path.hasPrefix("/v1/modules/"))
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        switch authentication {
        case .development:
            context.caller = .development
        case .tokens:
            if Self.isOpen(request) { return try await next(request, context) }
            let header = request.headers[.authorization]
            var record: TokenRecord?
            if let value = header, let presented = Authorization.presentedToken(in: value) {
                record = try await tokens.token(id: presented.id)
            }
            switch Authorization.authenticate(header: header, record: { id in record?.id == id ? record : nil }, now: clock()) {
            case .success(let caller):
                context.caller = caller
            case .failure(let failure):
                // The presented token's ID (public) says which credential was tried; never its secret.
                var details: [String: AuditValue] = [
                    "method": .string(request.method.rawValue), "path": .string(request.uri.path), "status": .int(401),
                    "code": .string(failure.code), "reason": .string(failure.message),
                ]
                if let value = header, let presented = Authorization.presentedToken(in: value) { details["token"] = .string(presented.id) }
                audit?.record(.anonymous, "request.refused", .refused, details)
                var response = try APIError(failure).response(from: request, context: context)
                // RFC 6750: a 401 names the scheme the client should use.
                response.headers[.wwwAuthenticate] = "Bearer realm=\"insitu\""
                return response
            }
        }
        return try await next(request, context)
    }
}
