import Foundation
public import InsituAudit
public import InsituModel
import Synchronization

/// An append-only, hash-chained audit log in one file (docs/AUDIT.md).
///
/// - Each entry is one line written with one `write(2)` on a descriptor opened with `O_APPEND`,
///   then `fdatasync`: once `append` returns, the entry survives a crash of the process and of
///   the machine.
/// - At open the whole log is verified and the chain resumes from its last entry. A damaged log
///   (an edited, removed or torn entry) is refused: nothing is appended to it, and the error says
///   how to keep it as evidence and start again.
/// - An exclusive `flock` keeps a second process from writing the same log and breaking its chain.
public final class AuditLog: Sendable {
    public let path: String
    private let state: Mutex<State>
    /// The highest entry known to be on disk.
    private let synced = Mutex<UInt64>(0)
    private let clock: @Sendable () -> Timestamp
    private let onFailure: @Sendable (any Error) -> Void

    private struct State {
        var descriptor: Int32
        var head: AuditHead?
        /// Set after a write that may have left part of a line: appending more would hide it.
        var failed: String?
    }

    /// The log at `path`, shared with any part of this process that has it open already: two
    /// writers in one process (an agent's runner reopened by a restart in tests, `insitu serve`)
    /// then append to one chain instead of the second being refused by the lock.
    public static func shared(
        path: String, clock: @escaping @Sendable () -> Timestamp = AuditLog.systemTime,
        onFailure: @escaping @Sendable (any Error) -> Void = { _ in }
    ) throws -> AuditLog {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        return try openLogs.withLock { logs in
            if let log = logs[key]?.log { return log }
            let log = try AuditLog(path: key, clock: clock, onFailure: onFailure)
            logs[key] = WeakLog(log)
            return log
        }
    }

    private final class WeakLog {
        weak var log: AuditLog?
        init(_ log: AuditLog) { self.log = log }
    }

    private static let openLogs = Mutex<[String: WeakLog]>([:])

    /// Opens (creating) the log at `path`, refused while any other writer has it open (use
    /// `shared` to share one within a process). `onFailure` hears of entries `record` could not write.
    public init(
        path: String, clock: @escaping @Sendable () -> Timestamp = AuditLog.systemTime,
        onFailure: @escaping @Sendable (any Error) -> Void = { _ in }
    ) throws {
        self.path = path
        self.clock = clock
        self.onFailure = onFailure
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw AuditLogError("cannot open the audit log \(path) for appending: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw AuditLogError("the audit log \(path) is in use by another process; only one process may write it")
        }
        let report: AuditFileReport
        do { report = try AuditFileCheck.verify(path: path) } catch {
            close(descriptor)
            throw error
        }
        if let problem = report.problem {
            close(descriptor)
            throw AuditLogError(
                "the audit log \(path) is damaged at \(problem), so nothing more is appended to it. "
                    + "Keep it as evidence: move it aside (for example to \(path).damaged) and start again with a new log; "
                    + "`insitu audit verify \(path)` shows the same problem")
        }
        state = Mutex(State(descriptor: descriptor, head: report.head))
    }

    deinit {
        _ = state.withLock { close($0.descriptor) }
    }

    /// The newest entry's head; nil while the log is empty.
    public var head: AuditHead? { state.withLock { $0.head } }

    /// Chains and writes one entry; returns it once it is durable.
    ///
    /// The write happens under the lock, in chain order; the `fdatasync` after it does not, and
    /// covers every entry written by then, so concurrent appends share one flush (group commit)
    /// instead of queueing one each behind the lock.
    @discardableResult
    public func append(_ event: AuditEvent) throws -> AuditEntry {
        let (entry, descriptor): (AuditEntry, Int32) = try state.withLock { state in
            if let failed = state.failed { throw AuditLogError(failed) }
            let entry = AuditEntry(after: state.head, event: event)
            let line = entry.line
            let written = line.withUnsafeBytes { write(state.descriptor, $0.baseAddress, $0.count) }
            guard written == line.count else {
                let reason = written < 0 ? String(cString: strerror(errno)) : "only \(written) of \(line.count) bytes were written"
                if written > 0 {
                    state.failed =
                        "an audit entry was only partly written to \(path) (\(reason)); the log needs an operator: "
                        + "check it with `insitu audit verify` and restart"
                }
                throw AuditLogError("cannot write to the audit log \(path): \(reason)")
            }
            state.head = entry.head
            return (entry, state.descriptor)
        }
        try synced.withLock { durable in
            guard durable < entry.seq else { return }
            let written = state.withLock { $0.head?.seq ?? 0 }
            guard fdatasync(descriptor) == 0 else {
                throw AuditLogError("cannot flush the audit log \(path) to disk: \(String(cString: strerror(errno)))")
            }
            durable = written
        }
        return entry
    }

    /// Records what happened now; a failure to write goes to `onFailure` (the process's log).
    public func record(_ actor: AuditActor, _ action: String, _ outcome: AuditOutcome = .ok, _ details: [String: AuditValue] = [:]) {
        do {
            try append(AuditEvent(time: clock(), actor: actor, action: action, outcome: outcome, details: details))
        } catch {
            onFailure(error)
        }
    }

    public static let systemTime: @Sendable () -> Timestamp = {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }

    /// The log's name in a data directory.
    public static let fileName = "audit.log"
}
