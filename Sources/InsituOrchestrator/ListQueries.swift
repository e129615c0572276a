import Foundation
import Hummingbird
import InsituAPI
import InsituAuth
import InsituModel
import InsituStore

/// The filters and paging of `GET /v1/jobs` and `GET /v1/nodes`, read strictly from the query:
/// a value that is not allowed is a 400 that names the parameter, the value and what is allowed,
/// never a silently empty or unfiltered list.
///
/// A list parameter (`state`, `status`) may be repeated, comma-separated, or both; `label` is
/// repeated, and a node must carry every label asked for (as a kubectl selector).
enum ListQueries {
    static let maxLimit: Int64 = 10_000
    /// Longer than any job or node name may be.
    static let maxNameFilterLength = 256
    static let maxLabels = 32

    struct Jobs: Sendable {
        var query: JobQuery
    }

    struct Nodes: Sendable {
        var statuses: Set<NodeLiveness>
        var nameContains: String?
        var labels: [String: String]
        var limit: Int?
        var after: NodeCursor?

        func matches(_ node: NodeSummary) -> Bool {
            (statuses.isEmpty || statuses.contains(node.liveness))
                && (nameContains.map { node.name.contains($0) } ?? true)
                && labels.allSatisfy { node.labels[$0.key] == $0.value }
                && (after?.precedes(node) ?? true)
        }
    }

    /// `limit`, `state`, `name`, `namespace` and `next_token` of `GET /v1/jobs`, for `caller`.
    static func jobs(_ request: Request, caller: Caller) throws -> Jobs {
        let parameters = QueryParameters(request)
        let limit = try parameters.integer("limit", in: 1...maxLimit, default: 100)
        let states: Set<JobState> = try values(parameters, "state", allowed: JobState.allCases.map(\.rawValue), what: "job state")
        var namespace = caller.visibleNamespace
        if let asked = parameters.parameters.get("namespace") {
            if let problem = Namespace.problem(with: asked) {
                throw refusal("namespace", asked, problem)
            }
            guard caller.canAccess(namespace: asked) else {
                throw APIError(
                    .forbidden, code: "namespace_forbidden",
                    message: "your token acts in namespace \(caller.namespace) and cannot list the jobs of namespace \(asked); "
                        + "leave namespace out or use a token of that namespace")
            }
            namespace = asked
        }
        let after = try parameters.parameters.get(PageToken.parameter).map(PageToken.jobCursor)
        return Jobs(
            query: JobQuery(limit: Int(limit), namespace: namespace, states: states, nameContains: try name(parameters), after: after))
    }

    /// `status`, `name`, `label`, `limit` and `next_token` of `GET /v1/nodes`.
    static func nodes(_ request: Request) throws -> Nodes {
        let parameters = QueryParameters(request)
        let statuses: Set<NodeLiveness> = try values(
            parameters, "status", allowed: NodeLiveness.allCases.map(\.rawValue), what: "node status")
        var labels: [String: String] = [:]
        let selectors = parameters.parameters.getAll("label")
        guard selectors.count <= maxLabels else {
            throw refusal("label", selectors[maxLabels], "at most \(maxLabels) label selectors are allowed")
        }
        for selector in selectors {
            guard let equals = selector.firstIndex(of: "="), equals != selector.startIndex else {
                throw refusal("label", selector, "a label selector is key=value, such as label=site=lyon")
            }
            let key = String(selector[..<equals])
            let value = String(selector[selector.index(after: equals)...])
            if let earlier = labels[key], earlier != value {
                throw refusal("label", selector, "label \(key) is asked for twice, as \(earlier) and as \(value); no node can match both")
            }
            labels[key] = value
        }
        let limit =
            try parameters.parameters.get("limit") == nil ? nil : Int(parameters.integer("limit", in: 1...maxLimit, default: maxLimit))
        let after = try parameters.parameters.get(PageToken.parameter).map(PageToken.nodeCursor)
        return Nodes(statuses: statuses, nameContains: try name(parameters), labels: labels, limit: limit, after: after)
    }

    /// Every value of a list parameter, each one of `allowed`.
    private static func values<Value: RawRepresentable & Hashable>(
        _ parameters: QueryParameters, _ name: String, allowed: [String], what: String
    ) throws -> Set<Value> where Value.RawValue == String {
        var result: Set<Value> = []
        for item in parameters.parameters.getAll(name).flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            let text = item.trimmingCharacters(in: .whitespaces)
            guard let value = Value(rawValue: text) else {
                throw refusal(
                    name, text,
                    "\(text.isEmpty ? "an empty value" : "\(QueryParameters.shown(text))") is not a \(what); allowed: \(allowed.joined(separator: ", "))"
                )
            }
            result.insert(value)
        }
        return result
    }

    private static func name(_ parameters: QueryParameters) throws -> String? {
        guard let text = parameters.parameters.get("name") else { return nil }
        // Counted in characters (Unicode scalars), as the document's maxLength counts them.
        guard !text.isEmpty, text.unicodeScalars.count <= maxNameFilterLength else {
            throw refusal("name", text, "a name filter is 1 to \(maxNameFilterLength) characters of text")
        }
        return text
    }

    private static func refusal(_ parameter: String, _ value: String, _ problem: String) -> APIError {
        APIError.badRequest(
            "query parameter \(parameter)=\(QueryParameters.shown(value)) is not allowed: \(problem)",
            problems: [APIProblem(path: parameter, message: problem)])
    }
}
