import Hummingbird
import InsituAPI
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
    /// Tells a node by its client certificate, for the routes nodes call without a token.
    var nodes: NodeAdmission? = nil

    /// Routes anyone may call: a load balancer's health probes carry no token, and the OpenAPI
    /// document is the checked-in docs/openapi.json (tools fetch it before they have a token).
    /// Nodes authenticate themselves on their own routes: by join token (`/v1/node/join`) or by
    /// client certificate (`/v1/node/connect`, `/v1/node/renew`).
    static func isOpen(_ request: Request) -> Bool {
        let path = request.uri.path
        return HealthAPI.paths.contains(path) || path == OpenAPIDocument.path || path == NodeProtocol.path || path == NodeIdentityPaths.join
            || path == NodeIdentityPaths.renew
    }

    /// Module downloads: by an API token, or by a node presenting its certificate (nodes have no
    /// API token).
    static func isModuleDownload(_ request: Request) -> Bool {
        request.method == .get && request.uri.path.hasPrefix("/v1/modules/")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        switch authentication {
        case .development:
            context.caller = .development
        case .tokens:
            if Self.isOpen(request) { return try await next(request, context) }
            let header = request.headers[.authorization]
            if header == nil, Self.isModuleDownload(request), let nodes, let channel = context.channel {
                switch await nodes.authenticate(channel) {
                case .success(.some): return try await next(request, context)
                case .success(.none): break
                case .failure(let failure):
                    // A node that presented a certificate but may not connect (revoked, pending).
                    if failure.code != "node_certificate_missing" { return try refuse(request, context: context, failure, header: nil) }
                }
            }
            switch try await TokenAuthenticator(tokens: tokens, clock: clock).authenticate(header: header) {
            case .success(let caller):
                context.caller = caller
            case .failure(let failure):
                return try refuse(request, context: context, failure, header: header)
            }
        }
        return try await next(request, context)
    }

    /// 401 (or 403 for a node that may not connect) with what to do, audited with the presented
    /// token's ID (public), never its secret.
    private func refuse(_ request: Request, context: Context, _ failure: AuthFailure, header: String?) throws -> Response {
        var details: [String: AuditValue] = [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path),
            "status": .int(failure.kind == .unauthenticated ? 401 : 403), "code": .string(failure.code), "reason": .string(failure.message),
        ]
        if let value = header, let presented = Authorization.presentedToken(in: value) { details["token"] = .string(presented.id) }
        audit?.record(.anonymous, "request.refused", .refused, details)
        var response = try APIError(failure).response(from: request, context: context)
        // RFC 6750: a 401 names the scheme the client should use.
        if failure.kind == .unauthenticated { response.headers[.wwwAuthenticate] = "Bearer realm=\"insitu\"" }
        return response
    }
}
