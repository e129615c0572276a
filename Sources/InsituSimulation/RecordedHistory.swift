public import InsituModel

/// What a real orchestrator recorded, read back through its API after a run (the chaos harness),
/// so the same `HistoryChecker` promises are checked on real processes as in the simulation.
///
/// A real store keeps only the latest state of each job and execution; the states in between are
/// in the job's events ("job A → B", "execution ID on NODE A → B"), which this replays in order.
public struct RecordedHistory: Sendable {
    public var jobs: [JobID: Job] = [:]
    public var executions: [ExecutionID: Execution] = [:]
    /// Every job's events, in the order the store appended them.
    public var events: [JobID: [JobEvent]] = [:]
    public var results: [ResultRecord] = []
    public var logs: [LogRecord] = []

    public init() {}

    public mutating func add(job: Job, executions: [Execution], events: [JobEvent], results: [ResultRecord], logs: [LogRecord]) {
        jobs[job.id] = job
        for execution in executions { self.executions[execution.id] = execution }
        self.events[job.id] = events.sorted { $0.sequence < $1.sequence }
        self.results += results
        self.logs += logs
    }

    /// A state change as the control plane words it in an event message; nil for other messages.
    static func transition(in message: String) -> (from: String, to: String)? {
        guard let arrow = message.range(of: " → ") else { return nil }
        guard let from = message[..<arrow.lowerBound].split(separator: " ").last else { return nil }
        let rest = message[arrow.upperBound...]
        let to = rest.prefix { $0 != ":" && $0 != " " }
        return (String(from), String(to))
    }
}

extension HistoryChecker {
    /// Checks a recorded run: every state change in the events is legal and they chain from the
    /// first state to the stored one, at most one result per (job, partition) and at most one
    /// succeeded execution per (job, partition), then the end-of-run checks of `finish(store:now:)`
    /// (accepted jobs stored and terminal within their bounds, no log line stored twice).
    /// Terminal times are those of the events that made each job terminal.
    public mutating func check(_ recorded: RecordedHistory) {
        for (id, job) in recorded.jobs.sorted(by: { $0.key < $1.key }) {
            var jobState = JobState.pending
            var executionStates: [ExecutionID: ExecutionState] = [:]
            for event in recorded.events[id] ?? [] {
                guard let change = RecordedHistory.transition(in: event.message) else { continue }
                switch event.kind {
                case .jobStateChanged:
                    guard let from = JobState(rawValue: change.from), let to = JobState(rawValue: change.to) else {
                        violation("job \(id): unreadable state change \(event.message.debugDescription)")
                        continue
                    }
                    if from != jobState { violation("job \(id) left \(from) while it was \(jobState): \(event.message)") }
                    observeTransition(of: id, from: from, to: to)
                    if to.isTerminal && !from.isTerminal { recordTerminal(id, at: event.at) }
                    jobState = to
                case .executionStateChanged:
                    guard let execution = event.executionID, let from = ExecutionState(rawValue: change.from),
                        let to = ExecutionState(rawValue: change.to)
                    else {
                        violation("job \(id): unreadable execution state change \(event.message.debugDescription)")
                        continue
                    }
                    let current = executionStates[execution] ?? from
                    if current != from {
                        violation("execution \(execution) left \(from) while it was \(current): \(event.message)")
                    }
                    if executionStates[execution] == nil && from != .pending && from != .dispatched {
                        violation("execution \(execution) first recorded as \(from)")
                    }
                    observeTransition(of: execution, from: from, to: to)
                    executionStates[execution] = to
                default:
                    continue
                }
            }
            if jobState != job.state { violation("job \(id) is stored as \(job.state) but its events end at \(jobState)") }
            for (execution, state) in executionStates where recorded.executions[execution].map({ $0.state != state }) ?? true {
                let stored = recorded.executions[execution].map { "\($0.state)" } ?? "missing"
                violation("execution \(execution) is stored as \(stored) but its events end at \(state)")
            }
        }
        checkResults(recorded.results)
        var succeeded: [String: ExecutionID] = [:]
        for execution in recorded.executions.values.sorted(by: { $0.id < $1.id }) where execution.state == .succeeded {
            let key = "\(execution.jobID)/\(execution.partition)"
            if let other = succeeded[key] {
                violation("job \(execution.jobID) partition \(execution.partition) succeeded twice: \(other) and \(execution.id)")
            }
            succeeded[key] = execution.id
        }
        finish(jobs: recorded.jobs, executions: recorded.executions, logs: recorded.logs)
    }
}
