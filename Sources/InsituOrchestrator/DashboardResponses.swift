import Hummingbird
import InsituAPI
import InsituAuth
import InsituDashboard

/// The few kinds of answer the dashboard gives: an HTML page, a static asset, a redirect.
enum DashboardResponses {
    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The stylesheet and script: the same for every caller, cached briefly.
    static func asset(_ text: String, contentType: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: contentType, .cacheControl: "max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// 303 See Other: the browser follows with a GET, also after a POST.
    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// The navigation and who is signed in, for `caller`.
    static func chrome(_ section: DashboardChrome.Section, caller: Caller?) -> DashboardChrome {
        var signedInAs: String?
        if let caller, caller.kind == .token {
            signedInAs = (caller.tokenName ?? "token") + (caller.tokenID.map { " (\($0))" } ?? "")
        }
        return DashboardChrome(
            section: section, signedInAs: signedInAs, development: caller?.kind == .development, version: InsituBuild.version)
    }
}
