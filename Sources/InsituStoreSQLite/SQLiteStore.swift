import Foundation
import GRDB
import Synchronization
public import InsituModel
public import InsituStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The orchestrator's durable state in one SQLite file (WAL mode, `synchronous=FULL`).
///
/// Durability: `commit(_:)` returns only after its transaction is in the write-ahead log and the
/// log is fsynced, so an accepted job survives `kill -9` and power loss. Reads run on a pool of
/// read-only connections and never wait for a commit.
///
/// Group commit: batches committed concurrently share one transaction and one fsync (each batch
/// in its own savepoint, so a failing batch fails alone). A lone commit runs by itself; under load
/// the fsync cost is spread over everything that queued up behind the previous one.
///
/// One process owns the file: event and log sequences are computed inside the write transaction
/// from the rows already stored, so they stay correct across restarts and failed batches.
public final class SQLiteStore: OrchestratorStore {
    let writer: any DatabaseWriter
    private let queue = Mutex(CommitQueue())

    /// Upper bound on the batches that share one transaction, which bounds how long the first of
    /// them waits for the fsync.
    private static let maximumGroupSize = 128

    /// Opens (or creates) the database at `path` and brings its schema up to date. The file's
    /// directory must already exist.
    public convenience init(path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StoreError("cannot open store at \(path): directory \(directory) does not exist")
        }
        let existed = FileManager.default.fileExists(atPath: path)

        var configuration = Configuration()
        configuration.label = "insitu.store"
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // No-ops on Linux; on Darwin plain fsync does not reach the platter.
            try db.execute(sql: "PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            if existed { try Self.verify(pool, path: path) }
        } catch let error as StoreError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB {
            // Damage in the schema pages shows when the file is opened, before quick_check runs.
            throw StoreError(
                "the database \(path) is damaged (\(error)); "
                    + "restore it from a backup, or move it away and start with --init to begin empty")
        } catch {
            throw StoreError(
                "cannot open the database \(path): \(error). If the file is damaged, restore it from a backup; "
                    + "do not delete it while the blobs beside it hold results")
        }
        // DatabasePool switches the writer to synchronous=NORMAL after prepareDatabase (a commit
        // could then be lost on power failure), so restore FULL here and check that it held.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            let synchronous = try Int.fetchOne(db, sql: "PRAGMA synchronous")
            guard synchronous == 2 else {
                throw StoreError("cannot open store at \(path): PRAGMA synchronous is \(synchronous.map(String.init) ?? "unknown"), expected 2 (FULL)")
            }
            let journalMode = try String.fetchOne(db, sql: "PRAGMA journal_mode")
            guard journalMode == "wal" else {
                throw StoreError("cannot open store at \(path): journal_mode is \(journalMode ?? "unknown"), expected wal")
            }
        }
        try Self.refuseNewerSchema(pool, path: path)
        try self.init(writer: pool)
        if !existed {
            // Make the new file's directory entry durable too.
            try Self.syncDirectory(directory)
        }
    }

    /// Refuses a damaged file at start rather than failing every request later: `quick_check`
    /// reads every page (seconds for a large database, once per start).
    private static func verify(_ pool: DatabasePool, path: String) throws {
        let findings = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(10)") }
        guard findings == ["ok"] else {
            throw StoreError(
                "the database \(path) is damaged (sqlite quick_check: \(findings.joined(separator: "; "))); "
                    + "restore it from a backup, or move it away and start with --init to begin empty")
        }
    }

    /// Refuses a file a newer version has migrated: GRDB would pass over the migrations it does
    /// not know, and this version would then read and write a schema it was not written for.
    private static func refuseNewerSchema(_ pool: DatabasePool, path: String) throws {
        let migrator = Schema.migrator
        let unknown = try pool.read { db in try migrator.appliedIdentifiers(db).subtracting(migrator.migrations) }
        guard unknown.isEmpty else {
            throw StoreError(
                "the database \(path) was upgraded by a newer version of insitu (its migrations "
                    + "\(unknown.sorted().map { "'\($0)'" }.joined(separator: ", ")) are unknown to this one); "
                    + "run the newer version, or restore the backup taken before the upgrade: there is no downgrade")
        }
    }

    /// A private in-memory store (no WAL, nothing durable), for tests.
    public static func inMemory() throws -> SQLiteStore {
        try SQLiteStore(writer: DatabaseQueue())
    }

    private init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try Schema.migrator.migrate(writer)
    }

    /// The durability settings of the writer connection, for start-up logs and tests.
    public func durabilitySettings() async throws -> SQLiteDurabilitySettings {
        try await writer.writeWithoutTransaction { db in
            SQLiteDurabilitySettings(
                journalMode: try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                synchronous: try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }

    // MARK: Writing

    public func commit(_ batch: StoreBatch) async throws -> CommitReceipt {
        if batch.isEmpty { return CommitReceipt(events: [], rejectedResults: []) }
        // Encode JSON before taking the write lock.
        let encoded = try EncodedBatch(batch)
        let ticket = queue.withLock { $0.enqueue(encoded) }
        // Every commit schedules one writer turn. A turn applies the queued batches in ticket
        // order, in groups, until its own ticket is done, so the batch may well have been applied
        // by an earlier turn, together with others. The callback form is used on purpose: it is
        // not cancelled with the calling task, so a commit never returns while its batch is in doubt.
        await withCheckedContinuation { (turnDone: CheckedContinuation<Void, Never>) in
            writer.asyncWriteWithoutTransaction { [self] db in
                writeQueuedBatches(db, through: ticket)
                turnDone.resume()
            }
        }
        guard let outcome = queue.withLock({ $0.outcomes.removeValue(forKey: ticket) }) else {
            preconditionFailure("SQLiteStore: no outcome for commit \(ticket) after its writer turn")
        }
        return try outcome.get()
    }

    /// Runs on the writer connection: applies queued batches, up to the group limit per
    /// transaction, until the batch with `ticket` has been applied (or was already).
    private func writeQueuedBatches(_ db: Database, through ticket: UInt64) {
        while true {
            let group = queue.withLock { $0.dequeue(upTo: Self.maximumGroupSize) }
            guard let last = group.last else { return }
            writeGroup(group, db)
            if last.ticket >= ticket { return }
        }
    }

    /// Applies `group` in one transaction, each batch in its own savepoint, and records each
    /// batch's outcome.
    private func writeGroup(_ group: [CommitQueue.Request], _ db: Database) {
        var outcomes: [UInt64: Result<CommitReceipt, any Error>] = [:]
        do {
            try db.inTransaction(.immediate) {
                if group.count == 1 {
                    // Alone in the transaction: its failure rolls back the transaction, no savepoint needed.
                    outcomes[group[0].ticket] = .success(try Self.apply(group[0].batch, in: db))
                    return .commit
                }
                for request in group {
                    do {
                        var receipt: CommitReceipt?
                        try db.inSavepoint {
                            receipt = try Self.apply(request.batch, in: db)
                            return .commit
                        }
                        outcomes[request.ticket] = .success(receipt!)
                    } catch {
                        // Some errors (I/O, disk full) make SQLite abandon the whole transaction.
                        guard db.isInsideTransaction else { throw error }
                        outcomes[request.ticket] = .failure(Self.storeError(error))
                    }
                }
                return .commit
            }
        } catch {
            // Nothing of the group is durable, not even the batches that applied cleanly.
            let failure = Self.storeError(error)
            for request in group { outcomes[request.ticket] = .failure(failure) }
        }
        queue.withLock { $0.outcomes.merge(outcomes) { _, new in new } }
    }

    /// A failed commit, classified so the API can tell a full disk (503, retry later) from a bug.
    static func storeError(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        let full = (error as? DatabaseError)?.resultCode == .SQLITE_FULL
        return StoreError(
            full ? "commit failed: the disk holding the database is full: \(error)" : "commit failed: \(error)",
            kind: full ? .storageFull : .other)
    }

    private static func apply(_ encoded: EncodedBatch, in db: Database) throws -> CommitReceipt {
        let batch = encoded.batch

        if !batch.jobs.isEmpty {
            let insert = try db.cachedStatement(sql: SQL.insertJob)
            let update = try db.cachedStatement(sql: SQL.updateJob)
            for (job, spec) in zip(batch.jobs, encoded.specs) {
                let arguments: StatementArguments = [
                    job.id.rawValue, job.spec.name, job.state.rawValue, job.stateReason, spec,
                    job.createdAt.rawValue, job.updatedAt.rawValue, job.version, job.spec.namespace,
                ]
                if batch.createdJobs.contains(job.id) {
                    do {
                        try insert.execute(arguments: arguments)
                    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                        throw StoreError("job ID \(job.id) is already taken; the new job was not stored", kind: .conflict)
                    }
                } else {
                    try update.execute(arguments: arguments)
                    guard db.changesCount == 1 else {
                        throw StoreError(
                            "job \(job.id) version \(job.version) is not newer than the stored one; the stale write was refused",
                            kind: .conflict)
                    }
                }
            }
        }

        if !batch.executions.isEmpty {
            let upsert = try db.cachedStatement(sql: SQL.upsertExecution)
            for execution in batch.executions {
                try upsert.execute(arguments: [
                    execution.id.rawValue, execution.jobID.rawValue, execution.partition, execution.attempt,
                    execution.nodeID.rawValue, execution.state.rawValue, execution.desiredState.rawValue,
                    execution.stateReason, execution.exitCode, execution.createdAt.rawValue,
                    execution.updatedAt.rawValue, execution.version,
                ])
                guard db.changesCount == 1 else {
                    throw StoreError(
                        "execution \(execution.id) version \(execution.version) is not newer than the stored one; "
                            + "the stale write was refused",
                        kind: .conflict)
                }
            }
        }

        if !batch.idempotencyKeys.isEmpty {
            let insert = try db.cachedStatement(sql: SQL.insertIdempotencyKey)
            for (key, job) in batch.idempotencyKeys.sorted(by: { $0.key < $1.key }) {
                do {
                    try insert.execute(arguments: [key, job.rawValue, batch.jobs.first { $0.id == job }?.createdAt.rawValue ?? 0])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw StoreError("idempotency key \(key.debugDescription) already names a job", kind: .conflict)
                }
            }
        }

        if !batch.nodes.isEmpty {
            let upsert = try db.cachedStatement(sql: SQL.upsertNode)
            for (node, info) in zip(batch.nodes, encoded.nodeInfos) {
                try upsert.execute(arguments: [
                    node.info.id.rawValue, info, node.liveness.rawValue, node.lastSeen.rawValue, node.draining ? 1 : 0,
                ])
            }
        }
        if !batch.forgottenNodes.isEmpty {
            let delete = try db.cachedStatement(sql: SQL.deleteNode)
            for id in batch.forgottenNodes { try delete.execute(arguments: [id.rawValue]) }
        }

        var events = batch.events
        if !events.isEmpty {
            var sequences = SequenceAllocator(maxSQL: SQL.maxEventSequence)
            let insert = try db.cachedStatement(sql: SQL.insertEvent)
            for index in events.indices {
                let sequence = try sequences.next(for: events[index].jobID, in: db)
                events[index].sequence = sequence
                let event = events[index]
                try insert.execute(arguments: [
                    event.jobID.rawValue, sequence, event.at.rawValue, event.kind.rawValue,
                    event.executionID?.rawValue, event.message,
                ])
            }
        }

        if !batch.logs.isEmpty {
            var sequences = SequenceAllocator(maxSQL: SQL.maxLogSequence)
            let insert = try db.cachedStatement(sql: SQL.insertLog)
            for log in batch.logs {
                let sequence = try sequences.next(for: log.jobID, in: db)
                try insert.execute(arguments: [
                    log.jobID.rawValue, sequence, log.executionID.rawValue, log.stream, log.text, log.at.rawValue,
                ])
            }
        }

        var rejected: [ResultRecord] = []
        if !batch.results.isEmpty {
            let insert = try db.cachedStatement(sql: SQL.insertResult)
            for (result, files) in zip(batch.results, encoded.resultFiles) {
                try insert.execute(arguments: [
                    result.jobID.rawValue, result.partition, result.executionID.rawValue, result.nodeID.rawValue,
                    files, result.acceptedAt.rawValue,
                ])
                // ON CONFLICT DO NOTHING: no change means a result was already accepted.
                if db.changesCount == 0 { rejected.append(result) }
            }
        }

        return CommitReceipt(events: events, rejectedResults: rejected)
    }

    // MARK: Reading

    public func recover() async throws -> RecoveredState {
        // One read transaction: jobs, executions and nodes come from the same snapshot.
        try await read { db in
            let jobs = try Row.fetchAll(db.cachedStatement(sql: SQL.activeJobs)).map(Decode.job)
            let executions = try Row.fetchAll(db.cachedStatement(sql: SQL.activeExecutions)).map(Decode.execution)
            let nodes = try Row.fetchAll(db.cachedStatement(sql: SQL.allNodes)).map(Decode.node)
            return RecoveredState(activeJobs: jobs, executions: executions, nodes: nodes)
        }
    }

    public func job(_ id: JobID) async throws -> Job? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: SQL.jobByID), arguments: [id.rawValue]).map(Decode.job)
        }
    }

    public func job(idempotencyKey: String) async throws -> Job? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: SQL.jobByIdempotencyKey), arguments: [idempotencyKey]).map(Decode.job)
        }
    }

    public func jobs(_ query: JobQuery) async throws -> [Job] {
        guard query.limit > 0 else { return [] }
        let (sql, arguments) = SQL.newestJobs(query)
        return try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments)).map(Decode.job)
        }
    }

    public func executions(of job: JobID) async throws -> [Execution] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: SQL.executionsOfJob), arguments: [job.rawValue])
                .map(Decode.execution)
        }
    }

    public func events(of job: JobID) async throws -> [JobEvent] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: SQL.eventsOfJob), arguments: [job.rawValue]).map(Decode.event)
        }
    }

    public func logs(of job: JobID, after sequence: Int64, limit: Int, maxBytes: Int) async throws -> [LogRecord] {
        guard limit > 0, maxBytes > 0 else { return [] }
        return try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: SQL.logsOfJob), arguments: [job.rawValue, sequence, maxBytes, limit])
                .map(Decode.log)
        }
    }

    public func logBytes(of job: JobID, execution: ExecutionID) async throws -> [String: Int64] {
        try await read { db in
            var bytes: [String: Int64] = [:]
            for row in try Row.fetchAll(db.cachedStatement(sql: SQL.logBytesOfExecution), arguments: [job.rawValue, execution.rawValue]) {
                bytes[try row.decode(String.self, atIndex: 0)] = try row.decode(Int64?.self, atIndex: 1) ?? 0
            }
            return bytes
        }
    }

    public func results(of job: JobID) async throws -> [ResultRecord] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: SQL.resultsOfJob), arguments: [job.rawValue]).map(Decode.result)
        }
    }

    /// Moves everything in the write-ahead log into the database file and empties the log: done
    /// on a clean stop, so the file alone holds the state (backups, and damage checks at start).
    public func checkpoint() async throws {
        try await writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: SQL.allNodes)).map(Decode.node)
        }
    }

    // MARK: Helpers

    /// A read on a snapshot, with database errors reported as `StoreError`.
    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.read(body)
        } catch let error as DatabaseError {
            throw StoreError("read failed: \(error)")
        }
    }

    private static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw StoreError("cannot open directory \(path) to fsync it: errno \(errno)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw StoreError("cannot fsync directory \(path): errno \(errno)") }
    }
}

/// What the writer connection reports about durability.
public struct SQLiteDurabilitySettings: Hashable, Sendable {
    /// `wal` for a file store; `memory` for an in-memory one.
    public var journalMode: String
    /// SQLite's `PRAGMA synchronous`: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
    public var synchronous: Int

    public init(journalMode: String, synchronous: Int) {
        self.journalMode = journalMode
        self.synchronous = synchronous
    }
}

/// Batches waiting for a writer turn, and outcomes waiting for their committer.
private struct CommitQueue: Sendable {
    struct Request: Sendable {
        var ticket: UInt64
        var batch: EncodedBatch
    }

    private var lastTicket: UInt64 = 0
    private var pending: [Request] = []
    var outcomes: [UInt64: Result<CommitReceipt, any Error>] = [:]

    mutating func enqueue(_ batch: EncodedBatch) -> UInt64 {
        lastTicket += 1
        pending.append(Request(ticket: lastTicket, batch: batch))
        return lastTicket
    }

    mutating func dequeue(upTo limit: Int) -> [Request] {
        let group = Array(pending.prefix(limit))
        pending.removeFirst(group.count)
        return group
    }
}

/// A batch with its JSON columns encoded, ready to bind inside the write transaction.
private struct EncodedBatch: Sendable {
    var batch: StoreBatch
    var specs: [String]
    var nodeInfos: [String]
    var resultFiles: [String]

    init(_ batch: StoreBatch) throws {
        self.batch = batch
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json(_ value: some Encodable) throws -> String {
            String(decoding: try encoder.encode(value), as: UTF8.self)
        }
        specs = try batch.jobs.map { try json($0.spec) }
        nodeInfos = try batch.nodes.map { try json($0.info) }
        resultFiles = try batch.results.map { try json($0.files) }
    }
}

/// Hands out per-job sequence numbers within one transaction: the first use of a job reads the
/// highest stored sequence, later ones count on from there.
private struct SequenceAllocator {
    let maxSQL: String
    private var last: [JobID: Int64] = [:]

    init(maxSQL: String) { self.maxSQL = maxSQL }

    mutating func next(for job: JobID, in db: Database) throws -> Int64 {
        let previous: Int64
        if let cached = last[job] {
            previous = cached
        } else {
            previous = try Int64.fetchOne(db.cachedStatement(sql: maxSQL), arguments: [job.rawValue]) ?? 0
        }
        let sequence = previous + 1
        last[job] = sequence
        return sequence
    }
}
