import Hummingbird
import InsituDashboard

/// Sends `/ui` and everything under it to the dashboard's router, everything else to the REST
/// API's. Two routers, so that the API's middleware (bearer tokens, problem details) never sees a
/// dashboard request and the dashboard's (session cookie, HTML errors) never sees an API one, and
/// so that the API's router holds exactly the routes docs/openapi.json documents.
struct OrchestratorResponder: HTTPResponder {
    typealias Context = APIRequestContext
    let api: RouterResponder<APIRequestContext>
    let dashboard: RouterResponder<APIRequestContext>

    static func isDashboard(_ path: String) -> Bool {
        path == DashboardLinks.root || path.hasPrefix(DashboardLinks.root + "/")
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        try await (Self.isDashboard(request.uri.path) ? dashboard : api).respond(to: request, context: context)
    }
}
