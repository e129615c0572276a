public import InsituModel

/// Wire types of the REST API (`/v1/...`). The CLI, the benchmark and (later) the dashboard all
/// talk to the orchestrator through these and nothing else.

/// `POST /v1/jobs`. The spec travels as the user wrote it (YAML or JSON) so the orchestrator
/// validates exactly what the user submitted; local module files are uploaded first
/// (`POST /v1/modules`) and named here by the path written in the spec.
public struct SubmitJobRequest: Codable, Sendable {
    public var spec: String
    /// Maps a local module path as written in the spec to the digest of the uploaded module.
    public var uploadedModules: [String: ContentDigest]

    public init(spec: String, uploadedModules: [String: ContentDigest] = [:]) {
        self.spec = spec
        self.uploadedModules = uploadedModules
    }

    /// `uploadedModules` may be left out when the spec names no local module file.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        spec = try container.decode(String.self, forKey: .spec)
        uploadedModules = try container.decodeIfPresent([String: ContentDigest].self, forKey: .uploadedModules) ?? [:]
    }
}

public struct SubmitJobResponse: Codable, Sendable {
    public var jobID: JobID
    public var state: JobState
    public init(jobID: JobID, state: JobState) {
        self.jobID = jobID
        self.state = state
    }
}

public struct UploadModuleResponse: Codable, Sendable {
    public var digest: ContentDigest
    public var size: Int64
    public init(digest: ContentDigest, size: Int64) {
        self.digest = digest
        self.size = size
    }
}

/// One problem with a request, located by a field path, with a hint on how to fix it.
public struct APIProblem: Codable, Hashable, Sendable {
    public var path: String
    public var message: String
    public var hint: String?
    public init(path: String, message: String, hint: String? = nil) {
        self.path = path
        self.message = message
        self.hint = hint
    }
}

/// The body of every non-2xx response: RFC 9457 problem details, sent as
/// `application/problem+json`. `code` and `problems` are extension members: `code` is the stable
/// machine-readable name of the problem (the last segment of `type`), `problems` the field-path
/// list of a refused spec or token request.
public struct ProblemDetails: Codable, Sendable, Hashable {
    public static let mediaType = "application/problem+json"
    /// Every problem type's URI is this followed by its `code` (docs/API.md lists the codes).
    public static let typeBase = "https://insitu.dev/problems/"

    public var type: String
    /// The HTTP status's reason phrase: the same for every occurrence of a code.
    public var title: String
    public var status: Int
    /// What was wrong with this request and how to fix it.
    public var detail: String
    /// Stable machine-readable code, e.g. `invalid_spec`, `not_found`.
    public var code: String
    public var problems: [APIProblem]?

    public init(status: Int, title: String, code: String, detail: String, problems: [APIProblem]? = nil) {
        self.type = Self.typeBase + code
        self.title = title
        self.status = status
        self.detail = detail
        self.code = code
        self.problems = problems
    }
}

public struct JobSummary: Codable, Sendable, Hashable {
    public var id: JobID
    public var name: String
    /// Nil from orchestrators that predate namespaces (their jobs are all in `default`).
    public var namespace: String?
    public var type: JobType
    public var state: JobState
    public var stateReason: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var executionCounts: [String: Int]
    /// Names of the nodes the job's executions were placed on, distinct and sorted (nil from
    /// orchestrators before `job list -o wide`).
    public var nodes: [String]?

    public init(job: Job, executions: [Execution]) {
        self.id = job.id
        self.name = job.spec.name
        self.namespace = job.spec.namespace
        self.type = job.spec.type
        self.state = job.state
        self.stateReason = job.stateReason
        self.createdAt = job.createdAt
        self.updatedAt = job.updatedAt
        var counts: [String: Int] = [:]
        for execution in executions { counts[execution.state.rawValue, default: 0] += 1 }
        self.executionCounts = counts
    }
}

/// `GET /v1/jobs/{id}`: the job, its executions and, while it is not fully placed, why.
public struct JobDetail: Codable, Sendable {
    public var job: Job
    public var executions: [Execution]
    /// Per node, why the scheduler could not place (more of) this job there. Empty once placed.
    public var placementFailures: [String: [String]]
    public var results: [ResultRecord]
    /// The name of each node the job's executions were placed on, by node ID, for output people
    /// read (log prefixes, result folders). Nil from orchestrators before it; a node the
    /// orchestrator no longer knows is missing.
    public var nodeNames: [String: String]?

    public init(
        job: Job, executions: [Execution], placementFailures: [String: [String]], results: [ResultRecord], nodeNames: [String: String]? = nil
    ) {
        self.job = job
        self.executions = executions
        self.placementFailures = placementFailures
        self.results = results
        self.nodeNames = nodeNames
    }
}

/// `GET /v1/jobs/{id}/logs?after=N`: entries after sequence N, and whether more can still come.
public struct LogsPage: Codable, Sendable {
    public var entries: [LogRecord]
    public var jobState: JobState
    public init(entries: [LogRecord], jobState: JobState) {
        self.entries = entries
        self.jobState = jobState
    }
}

public struct NodeSummary: Codable, Sendable, Hashable {
    public var id: NodeID
    public var name: String
    public var liveness: NodeLiveness
    public var labels: Labels
    public var resources: Resources
    public var allocated: Resources
    public var activeExecutions: Int
    public var datasets: [DatasetInfo]
    public var engines: [EngineKind]
    /// What runs the `wasm` engine on the node (`wasmtime`, `wasmkit`), when it said.
    public var wasmRuntime: String?
    public var version: String
    public var lastSeen: Timestamp
    /// Whether an operator drained the node (`insitu node drain`); nil from older orchestrators.
    public var draining: Bool?
    /// The node's policy and its digest, as it advertised them (nil from older agents).
    public var policy: NodePolicy?
    public var policyDigest: String?
    /// The newest head of the node's audit log the orchestrator has seen; nil until the node
    /// sent one.
    public var auditHead: AuditHead?
    /// Set, and kept, once a head the node sent contradicted an earlier one: the node's audit log
    /// was rewritten (docs/AUDIT.md).
    public var auditAlert: String?

    public init(status: NodeStatus) {
        self.id = status.info.id
        self.name = status.info.name
        self.liveness = status.liveness
        self.labels = status.info.labels
        self.resources = status.info.resources
        self.allocated = status.allocated
        self.activeExecutions = status.activeExecutions
        self.datasets = status.info.datasets
        self.engines = status.info.engines
        self.wasmRuntime = status.info.wasmRuntime
        self.version = status.info.version
        self.lastSeen = status.lastSeen
        self.draining = status.draining
        self.policy = status.info.policy
        self.policyDigest = status.info.policyDigest
    }
}

/// `DELETE /v1/nodes/{id}`: the node is forgotten; `lostExecutions` of its unfinished executions
/// were lost with it (and replaced where their jobs' `nodeLoss` and `retry` say so).
public struct DeleteNodeResponse: Codable, Sendable, Hashable {
    public var nodeID: NodeID
    public var lostExecutions: Int

    public init(nodeID: NodeID, lostExecutions: Int) {
        self.nodeID = nodeID
        self.lostExecutions = lostExecutions
    }
}
