#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import InsituProcess
import Synchronization

/// One SQL execution, as the runner process receives it.
public struct SQLRunSpec: Codable, Hashable, Sendable {
    /// A mounted input: a directory whose files become tables (see `TableNaming`).
    public struct Source: Codable, Hashable, Sendable {
        public var hostPath: String
        /// What messages call it (the job's mount path): node paths never appear in them.
        public var guestPath: String

        public init(hostPath: String, guestPath: String) {
            self.hostPath = hostPath
            self.guestPath = guestPath
        }
    }

    public var query: String
    public var sources: [Source]
    /// Host directory the result files are written into (it must exist and be empty of them).
    public var outputDirectory: String
    /// Where CSV tables are imported: a database file in this directory, or, when nil, memory
    /// (then the imported rows count against the memory limit).
    public var scratchDirectory: String?
    /// Most rows the result may have.
    public var maxRows: Int64

    public init(query: String, sources: [Source], outputDirectory: String, scratchDirectory: String?, maxRows: Int64) {
        self.query = query
        self.sources = sources
        self.outputDirectory = outputDirectory
        self.scratchDirectory = scratchDirectory
        self.maxRows = maxRows
    }
}

/// How one SQL execution ended.
public struct SQLRunResult: Codable, Hashable, Sendable {
    public enum Status: String, Codable, Hashable, Sendable {
        case succeeded, failed, timedOut, outOfMemory, cancelled
    }
    public var status: Status
    public var reason: String?
    /// Rows in the result, when it was written.
    public var rows: Int?

    public init(status: Status, reason: String? = nil, rows: Int? = nil) {
        self.status = status
        self.reason = reason
        self.rows = rows
    }
}

/// When a run must stop: cancelled by its owner, past its deadline, or orphaned (its parent, the
/// agent, is gone). Checked by SQLite's progress handler while a statement runs and by the CSV
/// import between rows, so a run stops within milliseconds of any of these.
public final class SQLRunControl: Sendable {
    private let cancelled = Atomic<Bool>(false)
    let timeout: Duration?
    private let deadline: ContinuousClock.Instant?
    private let parentPID: Int32?

    public init(timeout: Duration? = nil, parentPID: Int32? = nil) {
        self.timeout = timeout
        self.deadline = timeout.map { ContinuousClock.now + $0 }
        self.parentPID = parentPID
    }

    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Why the run must stop now, or nil to go on.
    func stopReason() -> SQLRunResult? {
        if cancelled.load(ordering: .relaxed) { return SQLRunResult(status: .cancelled, reason: "cancelled") }
        if let deadline, ContinuousClock.now >= deadline {
            return SQLRunResult(status: .timedOut, reason: "exceeded its timeout of \(formatSeconds(timeout ?? .zero))")
        }
        if let parentPID, getppid() != parentPID {
            return SQLRunResult(status: .cancelled, reason: "the agent that started it is gone")
        }
        return nil
    }
}
