public import InsituModel

/// Checks a run's history against the control plane's promises. It sees every committed change
/// (through `SimulatedStore`), every submission a caller was told succeeded, and every
/// acknowledgement a node received, and records each broken promise as a violation:
///
/// - no accepted job lost: every job a caller got a 2xx for is stored and ends terminal;
/// - no (job, partition) with two accepted results;
/// - every job terminal within its bound (queue timeout, retries, timeouts, grace periods);
/// - only legal job and execution state transitions, and nothing changes after terminal;
/// - no acknowledged message whose effect is missing.
public struct HistoryChecker: Sendable {
    public private(set) var violations: [String] = []
    /// Jobs whose submission was answered, with when and the longest they may take.
    public private(set) var accepted: [JobID: (at: Timestamp, boundMillis: Int64)] = [:]
    public private(set) var terminalAt: [JobID: Timestamp] = [:]

    public init() {}

    public mutating func violation(_ text: String) {
        // Enough to debug; a broken run can otherwise produce millions.
        if violations.count < 100 { violations.append(text) }
    }

    public mutating func observe(job: Job, previous: Job?, at now: Timestamp) {
        if let previous, previous.state != job.state {
            observeTransition(of: job.id, from: previous.state, to: job.state)
        }
        if job.state.isTerminal && previous.map({ !$0.state.isTerminal }) ?? true { terminalAt[job.id] = now }
    }

    /// `id` became terminal at `time`, as a recorded event says.
    mutating func recordTerminal(_ id: JobID, at time: Timestamp) {
        if terminalAt[id] == nil { terminalAt[id] = time }
    }

    /// One job state change, whether seen in a simulated commit or read back from a real
    /// orchestrator's events (`RecordedHistory`).
    mutating func observeTransition(of id: JobID, from previous: JobState, to next: JobState) {
        if previous.isTerminal {
            violation("job \(id) changed after it was terminal: \(previous) → \(next)")
        } else if !previous.canTransition(to: next) {
            violation("illegal job transition \(id): \(previous) → \(next)")
        }
    }

    mutating func observeTransition(of id: ExecutionID, from previous: ExecutionState, to next: ExecutionState) {
        if previous.isTerminal {
            violation("execution \(id) changed after it was terminal: \(previous) → \(next)")
        } else if !previous.canTransition(to: next) {
            violation("illegal execution transition \(id): \(previous) → \(next)")
        }
    }

    /// Accepted results, wherever they were stored: at most one per (job, partition).
    mutating func checkResults(_ results: [ResultRecord]) {
        var first: [String: ExecutionID] = [:]
        for result in results {
            let key = "\(result.jobID)/\(result.partition)"
            if let existing = first[key] {
                violation(
                    "second accepted result for job \(result.jobID) partition \(result.partition): "
                        + "\(existing) then \(result.executionID)")
            } else {
                first[key] = result.executionID
            }
        }
    }

    public mutating func observe(execution: Execution, previous: Execution?) {
        guard let previous else {
            if execution.state != .pending && execution.state != .dispatched {
                violation("execution \(execution.id) first stored as \(execution.state)")
            }
            return
        }
        guard previous.state != execution.state else { return }
        observeTransition(of: execution.id, from: previous.state, to: execution.state)
    }

    /// A caller was told the job is accepted (durable).
    public mutating func submitted(_ id: JobID, at now: Timestamp, boundMillis: Int64) {
        if accepted[id] == nil { accepted[id] = (now, boundMillis) }
    }

    /// A node got the acknowledgement of its final report for `execution`: the store must show
    /// the execution terminal, or the report was dropped.
    public mutating func acknowledgedResult(_ execution: ExecutionID, node: NodeID, store: SimulatedStore) {
        guard let stored = store.executions[execution] else {
            violation("node \(node) got an acknowledgement for a report of \(execution), which is not stored")
            return
        }
        if !stored.state.isTerminal {
            violation("node \(node) got an acknowledgement for the final report of \(execution), but it is stored as \(stored.state)")
        }
    }

    /// The end of a run, once faults stopped and time ran on: every accepted job is stored and
    /// terminal within its bound, and no log line was stored twice.
    public mutating func finish(store: SimulatedStore, now: Timestamp) {
        finish(jobs: store.jobs, executions: store.executions, logs: store.logs)
    }

    /// The end-of-run checks over what was stored, from a simulated store or a real orchestrator.
    mutating func finish(jobs: [JobID: Job], executions: [ExecutionID: Execution], logs: [LogRecord]) {
        for (id, acceptance) in accepted.sorted(by: { $0.key < $1.key }) {
            guard let job = jobs[id] else {
                violation("accepted job \(id) is not stored")
                continue
            }
            guard job.state.isTerminal, let end = terminalAt[id] else {
                let attempts = executions.values.filter { $0.jobID == id }.sorted { $0.id < $1.id }
                    .map { "\($0.id)@\($0.nodeID)=\($0.state)" }.joined(separator: ", ")
                violation("job \(id) is still \(job.state) at the end of the run; executions: \(attempts)")
                continue
            }
            let took = end.milliseconds - acceptance.at.milliseconds
            if took > acceptance.boundMillis {
                violation("job \(id) took \(took) ms to finish, beyond its bound of \(acceptance.boundMillis) ms")
            }
        }
        var seen = Set<String>()
        for log in logs where !log.text.hasPrefix("[insitu") && !log.text.hasPrefix("\n[insitu") {
            if !seen.insert("\(log.executionID)/\(log.stream)/\(log.text)").inserted {
                violation("log line stored twice for \(log.executionID): \(log.text.debugDescription)")
            }
        }
    }
}
