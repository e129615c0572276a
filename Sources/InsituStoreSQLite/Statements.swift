import GRDB
import InsituModel
import InsituStore

/// Every statement the store runs, in one place. Each is prepared once per connection and cached.
enum SQL {
    // MARK: Writes

    static let insertJob = """
        INSERT INTO jobs (id, name, state, state_reason, spec, created_at, updated_at, version, namespace)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Inserts or, for an existing job, updates it only when the new version is newer.
    static let updateJob = """
        INSERT INTO jobs (id, name, state, state_reason, spec, created_at, updated_at, version, namespace)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            name = excluded.name, namespace = excluded.namespace, state = excluded.state, state_reason = excluded.state_reason,
            spec = excluded.spec, created_at = excluded.created_at, updated_at = excluded.updated_at,
            version = excluded.version
        WHERE excluded.version > jobs.version
        """

    /// Inserts or, for an existing execution, updates it only when the new version is newer.
    static let upsertExecution = """
        INSERT INTO executions (
            id, job_id, "partition", attempt, node_id, state, desired_state, state_reason, exit_code,
            created_at, updated_at, version)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            job_id = excluded.job_id, "partition" = excluded."partition", attempt = excluded.attempt,
            node_id = excluded.node_id, state = excluded.state, desired_state = excluded.desired_state,
            state_reason = excluded.state_reason, exit_code = excluded.exit_code,
            created_at = excluded.created_at, updated_at = excluded.updated_at, version = excluded.version
        WHERE excluded.version > executions.version
        """

    static let upsertNode = """
        INSERT INTO nodes (id, info, liveness, last_seen, draining) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
            info = excluded.info, liveness = excluded.liveness, last_seen = excluded.last_seen, draining = excluded.draining
        """

    static let deleteNode = "DELETE FROM nodes WHERE id = ?"

    static let maxEventSequence = "SELECT MAX(sequence) FROM events WHERE job_id = ?"
    static let insertEvent = """
        INSERT INTO events (job_id, sequence, at, kind, execution_id, message) VALUES (?, ?, ?, ?, ?, ?)
        """

    static let maxLogSequence = "SELECT MAX(sequence) FROM logs WHERE job_id = ?"
    static let insertLog = """
        INSERT INTO logs (job_id, sequence, execution_id, stream, text, at) VALUES (?, ?, ?, ?, ?, ?)
        """

    /// The first result for a (job, partition) wins; later ones change nothing.
    static let insertResult = """
        INSERT INTO results (job_id, "partition", execution_id, node_id, files, accepted_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (job_id, "partition") DO NOTHING
        """

    // MARK: Reads (column order matches `Decode`)

    static let jobColumns = "id, state, state_reason, spec, created_at, updated_at, version"
    static let executionColumns = """
        id, job_id, "partition", attempt, node_id, state, desired_state, state_reason, exit_code, created_at, updated_at,
        version
        """

    /// `'pending', 'queued', 'running'`, derived from the model so the two cannot drift apart.
    static let activeJobStates = JobState.allCases.filter { !$0.isTerminal }.map { "'\($0.rawValue)'" }
        .joined(separator: ", ")

    static let jobByID = "SELECT \(jobColumns) FROM jobs WHERE id = ?"
    static let jobByIdempotencyKey = """
        SELECT \(jobColumns) FROM jobs WHERE id = (SELECT job_id FROM idempotency_keys WHERE key = ?)
        """
    static let insertIdempotencyKey = "INSERT INTO idempotency_keys (key, job_id, created_at) VALUES (?, ?, ?)"
    /// The newest jobs `query` selects, and the statement's arguments in order. The clauses are
    /// fixed text with placeholders; only their presence and the number of states vary, so the
    /// cached statements stay few.
    static func newestJobs(_ query: JobQuery) -> (sql: String, arguments: [DatabaseValue]) {
        var conditions: [String] = []
        var arguments: [DatabaseValue] = []
        if let namespace = query.namespace {
            conditions.append("namespace = ?")
            arguments.append(namespace.databaseValue)
        }
        if !query.states.isEmpty {
            let states = query.states.map(\.rawValue).sorted()
            conditions.append("state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
            arguments.append(contentsOf: states.map(\.databaseValue))
        }
        if let name = query.nameContains {
            conditions.append("instr(name, ?) > 0")
            arguments.append(name.databaseValue)
        }
        if let after = query.after {
            conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
            arguments.append(contentsOf: [after.createdAt.milliseconds.databaseValue, after.createdAt.milliseconds.databaseValue, after.id.rawValue.databaseValue])
        }
        arguments.append(query.limit.databaseValue)
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return ("SELECT \(jobColumns) FROM jobs\(filter) ORDER BY created_at DESC, id DESC LIMIT ?", arguments)
    }
    static let activeJobs = """
        SELECT \(jobColumns) FROM jobs WHERE state IN (\(activeJobStates)) ORDER BY created_at, id
        """
    static let activeExecutions = """
        SELECT \(executionColumns) FROM executions
        WHERE job_id IN (SELECT id FROM jobs WHERE state IN (\(activeJobStates)))
        ORDER BY job_id, "partition", attempt, id
        """
    static let executionsOfJob = """
        SELECT \(executionColumns) FROM executions WHERE job_id = ? ORDER BY "partition", attempt, id
        """
    static let eventsOfJob = """
        SELECT job_id, sequence, at, kind, execution_id, message FROM events WHERE job_id = ? ORDER BY sequence
        """
    /// A page of a job's log: entries after a sequence, up to a count and up to a number of
    /// text bytes, except that the first entry is included however large it is (so a reader
    /// always makes progress).
    static let logsOfJob = """
        SELECT job_id, execution_id, sequence, stream, text, at FROM (
            SELECT job_id, execution_id, sequence, stream, text, at, length(CAST(text AS BLOB)) AS size,
                SUM(length(CAST(text AS BLOB))) OVER (ORDER BY sequence ROWS UNBOUNDED PRECEDING) AS running
            FROM logs WHERE job_id = ? AND sequence > ?
        )
        WHERE running <= ? OR running = size ORDER BY sequence LIMIT ?
        """
    /// Bytes of text stored per stream for one execution.
    static let logBytesOfExecution = """
        SELECT stream, SUM(length(CAST(text AS BLOB))) FROM logs
        WHERE job_id = ? AND execution_id = ? GROUP BY stream
        """
    static let resultsOfJob = """
        SELECT job_id, "partition", execution_id, node_id, files, accepted_at FROM results
        WHERE job_id = ? ORDER BY "partition"
        """
    static let allNodes = "SELECT info, liveness, last_seen, draining FROM nodes ORDER BY id"
}
