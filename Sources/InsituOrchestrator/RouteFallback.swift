import Hummingbird
import InsituAPI

/// The answer for a request no route takes: 405 with `Allow` when the API has its path under
/// other methods (RFC 9110, section 15.5.6), otherwise 404 naming the route; both problem details.
///
/// The paths and their methods come from the OpenAPI document, which `OpenAPIDocumentTests` holds
/// equal to the routes the router registers, so any method (`TRACE`, `QUERY`, ...) is covered and
/// registering a route needs nothing here.
///
/// Both answers come from behind the authentication middleware like every route, so without a
/// valid token an unknown route answers 401 before 404 (as Nomad and Kubernetes do): an anonymous
/// caller learns nothing about which paths exist.
enum RouteFallback {
    struct Entry: Sendable {
        /// A template's segments; nil where it has a parameter (`{id}`), which matches any segment.
        var segments: [String?]
        /// Uppercase, sorted.
        var methods: [String]
    }

    static let entries: [Entry] = OpenAPIDocument.operations.map { path, methods in
        Entry(
            segments: path.split(separator: "/", omittingEmptySubsequences: false).map { $0.hasPrefix("{") ? nil : String($0) },
            methods: methods.map { $0.uppercased() }.sorted())
    }

    /// The methods the API takes on `path`, nil when no route has it. Where templates overlap
    /// (`/v1/nodes/{id}` and a literal `/v1/nodes/join`), the one with the most literal segments
    /// wins, as in the router.
    static func allowedMethods(for path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        let matching = entries.filter { entry in
            entry.segments.count == segments.count
                && zip(entry.segments, segments).allSatisfy { template, segment in template.map { $0 == segment } ?? true }
        }
        let literals = { (entry: Entry) in entry.segments.count { $0 != nil } }
        guard let best = matching.map(literals).max() else { return nil }
        return Array(Set(matching.filter { literals($0) == best }.flatMap(\.methods))).sorted()
    }

    static func answer(_ request: Request) -> APIError {
        let path = request.uri.path
        if let methods = allowedMethods(for: path) {
            let allow = methods.joined(separator: ", ")
            return APIError(
                .methodNotAllowed, code: "method_not_allowed",
                message: "\(path.prefix(200)) does not take \(request.method.rawValue.prefix(20)); it takes \(allow)",
                headers: [.allow: allow])
        }
        var message = "there is no route \(request.method.rawValue.prefix(20)) \(path.prefix(200)); GET /v1/openapi.json lists the API's routes"
        if path.hasPrefix("/v1/v1/") {
            message += ". The address the client uses ends in /v1: give the orchestrator's address without it (for example --api https://host:4646)"
        }
        return APIError(.notFound, code: "no_route", message: message)
    }
}
