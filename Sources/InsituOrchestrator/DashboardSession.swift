import Foundation
import Hummingbird
import InsituModel

/// The dashboard's session: the API token itself, in a cookie the page's scripts cannot read
/// (`HttpOnly`), that the browser sends only to `/ui` (`Path`) and only from the dashboard's own
/// pages (`SameSite=Strict`), over TLS only when the orchestrator serves TLS (`Secure`). The
/// token is checked again on every request, like a bearer token; nothing is kept on the server.
enum DashboardSession {
    static let cookieName = "insitu_session"
    /// A session lasts at most this long, and never past its token's expiry.
    static let maxAgeSeconds = 12 * 3600

    static func cookie(token: String, expiresAt: Timestamp?, now: Timestamp, secure: Bool) -> Cookie {
        var maxAge = maxAgeSeconds
        if let expiresAt {
            let remaining = expiresAt.milliseconds.subtractingReportingOverflow(now.milliseconds)
            maxAge = remaining.overflow ? 0 : Int(clamping: max(0, min(Int64(maxAge), remaining.partialValue / 1000)))
        }
        return Cookie(
            name: cookieName, value: token, maxAge: maxAge, path: "/ui", secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// Replaces the session cookie with an empty one that expires at once.
    static func expired(secure: Bool) -> Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: "/ui", secure: secure, httpOnly: true, sameSite: .strict)
    }
}
