/// What every page shows around its content: the navigation, who is signed in, the version.
public struct DashboardChrome: Sendable {
    public enum Section: Sendable {
        case jobs
        case nodes
        case none
    }

    public var jobsActive: Bool
    public var nodesActive: Bool
    /// The signed-in token's name and ID; nil in development mode and on the login page.
    public var signedInAs: String?
    /// `--dev`: the dashboard is open to anyone who reaches it, and says so.
    public var development: Bool
    public var version: String

    public init(section: Section, signedInAs: String?, development: Bool, version: String) {
        self.jobsActive = section == .jobs
        self.nodesActive = section == .nodes
        self.signedInAs = signedInAs
        self.development = development
        self.version = version
    }
}

/// A label or any other key and value shown as a chip.
public struct KeyValue: Sendable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    static func sorted(_ labels: [String: String]) -> [KeyValue] {
        labels.sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value) }
    }
}
