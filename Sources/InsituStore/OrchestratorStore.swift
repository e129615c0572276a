public import InsituModel

/// A node the orchestrator has seen, as persisted.
public struct NodeRecord: Hashable, Codable, Sendable {
    public var info: NodeInfo
    public var liveness: NodeLiveness
    public var lastSeen: Timestamp
    /// An operator's drain (`insitu node drain`), which outlives orchestrator restarts.
    public var draining: Bool

    public init(info: NodeInfo, liveness: NodeLiveness, lastSeen: Timestamp, draining: Bool = false) {
        self.info = info
        self.liveness = liveness
        self.lastSeen = lastSeen
        self.draining = draining
    }
}

/// Everything one state change writes, applied atomically: either all of it is durable or none.
public struct StoreBatch: Sendable {
    public var jobs: [Job] = []
    public var executions: [Execution] = []
    public var events: [JobEvent] = []
    public var nodes: [NodeRecord] = []
    public var results: [ResultRecord] = []
    public var logs: [LogRecord] = []
    /// IDs of jobs in `jobs` that this batch creates. Creating a job whose ID is already stored
    /// fails the commit with a `.conflict` error: an ID collision never overwrites a job. Every
    /// other job in `jobs` is an update, applied only if its `version` is newer than the stored
    /// one (a stale write fails with `.conflict` too). Executions are version-checked the same way:
    /// a new one is written at version 1, every transition bumps it.
    public var createdJobs: Set<JobID> = []
    /// Idempotency keys this batch claims, each for the job it creates. A key that is already
    /// claimed fails the commit with a `.conflict` error.
    public var idempotencyKeys: [String: JobID] = [:]
    /// Nodes an operator deleted (`insitu node delete`): their records go. Applied after `nodes`.
    public var forgottenNodes: [NodeID] = []

    public init(
        jobs: [Job] = [], executions: [Execution] = [], events: [JobEvent] = [], nodes: [NodeRecord] = [],
        results: [ResultRecord] = [], logs: [LogRecord] = [], createdJobs: Set<JobID> = []
    ) {
        self.createdJobs = createdJobs
        self.jobs = jobs
        self.executions = executions
        self.events = events
        self.nodes = nodes
        self.results = results
        self.logs = logs
    }

    public var isEmpty: Bool {
        jobs.isEmpty && executions.isEmpty && events.isEmpty && nodes.isEmpty && results.isEmpty && logs.isEmpty
            && idempotencyKeys.isEmpty && forgottenNodes.isEmpty
    }
}

/// What the orchestrator reloads after a restart: all unfinished work and every known node.
public struct RecoveredState: Sendable {
    public var activeJobs: [Job]
    public var executions: [Execution]
    public var nodes: [NodeRecord]

    public init(activeJobs: [Job], executions: [Execution], nodes: [NodeRecord]) {
        self.activeJobs = activeJobs
        self.executions = executions
        self.nodes = nodes
    }
}

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Hashable {
        case other
        /// The disk (or quota) is full: nothing was written, and retrying after freeing space works.
        case storageFull
        /// The batch contradicts what is stored (a job ID that exists already, an update older
        /// than the stored version); nothing of it was written.
        case conflict
    }
    public var kind: Kind
    public var message: String
    public init(_ message: String, kind: Kind = .other) {
        self.message = message
        self.kind = kind
    }
    public var description: String { message }
}

/// The orchestrator's durable state. Implementations MUST make `commit` atomic and durable before
/// returning, assign event and log sequence numbers in commit order, and reject a second result for
/// the same (job, partition). No implementation type leaks through this protocol, so SQLite can be
/// swapped for PostgreSQL when several orchestrators share state.
public protocol OrchestratorStore: Sendable {
    /// Applies the batch in one transaction. Returns the batch's events with sequences assigned.
    /// Results whose (job, partition) already has an accepted result are skipped and reported in
    /// `rejectedResults`.
    func commit(_ batch: StoreBatch) async throws -> CommitReceipt
    func recover() async throws -> RecoveredState
    func job(_ id: JobID) async throws -> Job?
    /// The job created with this idempotency key, if any.
    func job(idempotencyKey: String) async throws -> Job?
    /// Newest first (`createdAt`, then ID, descending), as `query` filters them.
    func jobs(_ query: JobQuery) async throws -> [Job]
    func executions(of job: JobID) async throws -> [Execution]
    func events(of job: JobID) async throws -> [JobEvent]
    /// Log entries after `sequence`, in order: at most `limit` of them, and no more than
    /// `maxBytes` bytes of text except that the first entry is always included.
    func logs(of job: JobID, after sequence: Int64, limit: Int, maxBytes: Int) async throws -> [LogRecord]
    /// Bytes of log text stored for one execution, per stream.
    func logBytes(of job: JobID, execution: ExecutionID) async throws -> [String: Int64]
    func results(of job: JobID) async throws -> [ResultRecord]
    func nodes() async throws -> [NodeRecord]
}

public struct CommitReceipt: Sendable {
    public var events: [JobEvent]
    public var rejectedResults: [ResultRecord]
    public init(events: [JobEvent], rejectedResults: [ResultRecord]) {
        self.events = events
        self.rejectedResults = rejectedResults
    }
}

extension OrchestratorStore {
    /// Newest first, of every namespace.
    public func jobs(limit: Int) async throws -> [Job] { try await jobs(JobQuery(limit: limit)) }

    /// Newest first; only those of `namespace` when it is given.
    public func jobs(limit: Int, namespace: String?) async throws -> [Job] { try await jobs(JobQuery(limit: limit, namespace: namespace)) }

    /// Log entries after `sequence`, at most `limit` of them, whatever their size.
    public func logs(of job: JobID, after sequence: Int64, limit: Int) async throws -> [LogRecord] {
        try await logs(of: job, after: sequence, limit: limit, maxBytes: .max)
    }
}
