import Hummingbird
import InsituAPI

/// Answers for requests that no handler takes: 405 with `Allow` for a path the API has under
/// another method, and 404 naming the route for everything else, both as problem details.
///
/// Both run behind the authentication middleware like every route, so without a valid token an
/// unknown route answers 401 before 404 (as Nomad and Kubernetes do): an anonymous caller learns
/// nothing about which paths exist.
enum RouteFallback {
    /// The methods a 405 is answered for; any other method on a known path is a 404.
    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

    /// Registers, for every path registered so far, a handler for each method it lacks that
    /// answers 405 with the methods it has in `Allow` (RFC 9110, section 15.5.6). Call it after
    /// every API route is registered.
    static func registerMethodNotAllowed(on router: Router<APIRequestContext>) {
        var methodsByPath: [String: (path: RouterPath, methods: [HTTPRequest.Method])] = [:]
        for route in router.routes {
            methodsByPath[route.path.description, default: (route.path, [])].methods.append(route.method)
        }
        for (_, entry) in methodsByPath {
            let allow = entry.methods.map(\.rawValue).sorted().joined(separator: ", ")
            for method in methods where !entry.methods.contains(method) {
                router.on(entry.path, method: method) { request, _ -> Response in
                    throw APIError(
                        .methodNotAllowed, code: "method_not_allowed",
                        message: "\(request.uri.path) does not take \(request.method.rawValue); it takes \(allow)",
                        headers: [.allow: allow])
                }
            }
        }
    }

    /// The answer for a path no route matches.
    static func notFound(_ request: Request) -> APIError {
        let path = request.uri.path
        var message = "there is no route \(request.method.rawValue) \(path.prefix(200)); GET /v1/openapi.json lists the API's routes"
        if path.hasPrefix("/v1/v1/") {
            message += ". The address the client uses ends in /v1: give the orchestrator's address without it (for example --api https://host:4646)"
        }
        return APIError(.notFound, code: "no_route", message: message)
    }
}
