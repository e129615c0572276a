public import InsituModel
public import InsituStore

/// The store contract in memory, with the commit semantics of the real one: atomic batches,
/// inserts that fail on an existing job ID or idempotency key, version-checked job updates. It
/// does not silently skip a second result for a (job, partition) as the SQLite store does: the
/// history checker is told, because the control plane must never produce one.
public struct SimulatedStore: Sendable {
    public private(set) var jobs: [JobID: Job] = [:]
    public private(set) var executions: [ExecutionID: Execution] = [:]
    public private(set) var nodes: [NodeID: NodeRecord] = [:]
    public private(set) var results: [String: ResultRecord] = [:]
    public private(set) var keys: [String: JobID] = [:]
    public private(set) var events: [JobEvent] = []
    public private(set) var logs: [LogRecord] = []
    /// Commits to refuse next, as a full disk would.
    public var failNextCommits = 0
    public private(set) var commits = 0

    public init() {}

    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    public mutating func commit(_ batch: StoreBatch, checker: inout HistoryChecker, at now: Timestamp) throws {
        if failNextCommits > 0 {
            failNextCommits -= 1
            throw Refused(description: "injected commit failure")
        }
        for job in batch.jobs {
            if batch.createdJobs.contains(job.id) {
                guard jobs[job.id] == nil else { throw Refused(description: "job \(job.id) exists") }
            } else if let stored = jobs[job.id], stored.version >= job.version {
                throw Refused(description: "stale write of job \(job.id)")
            }
        }
        for execution in batch.executions {
            if let stored = executions[execution.id], stored.version >= execution.version {
                throw Refused(description: "stale write of execution \(execution.id)")
            }
        }
        for (key, _) in batch.idempotencyKeys where keys[key] != nil {
            throw Refused(description: "idempotency key \(key) is claimed")
        }
        // Valid: apply all of it, telling the checker about every change.
        commits += 1
        for job in batch.jobs {
            checker.observe(job: job, previous: jobs[job.id], at: now)
            jobs[job.id] = job
        }
        for execution in batch.executions {
            checker.observe(execution: execution, previous: executions[execution.id])
            executions[execution.id] = execution
        }
        for (key, id) in batch.idempotencyKeys { keys[key] = id }
        for record in batch.nodes { nodes[record.info.id] = record }
        for id in batch.forgottenNodes { nodes[id] = nil }
        for result in batch.results {
            let key = "\(result.jobID)/\(result.partition)"
            if let existing = results[key] {
                checker.violation(
                    "second accepted result for job \(result.jobID) partition \(result.partition): "
                        + "\(existing.executionID) then \(result.executionID)")
                continue
            }
            results[key] = result
        }
        events.append(contentsOf: batch.events)
        logs.append(contentsOf: batch.logs)
    }

    public func recover() -> RecoveredState {
        let active = jobs.values.filter { !$0.state.isTerminal }
        let ids = Set(active.map(\.id))
        return RecoveredState(
            activeJobs: active.sorted { $0.id < $1.id },
            executions: executions.values.filter { ids.contains($0.jobID) }.sorted { $0.id < $1.id },
            nodes: nodes.values.sorted { $0.info.id < $1.info.id })
    }

    /// Bytes of log text per active execution and stream, as the real store reports them.
    public func logBytes() -> [ExecutionID: [String: Int64]] {
        var bytes: [ExecutionID: [String: Int64]] = [:]
        for log in logs where executions[log.executionID].map({ !$0.state.isTerminal }) ?? false {
            bytes[log.executionID, default: [:]][log.stream, default: 0] += Int64(log.text.utf8.count)
        }
        return bytes
    }
}
