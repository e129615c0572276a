import Foundation
import Hummingbird
import InsituAudit
import InsituAuth
import InsituDashboard
import InsituModel

/// `/ui/login` and `/ui/logout`: the only requests of the dashboard that change anything, and
/// only the browser's cookie. A token is accepted here exactly when the API would accept it as a
/// bearer token (`TokenAuthenticator`), and only if it may read jobs or nodes.
struct DashboardLogin: Sendable {
    let authentication: APIAuthentication
    let authenticator: TokenAuthenticator
    let renderer: DashboardRenderer
    let audit: AuditTrail?
    let secureCookies: Bool

    /// A login form is a token and a little more.
    static let maxBodyBytes = 4096

    /// Why a session ended, by the code `DashboardMiddleware` redirects with.
    static let endings: [String: String] = [
        "token_expired": "Your token expired; sign in with a new one.",
        "token_revoked": "Your token was revoked; sign in with a new one.",
        "token_invalid": "Your token is not known to this orchestrator; sign in again.",
        "token_malformed": "Your session was not readable; sign in again.",
    ]

    private struct Form: Decodable {
        var token: String?
    }

    func register(on router: Router<APIRequestContext>) {
        router.get(RouterPath(DashboardLinks.login)) { request, context in
            if case .development = authentication { return DashboardResponses.redirect(to: DashboardLinks.jobs) }
            let ended = request.uri.queryParameters.get("ended").flatMap { Self.endings[$0] }
            return DashboardResponses.html(
                renderer.render(LoginPage(problem: ended, chrome: DashboardResponses.chrome(.none, caller: nil))))
        }
        router.post(RouterPath(DashboardLinks.login)) { request, context in
            try await login(request, context: context)
        }
        router.post(RouterPath(DashboardLinks.logout)) { _, _ in
            var response = DashboardResponses.redirect(to: DashboardLinks.login)
            response.setCookie(DashboardSession.expired(secure: secureCookies))
            return response
        }
    }

    private func login(_ request: Request, context: APIRequestContext) async throws -> Response {
        if case .development = authentication { return DashboardResponses.redirect(to: DashboardLinks.jobs) }
        // A form posted from another site is refused even with a valid token: it would sign the
        // browser in as someone else (login CSRF).
        guard Self.isSameOrigin(origin: request.headers[.origin], authority: request.head.authority) else {
            return refuse(
                request, status: .forbidden, code: "cross_origin", message: "The sign-in form must be sent from this dashboard's own page.")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return refuse(
                request, status: .contentTooLarge, code: "request_too_large", message: "The form is too large: paste the token alone.")
        }
        let form = try? URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))
        let token = (form?.token ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let header = "Bearer " + token
        switch try await authenticator.authenticate(header: token.isEmpty ? nil : header) {
        case .failure(let failure):
            let message = failure.code == "token_missing" ? "Paste an API token." : Self.sentence(failure.message)
            return refuse(request, status: .unauthorized, code: failure.code, message: message)
        case .success(let caller):
            guard caller.scopes.contains(.jobRead) || caller.scopes.contains(.nodeRead),
                let presented = Authorization.presentedToken(in: header)
            else {
                return refuse(
                    request, status: .forbidden, code: "scope_missing",
                    message: "Token \(caller.tokenID ?? "?") can read neither jobs nor nodes: it needs the scope job:read or node:read.")
            }
            audit?.record(
                AuditActor(kind: .token, id: caller.tokenID, namespace: caller.namespace), "dashboard.login", .ok,
                ["path": .string(request.uri.path)])
            var response = DashboardResponses.redirect(to: DashboardLinks.jobs)
            let record = try await authenticator.tokens.token(id: presented.id)
            response.setCookie(
                DashboardSession.cookie(
                    token: presented.text, expiresAt: record?.expiresAt, now: authenticator.clock(), secure: secureCookies))
            return response
        }
    }

    /// The login form again, with what was wrong; audited like the API's refusals.
    private func refuse(_ request: Request, status: HTTPResponse.Status, code: String, message: String) -> Response {
        audit?.record(
            .anonymous, "request.refused", .refused,
            [
                "method": .string(request.method.rawValue), "path": .string(request.uri.path), "status": .int(Int64(status.code)),
                "code": .string(code), "reason": .string(message),
            ])
        let page = LoginPage(problem: message, chrome: DashboardResponses.chrome(.none, caller: nil))
        return DashboardResponses.html(renderer.render(page), status: status)
    }

    /// Whether a form's `Origin` (sent by browsers with every POST) names the host it was posted
    /// to. A request without one (not from a browser) passes: it cannot ride on a victim's browser.
    static func isSameOrigin(origin: String?, authority: String?) -> Bool {
        guard let origin else { return true }
        guard let authority, let range = origin.range(of: "://") else { return false }
        return origin[range.upperBound...] == authority[...]
    }

    private static func sentence(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst() + (text.hasSuffix(".") ? "" : ".")
    }
}
