#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
import GRDBSQLite

/// What `insitu-sql-runner` reads: the run, its limits, and where to write its result.
public struct SQLRunnerRequest: Codable, Hashable, Sendable {
    public var spec: SQLRunSpec
    /// The runner writes one JSON object (a ``SQLRunResult``) here when the run ends.
    public var resultPath: String
    /// Most bytes SQLite may allocate in the runner (`sqlite3_hard_heap_limit64`).
    public var memoryLimitBytes: Int64
    /// The run's wall-clock limit: the parent kills the runner when it passes, and the runner
    /// stops itself at the same moment through SQLite's progress handler.
    public var timeoutMillis: Int64?
    /// The process that started the runner: when its parent changes (the agent died), the run stops.
    public var parentPID: Int32?

    public init(spec: SQLRunSpec, resultPath: String, memoryLimitBytes: Int64, timeoutMillis: Int64? = nil, parentPID: Int32? = nil) {
        self.spec = spec
        self.resultPath = resultPath
        self.memoryLimitBytes = memoryLimitBytes
        self.timeoutMillis = timeoutMillis
        self.parentPID = parentPID
    }
}

/// The body of `insitu-sql-runner REQUEST.json`.
///
/// Why a process per execution: SQLite's only hard memory limit, `sqlite3_hard_heap_limit64`, is
/// process-wide, and the agent's own store is SQLite too; in a runner the limit binds exactly
/// one execution. The process is also what the agent kills (its whole process group, SIGKILL)
/// at the timeout or on `job stop`, whatever SQLite is doing; the progress handler stopping the
/// statement first is what makes the runner report `timedOut` itself when it can. A crash in
/// SQLite or in the CSV reader ends the runner, not the agent.
///
/// Prints one line per table and one for the result on stdout; writes the result to
/// `resultPath` and exits 0; exits 2 with a message on stderr when the request is unusable.
public enum SQLRunnerCommand {
    public static func main(arguments: [String]) -> Int32 {
        guard arguments.count == 2 else { return fail("usage: insitu-sql-runner REQUEST.json") }
        let request: SQLRunnerRequest
        do {
            request = try JSONDecoder().decode(SQLRunnerRequest.self, from: Data(contentsOf: URL(fileURLWithPath: arguments[1])))
        } catch {
            return fail("insitu-sql-runner: cannot read the request: \(error)")
        }
        guard request.memoryLimitBytes > 0 else { return fail("insitu-sql-runner: the memory limit must be positive") }
        sqlite3_hard_heap_limit64(request.memoryLimitBytes)
        let control = SQLRunControl(timeout: request.timeoutMillis.map { .milliseconds($0) }, parentPID: request.parentPID)
        var result = SQLRun.run(request.spec, control: control) { line in
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        }
        if result.status == .outOfMemory {
            result.reason =
                "the query needed more than \(describeBytes(request.memoryLimitBytes)) of memory, its limit (engine.memory): "
                + "aggregate earlier, select fewer columns, or raise the limit" + (result.reason.map { " (\($0))" } ?? "")
        }
        do {
            try JSONEncoder().encode(result).write(to: URL(fileURLWithPath: request.resultPath))
        } catch {
            return fail("insitu-sql-runner: cannot write the result: \(error)")
        }
        return 0
    }

    static func describeBytes(_ count: Int64) -> String {
        if count >= 1 << 30, count % (1 << 30) == 0 { return "\(count >> 30) GiB" }
        if count >= 1 << 20, count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
        return "\(count) bytes"
    }

    private static func fail(_ message: String) -> Int32 {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        return 2
    }
}
