#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
public import InsituExecutor
public import InsituModel
public import InsituProcess

/// Runs `engine: {type: sql, query}` executions: a read-only SQL query over the job's inputs,
/// each execution in a fresh `insitu-sql-runner` process (see `SQLRunnerCommand` for why).
///
/// The request's read-only mounts (datasets, inline inputs) are the table sources; its one
/// writable mount (the job's output) receives `result.csv`, `result.jsonl` and `schema.json`.
/// The runner's stdout (the tables it read and the result's size) is the execution's stdout.
/// Limits: the request's timeout and task cancellation kill the runner's process group; memory
/// is `engine.memory` (SQLite's hard heap limit in the runner); rows are the lower of
/// `engine.maxRows` and this node's `maxRows`.
public struct SQLExecutor: Executor {
    public static let defaultMaxRows: Int64 = 100_000

    public let engine: EngineKind = .sql
    public let runnerPath: String
    /// This node's row limit (`engines.sql.max_rows`).
    public let maxRows: Int64
    public let outputLimit: Int

    public init(runnerPath: String, maxRows: Int64 = SQLExecutor.defaultMaxRows, outputLimit: Int = OutputCollector.defaultLimit) {
        self.runnerPath = runnerPath
        self.maxRows = maxRows
        self.outputLimit = outputLimit
    }

    public func run(_ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void) async throws
        -> ExecutionOutcome
    {
        let runnerRequest = try Self.runnerRequest(for: request, nodeMaxRows: maxRows)
        let requestPath = request.workDirectory + "/.insitu-sql-request.json"
        do {
            try JSONEncoder().encode(runnerRequest).write(to: URL(fileURLWithPath: requestPath))
        } catch {
            throw ExecutorError("could not write the SQL runner's request: \(error)")
        }
        unlink(runnerRequest.resultPath)
        defer {
            unlink(requestPath)
            unlink(runnerRequest.resultPath)
            if let scratch = runnerRequest.spec.scratchDirectory { rmdir(scratch) }
        }
        let process = try await ChildProcess.run(
            executable: runnerPath, arguments: [requestPath], environment: [:], workingDirectory: request.workDirectory,
            timeout: request.timeout, outputLimit: outputLimit, onOutput: onOutput)

        var outcome = ExecutionOutcome(status: .failed, stdout: process.stdout.bytes, stderr: process.stderr.bytes)
        switch process.stopReason {
        case .cancellation:
            outcome.status = .cancelled
            outcome.reason = "cancelled"
        case .timeout:
            outcome.status = .timedOut
            outcome.reason = "exceeded its timeout of \(formatSeconds(request.timeout ?? .zero))"
        case nil:
            if let data = try? Data(contentsOf: URL(fileURLWithPath: runnerRequest.resultPath)),
                let result = try? JSONDecoder().decode(SQLRunResult.self, from: data)
            {
                outcome.status = Self.status(result.status)
                outcome.reason = result.reason
                outcome.exitCode = result.status == .succeeded ? 0 : nil
            } else {
                outcome.reason = "insitu-sql-runner \(process.termination) without reporting a result"
            }
        }
        return outcome
    }

    /// The runner's request for `request`. Throws when the request cannot be a SQL execution.
    package static func runnerRequest(for request: ExecutionRequest, nodeMaxRows: Int64) throws(ExecutorError) -> SQLRunnerRequest {
        guard let settings = request.engine.sql else {
            throw ExecutorError("execution \(request.executionID) has no engine.sql settings")
        }
        let outputs = request.mounts.filter { !$0.readOnly }
        guard outputs.count == 1 else {
            throw ExecutorError(
                "a sql job writes its result into exactly one output, and this one has \(outputs.count): declare one, e.g. outputs: [{name: result, path: /result}]"
            )
        }
        guard settings.memoryLimitBytes > 0 else { throw ExecutorError("engine.memory must be positive") }
        let maxRows = max(0, min(settings.maxRows ?? nodeMaxRows, nodeMaxRows))
        let spec = SQLRunSpec(
            query: settings.query,
            sources: request.mounts.filter(\.readOnly).map { SQLRunSpec.Source(hostPath: $0.hostPath, guestPath: $0.guestPath) },
            outputDirectory: outputs[0].hostPath, scratchDirectory: request.workDirectory + "/.insitu-sql", maxRows: maxRows)
        return SQLRunnerRequest(
            spec: spec, resultPath: request.workDirectory + "/.insitu-sql-result.json", memoryLimitBytes: settings.memoryLimitBytes,
            timeoutMillis: request.timeout.map(Self.milliseconds), parentPID: getpid())
    }

    static func status(_ status: SQLRunResult.Status) -> ExecutionOutcome.Status {
        switch status {
        case .succeeded: .succeeded
        case .failed: .failed
        case .timedOut: .timedOut
        case .outOfMemory: .outOfMemory
        case .cancelled: .cancelled
        }
    }

    /// Whole milliseconds of `duration`, saturating.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = millis.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return overflow2 ? .max : total
    }
}
