/// Job and execution lifecycles. Each is an enum with its legal transitions written down in one
/// place; every state change in the system goes through `transition(to:)`, and every transition is
/// recorded as an event in the job's history.

public struct IllegalTransition<State: Sendable & CustomStringConvertible>: Error, CustomStringConvertible, Sendable {
    public let from: State
    public let to: State
    public let subject: String
    public var description: String { "illegal transition of \(subject) from \(from) to \(to)" }
}

/// ```
/// pending ──► queued ◄──► running ──► completed
///    │          │            │──────► failed
///    │          │            └──────► stopped
///    └──────────┴──► failed / stopped
/// ```
/// `pending`: accepted and durable, not yet evaluated. `queued`: evaluated, but not every execution
/// could be placed (the reasons are kept); it is re-evaluated when the cluster changes. `running`:
/// at least one execution is placed. A job is terminal once completed, failed or stopped.
public enum JobState: String, Hashable, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case pending
    case queued
    case running
    case completed
    case failed
    case stopped

    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .stopped: return true
        case .pending, .queued, .running: return false
        }
    }

    public func canTransition(to next: JobState) -> Bool {
        switch (self, next) {
        case (.pending, .queued), (.pending, .running), (.pending, .failed), (.pending, .stopped): return true
        case (.queued, .running), (.queued, .failed), (.queued, .stopped): return true
        case (.running, .queued), (.running, .completed), (.running, .failed), (.running, .stopped): return true
        default: return false
        }
    }

    public var description: String { rawValue }
}

/// ```
/// pending ──► dispatched ──► running ──► succeeded
///    │            │             │──────► failed
///    │            │             │──────► cancelled
///    │            │             └──────► lost
///    └────────────┴──► failed / cancelled / lost
/// ```
/// `pending`: planned and durable, not yet sent. `dispatched`: sent to its node, not yet started.
/// `lost`: its node went away before it reported a final state.
public enum ExecutionState: String, Hashable, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case pending
    case dispatched
    case running
    case succeeded
    case failed
    case cancelled
    case lost

    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .lost: return true
        case .pending, .dispatched, .running: return false
        }
    }

    public func canTransition(to next: ExecutionState) -> Bool {
        switch (self, next) {
        case (.pending, .dispatched), (.pending, .failed), (.pending, .cancelled), (.pending, .lost): return true
        case (.dispatched, .running), (.dispatched, .failed), (.dispatched, .cancelled), (.dispatched, .lost):
            return true
        // A node may finish before its "running" report is seen; a final report may skip "running".
        case (.dispatched, .succeeded): return true
        case (.running, .succeeded), (.running, .failed), (.running, .cancelled), (.running, .lost): return true
        default: return false
        }
    }

    public var description: String { rawValue }
}

/// What the orchestrator wants an execution to be doing, as opposed to what was last observed.
public enum DesiredState: String, Hashable, Codable, Sendable {
    case run
    case stop
}
