public import InsituModel

/// `GET /v1/jobs` query: which jobs, how many, from where (docs/OPERATIONS.md, "Listing").
public struct JobListFilter: Sendable, Hashable {
    public var limit: Int
    /// Any of these states; empty for every state.
    public var states: [JobState]
    /// Jobs whose name contains this text.
    public var name: String?
    public var namespace: String?
    /// The `X-Insitu-Next-Token` of the previous page.
    public var nextToken: String?

    public init(limit: Int = 100, states: [JobState] = [], name: String? = nil, namespace: String? = nil, nextToken: String? = nil) {
        self.limit = limit
        self.states = states
        self.name = name
        self.namespace = namespace
        self.nextToken = nextToken
    }

    /// The query parameters, in a fixed order.
    public var parameters: [(name: String, value: String)] {
        var result: [(String, String)] = [("limit", String(limit))]
        if !states.isEmpty { result.append(("state", states.map(\.rawValue).joined(separator: ","))) }
        if let name { result.append(("name", name)) }
        if let namespace { result.append(("namespace", namespace)) }
        if let nextToken { result.append(("next_token", nextToken)) }
        return result
    }
}

/// `GET /v1/nodes` query.
public struct NodeListFilter: Sendable, Hashable {
    public var statuses: [NodeLiveness]
    public var name: String?
    /// `key=value` selectors; a node must carry every one.
    public var labels: [String]
    /// Nil for every node.
    public var limit: Int?
    public var nextToken: String?

    public init(statuses: [NodeLiveness] = [], name: String? = nil, labels: [String] = [], limit: Int? = nil, nextToken: String? = nil) {
        self.statuses = statuses
        self.name = name
        self.labels = labels
        self.limit = limit
        self.nextToken = nextToken
    }

    public var parameters: [(name: String, value: String)] {
        var result: [(String, String)] = []
        if !statuses.isEmpty { result.append(("status", statuses.map(\.rawValue).joined(separator: ","))) }
        if let name { result.append(("name", name)) }
        result.append(contentsOf: labels.map { ("label", $0) })
        if let limit { result.append(("limit", String(limit))) }
        if let nextToken { result.append(("next_token", nextToken)) }
        return result
    }
}

/// One page of a list and the token of the next, nil on the last page.
public struct ListPage<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextToken: String?

    public init(items: [Item], nextToken: String?) {
        self.items = items
        self.nextToken = nextToken
    }
}

/// The response header that carries the next page's token.
public enum ListPaging {
    public static let nextTokenHeader = "X-Insitu-Next-Token"
}
