/// A job as the orchestrator tracks it: the accepted spec plus its lifecycle.
public struct Job: Hashable, Codable, Sendable {
    public let id: JobID
    public var spec: JobSpec
    public private(set) var state: JobState
    /// Why the job is in its current state (a failure, or why it is queued), for people.
    public var stateReason: String?
    public let createdAt: Timestamp
    public var updatedAt: Timestamp
    /// Bumped on every change; lets stores and caches detect stale writes.
    public var version: Int

    public init(id: JobID, spec: JobSpec, createdAt: Timestamp) {
        self.id = id
        self.spec = spec
        self.state = .pending
        self.stateReason = nil
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.version = 1
    }

    /// Restores a job from storage without replaying its transitions.
    public init(
        id: JobID, spec: JobSpec, state: JobState, stateReason: String?, createdAt: Timestamp,
        updatedAt: Timestamp, version: Int
    ) {
        self.id = id
        self.spec = spec
        self.state = state
        self.stateReason = stateReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.version = version
    }

    /// Moves to `next` if the lifecycle allows it, and returns the event that records the change.
    public mutating func transition(to next: JobState, reason: String? = nil, at now: Timestamp) throws(IllegalTransition<JobState>)
        -> JobEvent
    {
        guard state.canTransition(to: next) else {
            throw IllegalTransition(from: state, to: next, subject: "job \(id)")
        }
        let previous = state
        state = next
        stateReason = reason
        updatedAt = now
        version += 1
        return JobEvent(
            jobID: id, at: now, kind: .jobStateChanged, executionID: nil,
            message: "job \(previous) → \(next)" + (reason.map { ": \($0)" } ?? ""))
    }
}

/// One attempt at one partition of a job, placed on one node.
public struct Execution: Hashable, Codable, Sendable {
    public let id: ExecutionID
    public let jobID: JobID
    public let partition: Int
    public let attempt: Int
    public let nodeID: NodeID
    public private(set) var state: ExecutionState
    public var desiredState: DesiredState
    public var stateReason: String?
    public var exitCode: Int32?
    public let createdAt: Timestamp
    public var updatedAt: Timestamp
    /// Bumped on every transition; the store applies an update only over an older version, so
    /// a stale write (from a second orchestrator, or a bug) fails instead of winning.
    public var version: Int

    public init(jobID: JobID, partition: Int, attempt: Int, nodeID: NodeID, createdAt: Timestamp) {
        self.id = ExecutionID(job: jobID, partition: partition, attempt: attempt)
        self.jobID = jobID
        self.partition = partition
        self.attempt = attempt
        self.nodeID = nodeID
        self.state = .pending
        self.desiredState = .run
        self.stateReason = nil
        self.exitCode = nil
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.version = 1
    }

    /// Restores an execution from storage without replaying its transitions.
    public init(
        id: ExecutionID, jobID: JobID, partition: Int, attempt: Int, nodeID: NodeID, state: ExecutionState,
        desiredState: DesiredState, stateReason: String?, exitCode: Int32?, createdAt: Timestamp,
        updatedAt: Timestamp, version: Int = 1
    ) {
        self.version = version
        self.id = id
        self.jobID = jobID
        self.partition = partition
        self.attempt = attempt
        self.nodeID = nodeID
        self.state = state
        self.desiredState = desiredState
        self.stateReason = stateReason
        self.exitCode = exitCode
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public mutating func transition(to next: ExecutionState, reason: String? = nil, at now: Timestamp) throws(
        IllegalTransition<ExecutionState>
    ) -> JobEvent {
        guard state.canTransition(to: next) else {
            throw IllegalTransition(from: state, to: next, subject: "execution \(id)")
        }
        let previous = state
        state = next
        if let reason { stateReason = reason }
        updatedAt = now
        version += 1
        return JobEvent(
            jobID: jobID, at: now, kind: .executionStateChanged, executionID: id,
            message: "execution \(id) on \(nodeID) \(previous) → \(next)" + (reason.map { ": \($0)" } ?? ""))
    }
}

/// One entry in a job's history. Events are ordered per job by `sequence`, assigned by the store
/// when the event is appended.
public struct JobEvent: Hashable, Codable, Sendable {
    public enum Kind: String, Hashable, Codable, Sendable {
        case submitted
        case jobStateChanged
        case executionStateChanged
        case placement
        case queued
        case note
    }
    public var jobID: JobID
    /// 0 until the store assigns it.
    public var sequence: Int64
    public var at: Timestamp
    public var kind: Kind
    public var executionID: ExecutionID?
    public var message: String

    public init(jobID: JobID, sequence: Int64 = 0, at: Timestamp, kind: Kind, executionID: ExecutionID?, message: String) {
        self.jobID = jobID
        self.sequence = sequence
        self.at = at
        self.kind = kind
        self.executionID = executionID
        self.message = message
    }
}
