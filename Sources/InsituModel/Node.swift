/// A dataset a node holds locally and is willing to expose, read-only, to jobs that name it.
/// The node's path is never sent to the orchestrator; only the name and metadata are.
public struct DatasetInfo: Hashable, Codable, Sendable {
    public var name: String
    public var description: String?
    public var labels: Labels

    public init(name: String, description: String? = nil, labels: Labels = [:]) {
        self.name = name
        self.description = description
        self.labels = labels
    }
}

/// What a compute node advertises when it registers.
public struct NodeInfo: Hashable, Codable, Sendable {
    public var id: NodeID
    public var name: String
    public var labels: Labels
    /// Total capacity the node offers to jobs.
    public var resources: Resources
    public var datasets: [DatasetInfo]
    public var engines: [EngineKind]
    /// What runs the `wasm` engine here (`wasmtime` or `wasmkit`); nil from agents that predate
    /// the choice (they run WasmKit).
    public var wasmRuntime: String?
    public var version: String
    /// The node's policy (docs/POLICY.md), so the scheduler can skip a node that would refuse a
    /// job; nil from agents that predate policies (the node enforces its own either way).
    public var policy: NodePolicy?
    /// `sha256:<hex>` of the policy's canonical form (`PolicyDigest`), to tell at a glance
    /// whether two nodes, or one node over time, run the same policy.
    public var policyDigest: String?

    public init(
        id: NodeID, name: String, labels: Labels = [:], resources: Resources, datasets: [DatasetInfo] = [],
        engines: [EngineKind] = [.wasm], wasmRuntime: String? = nil, version: String = "dev", policy: NodePolicy? = nil,
        policyDigest: String? = nil
    ) {
        self.policy = policy
        self.policyDigest = policyDigest
        self.id = id
        self.name = name
        self.labels = labels
        self.resources = resources
        self.datasets = datasets
        self.engines = engines
        self.wasmRuntime = wasmRuntime
        self.version = version
    }

    public func holds(dataset name: String) -> Bool { datasets.contains { $0.name == name } }
}

/// Liveness as the orchestrator sees it. Only connected nodes receive new work.
///
/// ```
/// connected ──(missed heartbeats)──► suspect ──(heartbeat TTL)──► disconnected ──(grace)──► lost
///     ▲                                 │                             │                      │
///     └──────────── any message ────────┘◄──────── hello ─────────────┴──────────────────────┘
/// ```
public enum NodeLiveness: String, Hashable, Codable, Sendable, CaseIterable {
    case connected
    /// Silent for longer than its heartbeat allows, link still open: gets no new work.
    case suspect
    case disconnected
    /// Disconnected for longer than the cluster's node grace period.
    case lost
}

/// A node together with what the orchestrator knows of its current load.
public struct NodeStatus: Hashable, Codable, Sendable {
    public var info: NodeInfo
    public var liveness: NodeLiveness
    /// Sum of the resource requests of the node's non-terminal executions.
    public var allocated: Resources
    public var activeExecutions: Int
    public var lastSeen: Timestamp
    /// Set by an operator (`insitu node drain`): the node gets no new work; what it runs finishes.
    public var draining: Bool

    public init(
        info: NodeInfo, liveness: NodeLiveness, allocated: Resources = .zero, activeExecutions: Int = 0, lastSeen: Timestamp,
        draining: Bool = false
    ) {
        self.info = info
        self.liveness = liveness
        self.allocated = allocated
        self.activeExecutions = activeExecutions
        self.lastSeen = lastSeen
        self.draining = draining
    }

    enum CodingKeys: String, CodingKey {
        case info, liveness, allocated, activeExecutions, lastSeen, draining
    }

    /// `draining` may be missing (statuses written before it existed).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        info = try container.decode(NodeInfo.self, forKey: .info)
        liveness = try container.decode(NodeLiveness.self, forKey: .liveness)
        allocated = try container.decode(Resources.self, forKey: .allocated)
        activeExecutions = try container.decode(Int.self, forKey: .activeExecutions)
        lastSeen = try container.decode(Timestamp.self, forKey: .lastSeen)
        draining = try container.decodeIfPresent(Bool.self, forKey: .draining) ?? false
    }

    public var free: Resources { info.resources - allocated }
}
