import Foundation
import GRDB
import InsituAPI
import InsituModel
import Synchronization

/// The agent's durable state: one SQLite file (`agent.sqlite` in the data directory, WAL mode)
/// holding every execution the node accepted and every numbered message not yet acknowledged by
/// the orchestrator.
///
/// The rules that make a restart (`kill -9` and power loss included) honest:
/// - an assignment is stored before the frame that carried it is acknowledged, and before it runs;
/// - an execution is marked started before its engine starts, so after a crash the agent knows it
///   was interrupted and never starts it again under the same ID;
/// - a message is stored before it is sent; a result is stored in the same transaction that
///   marks its execution finished;
/// - what the orchestrator acknowledged is deleted (messages, and executions whose result it
///   accepted), so the file holds only work in flight.
///
/// Group commit: writes that arrive while a transaction is being committed share the next one
/// (each in its own savepoint, so a failing write fails alone), so a busy node pays one `fsync`
/// for many executions instead of one each. Each write says how durable it must be when it
/// returns (`Durability`); a group is fsynced if any of its writes needs it.
final class AgentStore: Sendable {
    /// How durable a write is once it returns.
    enum Durability {
        /// In the fsynced write-ahead log (`synchronous=FULL`): survives power loss. For what
        /// nothing else would recover: an execution's start (or it could run twice under one ID)
        /// and the messages the node sends (results, output).
        case powerLoss
        /// In the write-ahead log, not yet fsynced (`synchronous=NORMAL`): survives a crash of the
        /// agent (`kill -9`), not power loss, until the next `.powerLoss` write, whose fsync covers
        /// it too (the log is one file, replayed in order). For writes whose loss power failure
        /// cannot turn into a wrong outcome: an assignment (it is marked started, fsynced, before
        /// it runs; if power fails before that, it never ran, and the orchestrator sends it again
        /// when the node's hello does not list it) and deletions of acknowledged work (a lost one
        /// is replayed, and ignored as a repeat).
        case processCrash
    }

    /// One write waiting for, or in, a group transaction. Only the writer connection touches it
    /// until `finish`.
    private final class Request: @unchecked Sendable {
        let durability: Durability
        let apply: (Database) throws -> Void
        let finish: ((any Error)?) -> Void
        var failure: (any Error)?

        init(durability: Durability, apply: @escaping (Database) throws -> Void, finish: @escaping ((any Error)?) -> Void) {
            self.durability = durability
            self.apply = apply
            self.finish = finish
        }
    }

    /// Holds a write's value between its savepoint and its group's commit.
    private final class Box<T>: @unchecked Sendable {
        var value: T?
    }

    private let queued = Mutex<[Request]>([])

    /// Where an accepted execution is in its life on this node.
    enum Phase: String {
        /// Stored, not started: after a restart it may start (it never ran).
        case assigned
        /// Its engine may have run: after a restart it is reported as interrupted, never re-run.
        case started
        /// Its result is in the outbox, waiting for the orchestrator's acknowledgement.
        case finished
    }

    struct StoredExecution {
        var id: ExecutionID
        var phase: Phase
        /// Nil when the stored assignment cannot be decoded (written by another version).
        var assignment: ExecutionAssignment?
    }

    struct StoredMessage {
        /// Position in the outbox: increasing in the order messages were queued.
        var position: Int64
        var message: AgentMessage
    }

    struct Contents {
        var executions: [StoredExecution]
        var outbox: [StoredMessage]
        /// Outbox rows that no longer decode; they were deleted (described for the log).
        var unreadable: [String]
    }

    private let writer: any DatabaseWriter

    static let fileName = "agent.sqlite"

    /// Opens (or creates) the store in `directory`, which is created if needed.
    convenience init(directory: String) throws {
        let path = directory + "/" + Self.fileName
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.label = "insitu.agent.store"
            configuration.busyMode = .timeout(5)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.writeWithoutTransaction { db in
                // WAL, so that one fsync of the log makes every commit before it durable too (see
                // `Durability`); each group sets `synchronous` for its own commit.
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = FULL")
                guard mode == "wal" else { throw AgentStoreError("journal_mode is \(mode ?? "unknown"), expected wal") }
            }
            try self.init(writer: queue)
        } catch let error as AgentStoreError where error.isNewerSchema {
            // Not damage: moving this file away would lose the node's unreported work for nothing.
            throw AgentStoreError("cannot open the agent's state \(path): \(error)", isNewerSchema: true)
        } catch {
            throw AgentStoreError(
                "cannot open the agent's state \(path): \(error). If the file is damaged, stop the agent, move the file "
                    + "away and start again: the node then forgets its unreported work, which the orchestrator marks lost")
        }
    }

    /// A store that lives in memory only (tests).
    static func inMemory() throws -> AgentStore { try AgentStore(writer: DatabaseQueue()) }

    private init(writer: any DatabaseWriter) throws {
        self.writer = writer
        var migrator = DatabaseMigrator()
        // Append-only: never edit a registered migration, register "v2" instead.
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE executions (
                        id TEXT NOT NULL PRIMARY KEY,
                        phase TEXT NOT NULL,
                        assignment TEXT NOT NULL
                    );
                    CREATE TABLE outbox (
                        position INTEGER PRIMARY KEY AUTOINCREMENT,
                        execution_id TEXT,
                        message TEXT NOT NULL
                    );
                    """)
        }
        // A file a newer agent migrated is refused, not passed over: this version would read and
        // write a schema it was not written for.
        let unknown = try writer.read { db in try migrator.appliedIdentifiers(db).subtracting(migrator.migrations) }
        guard unknown.isEmpty else {
            throw AgentStoreError(
                "it was upgraded by a newer version of insitu (its migrations \(unknown.sorted().map { "'\($0)'" }.joined(separator: ", ")) "
                    + "are unknown to this one); run the newer version: there is no downgrade",
                isNewerSchema: true)
        }
        try migrator.migrate(writer)
    }

    // MARK: Executions

    /// Stores a new assignment. Returns false (and stores nothing) if this execution is already
    /// known here: a repeat of an assignment must never run the same attempt twice.
    func assign(_ assignment: ExecutionAssignment) async throws -> Bool {
        try await queueAssign(assignment).value()
    }

    /// `assign` without waiting: the agent's link queues one assignment after the other while
    /// the store writes them, in one group.
    func queueAssign(_ assignment: ExecutionAssignment) -> Pending<Bool> {
        let json: String
        do {
            json = String(decoding: try Self.encoder.encode(assignment), as: UTF8.self)
        } catch {
            return Pending(.failure(error))
        }
        return queueWrite(.processCrash) { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO executions (id, phase, assignment) VALUES (?, ?, ?)",
                arguments: [assignment.executionID.rawValue, Phase.assigned.rawValue, json])
            return db.changesCount == 1
        }
    }

    func markStarted(_ id: ExecutionID) async throws {
        try await write(.powerLoss) { db in
            try db.execute(
                sql: "UPDATE executions SET phase = ? WHERE id = ? AND phase = ?",
                arguments: [Phase.started.rawValue, id.rawValue, Phase.assigned.rawValue])
        }
    }

    /// Ends every execution that was started when the agent stopped: its engine is gone with the
    /// process, and running it again under the same ID would hide a second run. Each gets the
    /// failed `interrupted(id)` in the outbox, in the transaction that marks it finished. An
    /// assignment that can no longer be read (stored by another version) cannot start, so it
    /// ends the same way with `unreadable(id)`. Returns the IDs ended.
    func finishInterrupted(
        interrupted: (ExecutionID) -> ExecutionResultMessage, unreadable: (ExecutionID) -> ExecutionResultMessage
    ) throws -> [ExecutionID] {
        try writer.write { db in
            var ended: [ExecutionID] = []
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, phase, assignment FROM executions WHERE phase != ? ORDER BY id", arguments: [Phase.finished.rawValue])
            for row in rows {
                let id = ExecutionID(rawValue: row["id"])
                let text: String = row["assignment"]
                let result: ExecutionResultMessage
                if Phase(rawValue: row["phase"]) == .assigned {
                    guard (try? Self.decoder.decode(ExecutionAssignment.self, from: Data(text.utf8))) == nil else { continue }
                    result = unreadable(id)
                } else {
                    result = interrupted(id)
                }
                _ = try Self.insert(.executionResult(result), into: db)
                ended.append(id)
            }
            return ended
        }
    }

    // MARK: Outbox

    /// Stores a numbered message; a result also marks its execution finished, atomically.
    /// Returns its position.
    func append(_ message: AgentMessage) async throws -> Int64 {
        try await write(.powerLoss) { db in try Self.insert(message, into: db) }
    }

    private static func insert(_ message: AgentMessage, into db: Database) throws -> Int64 {
        let json = String(decoding: try encoder.encode(message), as: UTF8.self)
        try db.execute(
            sql: "INSERT INTO outbox (execution_id, message) VALUES (?, ?)", arguments: [message.executionID?.rawValue, json])
        let position = db.lastInsertedRowID
        if case .executionResult(let result) = message {
            try db.execute(
                sql: "UPDATE executions SET phase = ? WHERE id = ?", arguments: [Phase.finished.rawValue, result.executionID.rawValue])
        }
        return position
    }

    /// The orchestrator acknowledged the messages at `positions`; `settled` are executions whose
    /// results were among them. Both are deleted: the orchestrator has them durably. Returns at
    /// once; the deletion joins the next group, and `failed` is called if it fails (harmless: what
    /// stays stored is sent again after a restart and ignored as a repeat).
    func acknowledge(positions: [Int64], settled: [ExecutionID], failed: @escaping @Sendable (any Error) -> Void) {
        guard !positions.isEmpty || !settled.isEmpty else { return }
        enqueue(
            Request(
                durability: .processCrash,
                apply: { db in
                    for position in positions {
                        try db.execute(sql: "DELETE FROM outbox WHERE position = ?", arguments: [position])
                    }
                    for id in settled {
                        try db.execute(sql: "DELETE FROM executions WHERE id = ?", arguments: [id.rawValue])
                    }
                },
                finish: { error in if let error { failed(error) } }))
    }

    /// Returns once every write queued before the call is committed (groups commit in order).
    /// For tests that stand for an agent that ran on after an acknowledgement.
    func committedQueuedWrites() async throws {
        _ = try await write(.processCrash) { _ in true }
    }

    // MARK: Group commit

    /// Runs `body` in the next group transaction and returns its value once the group is
    /// committed as durably as `durability` asks.
    private func write<T: Sendable>(_ durability: Durability, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await queueWrite(durability, body).value()
    }

    /// Queues `body` for the next group transaction without waiting; its outcome is collected
    /// with `Pending.value()`.
    private func queueWrite<T: Sendable>(_ durability: Durability, _ body: @escaping @Sendable (Database) throws -> T) -> Pending<T> {
        let pending = Pending<T>()
        let box = Box<T>()
        enqueue(
            Request(
                durability: durability, apply: { db in box.value = try body(db) },
                finish: { error in
                    if let error {
                        pending.complete(.failure(error))
                    } else if let value = box.value {
                        pending.complete(.success(value))
                    } else {
                        pending.complete(.failure(AgentStoreError("a write to the agent's store produced no value")))
                    }
                }))
        return pending
    }

    /// Queues `request` and schedules a writer turn. A turn takes every request queued by then,
    /// so requests that arrive while a group commits share the next turn's transaction (the
    /// turns they scheduled themselves find nothing left and end at once).
    private func enqueue(_ request: Request) {
        queued.withLock { $0.append(request) }
        writer.asyncWriteWithoutTransaction { [self] db in writeQueued(db) }
    }

    private func writeQueued(_ db: Database) {
        let group = queued.withLock { queued in
            defer { queued.removeAll() }
            return queued
        }
        guard !group.isEmpty else { return }
        var failure: (any Error)?
        do {
            let durable = group.contains { $0.durability == .powerLoss }
            try db.execute(sql: durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            try db.inTransaction(.immediate) {
                for request in group {
                    do {
                        try db.inSavepoint {
                            try request.apply(db)
                            return .commit
                        }
                    } catch {
                        // Some errors (I/O, disk full) make SQLite abandon the whole transaction.
                        guard db.isInsideTransaction else { throw error }
                        request.failure = error
                    }
                }
                return .commit
            }
        } catch {
            // Nothing of the group is stored, not even the writes that applied cleanly.
            failure = error
        }
        for request in group { request.finish(failure ?? request.failure) }
    }

    // MARK: Loading

    /// Everything stored, the outbox in the order it was queued. Outbox rows that no longer decode
    /// are deleted and described: sending garbage would only make the orchestrator close the link.
    func load() throws -> Contents {
        try writer.write { db in
            var executions: [StoredExecution] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, phase, assignment FROM executions ORDER BY id") {
                let id = ExecutionID(rawValue: row["id"])
                let text: String = row["assignment"]
                executions.append(
                    StoredExecution(
                        id: id, phase: Phase(rawValue: row["phase"]) ?? .started,
                        assignment: try? Self.decoder.decode(ExecutionAssignment.self, from: Data(text.utf8))))
            }
            var outbox: [StoredMessage] = []
            var unreadable: [String] = []
            for row in try Row.fetchAll(db, sql: "SELECT position, message FROM outbox ORDER BY position") {
                let position: Int64 = row["position"]
                let text: String = row["message"]
                do {
                    outbox.append(StoredMessage(position: position, message: try Self.decoder.decode(AgentMessage.self, from: Data(text.utf8))))
                } catch {
                    unreadable.append("outbox message \(position): \(error)")
                    try db.execute(sql: "DELETE FROM outbox WHERE position = ?", arguments: [position])
                }
            }
            return Contents(executions: executions, outbox: outbox, unreadable: unreadable)
        }
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
    private static var decoder: JSONDecoder { JSONDecoder() }
}

/// The outcome of a write queued for a group commit, once that group is committed.
final class Pending<T: Sendable>: Sendable {
    private struct State {
        var outcome: Result<T, any Error>?
        var waiters: [CheckedContinuation<T, any Error>] = []
    }
    private let state: Mutex<State>

    init(_ outcome: Result<T, any Error>? = nil) {
        state = Mutex(State(outcome: outcome))
    }

    func complete(_ outcome: Result<T, any Error>) {
        let waiters = state.withLock { state in
            state.outcome = outcome
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(with: outcome) }
    }

    /// Waits for the write's group to be committed and returns the write's value.
    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state in
                if state.outcome == nil { state.waiters.append(continuation) }
                return state.outcome
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }
}

struct AgentStoreError: Error, CustomStringConvertible {
    var description: String
    /// The file was migrated by a newer version: not damaged, and not to be moved away.
    var isNewerSchema = false
    init(_ description: String, isNewerSchema: Bool = false) {
        self.description = description
        self.isNewerSchema = isNewerSchema
    }
}

extension AgentMessage {
    /// The execution a message is about, if any.
    var executionID: ExecutionID? {
        switch self {
        case .hello, .heartbeat: nil
        case .executionUpdate(let update): update.executionID
        case .executionOutput(let output): output.executionID
        case .executionResult(let result): result.executionID
        }
    }
}
