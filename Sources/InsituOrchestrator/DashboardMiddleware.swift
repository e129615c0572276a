import Hummingbird
import InsituAudit
import InsituAuth
import InsituDashboard
import Logging

/// Around every `/ui` request: establishes the caller (`--dev`: everyone; otherwise the API token
/// in the session cookie, checked exactly as the API checks a bearer token, on every request, so
/// revoking or expiring a token ends its sessions at once), turns errors into HTML pages, and adds
/// the security headers to every answer.
///
/// Without a valid session a page redirects to the login form (303). The REST API never reads
/// this cookie: it is scoped to `Path=/ui`, and `AuthenticationMiddleware` reads only the
/// `Authorization` header (docs/THREAT_MODEL.md, "Issue 9: dashboard").
struct DashboardMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let authentication: APIAuthentication
    let authenticator: TokenAuthenticator
    let renderer: DashboardRenderer
    let audit: AuditTrail?
    /// The orchestrator serves TLS: session cookies carry `Secure`.
    let secureCookies: Bool

    /// No script or style from anywhere but `/ui/app.js` and `/ui/app.css`, no inline script or
    /// style, no framing, forms only to the dashboard itself.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// What anyone may fetch: the login form and the static assets.
    static func isOpen(_ path: String) -> Bool {
        [DashboardLinks.login, DashboardLinks.logout, DashboardLinks.script, DashboardLinks.stylesheet].contains(path)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var response: Response
        do {
            if let refusal = try await establishCaller(request, &context) {
                response = refusal
            } else {
                response = try await next(request, context)
            }
        } catch {
            response = errorPage(for: error, request, context: context)
        }
        Self.addSecurityHeaders(to: &response)
        return response
    }

    /// Sets `context.caller`; returns the answer instead when the request has no valid session.
    private func establishCaller(_ request: Request, _ context: inout Context) async throws -> Response? {
        switch authentication {
        case .development:
            context.caller = .development
            return nil
        case .tokens:
            if Self.isOpen(request.uri.path) { return nil }
            guard let token = request.cookies[DashboardSession.cookieName]?.value, !token.isEmpty else {
                return DashboardResponses.redirect(to: DashboardLinks.login)
            }
            switch try await authenticator.authenticate(header: "Bearer " + token) {
            case .success(let caller):
                context.caller = caller
                return nil
            case .failure(let failure):
                audit?.record(
                    .anonymous, "request.refused", .refused,
                    [
                        "method": .string(request.method.rawValue), "path": .string(request.uri.path), "status": .int(303),
                        "code": .string(failure.code), "reason": .string("dashboard session: " + failure.message),
                    ])
                var response = DashboardResponses.redirect(to: DashboardLinks.login + "?ended=" + failure.code)
                response.setCookie(DashboardSession.expired(secure: secureCookies))
                return response
            }
        }
    }

    /// An HTML page for what went wrong, with the status and message the API would answer.
    private func errorPage(for error: any Error, _ request: Request, context: Context) -> Response {
        let apiError =
            (error as? APIError)
            ?? APIError(.internalServerError, code: "internal", message: "internal error; the orchestrator's log has the cause")
        var message = apiError.message
        if apiError.code == "no_route" {
            message = "there is no dashboard page at \(request.uri.path.prefix(200)); the dashboard starts at \(DashboardLinks.jobs)"
        }
        let caller = context.caller
        let page = ErrorPage(
            status: apiError.status.code, title: apiError.status.reasonPhrase, message: message,
            chrome: DashboardResponses.chrome(.none, caller: caller))
        var response = DashboardResponses.html(renderer.render(page), status: apiError.status)
        if let allow = apiError.headers[.allow] { response.headers[.allow] = allow }
        return response
    }

    static func addSecurityHeaders(to response: inout Response) {
        response.headers[.contentSecurityPolicy] = contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        // HTTPTypes names neither header; both names are valid field names.
        if let name = HTTPFields.headerName("X-Frame-Options") { response.headers[name] = "DENY" }
        // `same-origin`, not `no-referrer`: job IDs in URLs stay on the dashboard, and browsers
        // still send the real `Origin` with the login form (they send `null` under `no-referrer`).
        if let name = HTTPFields.headerName("Referrer-Policy") { response.headers[name] = "same-origin" }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
    }
}

extension HTTPFields {
    /// A field name HTTPTypes has no constant for (Hummingbird exports the fields, not the name type).
    fileprivate static func headerName(_ text: String) -> Element.Name? { Element.Name(text) }
}
