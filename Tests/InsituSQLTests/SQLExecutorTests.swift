import Foundation
import InsituExecutor
import InsituLocalCluster
import InsituModel
@testable import InsituSQL
import Testing

private func sqlRequest(
    _ query: String, work: String, data: String?, output: String, memory: Int64 = 64 << 20, maxRows: Int64? = nil,
    timeout: Duration? = nil
) -> ExecutionRequest {
    var mounts = [Mount(hostPath: output, guestPath: "/result", readOnly: false)]
    if let data { mounts.insert(Mount(hostPath: data, guestPath: "/data", readOnly: true), at: 0) }
    return ExecutionRequest(
        executionID: ExecutionID(job: "job", partition: 0, attempt: 1),
        engine: EngineSpec(sql: SQLSettings(query: query, memoryLimitBytes: memory, maxRows: maxRows)), mounts: mounts,
        workDirectory: work, timeout: timeout)
}

/// The engine as the agent runs it: one `insitu-sql-runner` process per execution, killed at the
/// timeout or on cancellation, with SQLite's heap limited in it.
@Suite("SQL executor")
struct SQLExecutorTests {
    @Test func aQueryRunsInTheRunnerAndWritesTheResultIntoTheOutput() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let work = try fixture.directory.subdirectory("work")
        let counts = try SyntheticPatients(site: "b", rows: 2_000, seed: 3).write(to: fixture.data)
        let executor = SQLExecutor(runnerPath: try sqlRunnerPath())
        let outcome = try await executor.run(
            sqlRequest("SELECT count(*) AS n FROM patients WHERE condition = 'asthma'", work: work, data: fixture.data, output: fixture.output),
            onOutput: { _, _ in })
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(fixture.file("result.csv") == "n\n\(counts["asthma"] ?? 0)\n")
        let stdout = String(decoding: outcome.stdout, as: UTF8.self)
        #expect(stdout.contains("table patients: 2000 rows, 5 columns, from /data/patients.csv"), "\(stdout)")
        #expect(!stdout.contains(fixture.directory.path))
        // Nothing of the run is left in the work directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: work).isEmpty)
    }

    @Test func theTimeoutKillsAnEndlessQueryWithinOneSecond() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let work = try fixture.directory.subdirectory("work")
        let started = ContinuousClock.now
        let outcome = try await SQLExecutor(runnerPath: try sqlRunnerPath()).run(
            sqlRequest(endlessQuery, work: work, data: nil, output: fixture.output, timeout: .milliseconds(500)), onOutput: { _, _ in })
        let elapsed = ContinuousClock.now - started
        #expect(outcome.status == .timedOut, "\(outcome)")
        #expect(outcome.reason?.contains("exceeded its timeout of 0.5s") == true, "\(outcome.reason ?? "")")
        // The 1 s promise is held on an idle machine (SQLRunTests, SQLEngineClusterTests); this
        // bound is generous because the full suite loads both cores with process starts.
        #expect(elapsed < .seconds(10), "the query ran \(elapsed) with a 0.5 s timeout")
    }

    @Test func cancellationKillsAnEndlessQueryWithinOneSecond() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let work = try fixture.directory.subdirectory("work")
        let executor = SQLExecutor(runnerPath: try sqlRunnerPath())
        let request = sqlRequest(endlessQuery, work: work, data: nil, output: fixture.output)
        let run = Task { try await executor.run(request, onOutput: { _, _ in }) }
        try await waitUntil(timeout: .seconds(10), "the runner to start the query") {
            FileManager.default.fileExists(atPath: fixture.output + "/result.csv")
        }
        let cancelled = ContinuousClock.now
        run.cancel()
        let outcome = try await run.value
        #expect(outcome.status == .cancelled)
        #expect(ContinuousClock.now - cancelled < .seconds(10), "bound generous for a loaded machine, as above")
    }

    /// The same query succeeds with room and fails as out of memory without: the limit, not the
    /// query, decides.
    @Test func theMemoryLimitBindsSQLiteInTheRunner() async throws {
        let hungry = """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
            SELECT length(group_concat(printf('%040d', i))) AS bytes FROM n
            """
        let executor = SQLExecutor(runnerPath: try sqlRunnerPath())
        let small = try SQLFixture()
        defer { small.remove() }
        let denied = try await executor.run(
            sqlRequest(hungry, work: try small.directory.subdirectory("work"), data: nil, output: small.output, memory: 8 << 20),
            onOutput: { _, _ in })
        #expect(denied.status == .outOfMemory, "\(denied)")
        #expect(denied.reason?.contains("more than 8 MiB of memory") == true, "\(denied.reason ?? "")")

        let large = try SQLFixture()
        defer { large.remove() }
        let allowed = try await executor.run(
            sqlRequest(hungry, work: try large.directory.subdirectory("work"), data: nil, output: large.output, memory: 256 << 20),
            onOutput: { _, _ in })
        #expect(allowed.status == .succeeded, "\(allowed)")
        // 400,000 numbers of 40 digits and the 399,999 commas between them.
        #expect(large.file("result.csv") == "bytes\n\(400_000 * 41 - 1)\n")
    }

    @Test func theLowerOfTheJobsAndTheNodesRowLimitsApplies() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let query = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n"
        let node = SQLExecutor(runnerPath: try sqlRunnerPath(), maxRows: 5)
        let byNode = try await node.run(
            sqlRequest(query, work: try fixture.directory.subdirectory("w1"), data: nil, output: try fixture.directory.subdirectory("o1")),
            onOutput: { _, _ in })
        #expect(byNode.status == .failed)
        #expect(byNode.reason?.contains("more than 5 rows") == true, "\(byNode.reason ?? "")")
        let byJob = try await SQLExecutor(runnerPath: try sqlRunnerPath(), maxRows: 100).run(
            sqlRequest(
                query, work: try fixture.directory.subdirectory("w2"), data: nil, output: try fixture.directory.subdirectory("o2"),
                maxRows: 3), onOutput: { _, _ in })
        #expect(byJob.reason?.contains("more than 3 rows") == true, "\(byJob.reason ?? "")")
    }

    @Test func aRequestWithoutExactlyOneOutputIsRefused() throws {
        let request = ExecutionRequest(
            executionID: ExecutionID(job: "job", partition: 0, attempt: 1), engine: EngineSpec(sql: SQLSettings(query: "SELECT 1")),
            mounts: [], workDirectory: "/nonexistent")
        #expect(throws: ExecutorError.self) { try SQLExecutor.runnerRequest(for: request, nodeMaxRows: 10) }
    }
}
