import InsituModel
import InsituStore
import InsituStoreSQLite

/// The SQLite store with a hook run before every commit, which may hold the commit (a gate the
/// test opens) or fail it (an injected fault). Reads go straight to the store.
struct CommitHookStore: OrchestratorStore {
    let base: SQLiteStore
    let beforeCommit: @Sendable () async throws -> Void

    init(base: SQLiteStore, beforeCommit: @escaping @Sendable () async throws -> Void) {
        self.base = base
        self.beforeCommit = beforeCommit
    }

    func commit(_ batch: StoreBatch) async throws -> CommitReceipt {
        try await beforeCommit()
        return try await base.commit(batch)
    }
    func recover() async throws -> RecoveredState { try await base.recover() }
    func job(_ id: JobID) async throws -> Job? { try await base.job(id) }
    func job(idempotencyKey: String) async throws -> Job? { try await base.job(idempotencyKey: idempotencyKey) }
    func jobs(_ query: JobQuery) async throws -> [Job] { try await base.jobs(query) }
    func executions(of job: JobID) async throws -> [Execution] { try await base.executions(of: job) }
    func events(of job: JobID) async throws -> [JobEvent] { try await base.events(of: job) }
    func logs(of job: JobID, after sequence: Int64, limit: Int, maxBytes: Int) async throws -> [LogRecord] {
        try await base.logs(of: job, after: sequence, limit: limit, maxBytes: maxBytes)
    }
    func logBytes(of job: JobID, execution: ExecutionID) async throws -> [String: Int64] {
        try await base.logBytes(of: job, execution: execution)
    }
    func results(of job: JobID) async throws -> [ResultRecord] { try await base.results(of: job) }
    func nodes() async throws -> [NodeRecord] { try await base.nodes() }
}
