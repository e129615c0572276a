import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// The `sql` engine on real processes: an orchestrator, an agent with the engine enabled, and
/// the agent's `insitu-sql-runner` per execution.
@Suite(.serialized) struct SQLEngineClusterTests {
    private static let enableSQL = "engines:\n  sql:\n    enabled: true\n"

    /// A SQL job whose query never ends (a recursive CTE without a bound), plus `extra` YAML.
    private static func endlessQuery(extra: String = "") -> String {
        """
        version: v1
        name: endless
        engine:
          type: sql
          query: WITH RECURSIVE f(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM f) SELECT count(*) FROM f

        """ + extra
    }

    private func cluster(rows: Int, test: String = #function) async throws -> (E2E, [String: Int]) {
        let e2e = try E2E.make(test)
        do {
            let data = e2e.root + "/patients"
            let counts = try SyntheticPatients(site: "a", rows: rows, seed: 11).write(to: data)
            try await e2e.cluster.startOrchestrator()
            try e2e.cluster.startAgent(name: "site-a", datasets: ["patients": data], extraConfig: Self.enableSQL)
            try await e2e.cluster.waitForNodes(1)
            return (e2e, counts)
        } catch {
            e2e.tearDown()
            throw error
        }
    }

    @Test func aGroupByJobReturnsCSVJSONLinesAndTheSchema() async throws {
        let (e2e, counts) = try await cluster(rows: 20_000)
        defer { e2e.tearDown() }
        let node = try #require(try await e2e.cluster.client.nodes().first)
        #expect(node.engines.contains(.sql), "the node advertises the engine: \(node.engines)")

        let spec = try e2e.specFile(
            "group",
            """
            version: v1
            name: conditions
            inputs: [{dataset: patients, target: /data}]
            engine:
              type: sql
              query: SELECT condition, count(*) AS patients FROM patients GROUP BY condition ORDER BY condition
            """)
        let id = try e2e.submit(spec)
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.executions.map { $0.stateReason ?? "" })")

        let files = try await e2e.cluster.client.results(id).flatMap(\.files)
        func text(_ path: String) async throws -> String {
            let file = try #require(files.first { $0.path == path }, "no \(path) in \(files.map(\.path))")
            return String(decoding: try await e2e.cluster.client.blob(file.digest), as: UTF8.self)
        }
        let expectedCSV = "condition,patients\n" + counts.keys.sorted().map { "\($0),\(counts[$0]!)\n" }.joined()
        #expect(try await text("outputs/result/result.csv") == expectedCSV)
        let expectedJSONL = counts.keys.sorted().map { "{\"condition\":\"\($0)\",\"patients\":\(counts[$0]!)}\n" }.joined()
        #expect(try await text("outputs/result/result.jsonl") == expectedJSONL)
        let schema = try JSONDecoder().decode(
            SchemaFile.self, from: Data(try await text("outputs/result/schema.json").utf8))
        #expect(schema.rows == counts.count)
        #expect(schema.columns.map(\.name) == ["condition", "patients"])
        #expect(schema.columns.map(\.type) == ["text", "integer"])
        #expect(try await text("stdout").contains("table patients: 20000 rows, 5 columns, from /data/patients.csv"))
    }

    private struct SchemaFile: Decodable {
        struct Column: Decodable {
            var name: String
            var type: String
        }
        var columns: [Column]
        var rows: Int
    }

    @Test func writingAttachingAndLoadingExtensionsAreRefused() async throws {
        let (e2e, _) = try await cluster(rows: 100)
        defer { e2e.tearDown() }
        let queries = [
            ("DELETE FROM patients", "read-only"),
            ("ATTACH DATABASE '/tmp/insitu-e2e-attach.db' AS other", "ATTACH"),
            ("SELECT load_extension('/tmp/libnothing.so')", "load_extension"),
        ]
        for (index, (query, expected)) in queries.enumerated() {
            let spec = try e2e.specFile(
                "refused\(index)",
                """
                version: v1
                name: refused-\(index)
                inputs: [{dataset: patients, target: /data}]
                engine: {type: sql, query: "\(query.replacingOccurrences(of: "\"", with: "\\\""))"}
                retry: {attempts: 1}
                """)
            let id = try e2e.submit(spec)
            let done = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(done.job.state == .failed)
            let reason = done.executions.first?.stateReason ?? ""
            #expect(reason.contains("refused") && reason.contains(expected), "\(query): \(reason)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/insitu-e2e-attach.db"))
    }

    @Test func stoppingAnEndlessQueryKillsItsRunnerWithinOneSecond() async throws {
        let (e2e, _) = try await cluster(rows: 10)
        defer { e2e.tearDown() }
        let id = try e2e.submit(try e2e.specFile("endless", Self.endlessQuery()))
        let running = try await e2e.waitForState(id) { $0 == .running }
        let execution = try #require(running.executions.first).id.rawValue
        try await waitUntil(timeout: .seconds(30), "the runner to start") { sqlRunners(for: execution) > 0 }

        let stopped = ContinuousClock.now
        let stop = try e2e.cli(["job", "stop", id])
        #expect(stop.status == 0, "\(stop.stderr)")
        try await waitUntil(timeout: .seconds(10), "the runner to be killed", interval: .milliseconds(20)) { sqlRunners(for: execution) == 0 }
        #expect(ContinuousClock.now - stopped < .seconds(1), "the runner outlived the stop by \(ContinuousClock.now - stopped)")
    }

    /// The job's memory and time limits bind the runner on the node, and the reasons reach the
    /// user; the node still runs queries afterwards.
    @Test func memoryAndTimeLimitsFailTheJobWithClearReasons() async throws {
        let (e2e, _) = try await cluster(rows: 10)
        defer { e2e.tearDown() }
        let hungry = try e2e.specFile(
            "hungry",
            """
            version: v1
            name: hungry
            engine:
              type: sql
              memory: 8Mi
              query: >-
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
                SELECT length(group_concat(printf('%040d', i))) AS bytes FROM n
            retry: {attempts: 1}
            """)
        let denied = try await e2e.waitForState(try e2e.submit(hungry)) { $0.isTerminal }
        #expect(denied.job.state == .failed)
        #expect(denied.executions.first?.state == .failed)
        let memoryReason = denied.executions.first?.stateReason ?? ""
        #expect(memoryReason.contains("more than 8 MiB of memory"), "\(memoryReason)")

        let endless = try e2e.specFile("endless", Self.endlessQuery(extra: "timeout: 1s\nretry: {attempts: 1}\n"))
        let started = ContinuousClock.now
        let timedOut = try await e2e.waitForState(try e2e.submit(endless)) { $0.isTerminal }
        #expect(timedOut.job.state == .failed)
        let timeReason = timedOut.executions.first?.stateReason ?? ""
        #expect(timeReason.contains("exceeded its timeout of 1s"), "\(timeReason)")
        #expect(ContinuousClock.now - started < .seconds(30))
        let execution = try #require(timedOut.executions.first).id.rawValue
        #expect(sqlRunners(for: execution) == 0, "the runner is gone once the node reports the timeout")

        let small = try e2e.specFile(
            "small",
            """
            version: v1
            name: small
            inputs: [{dataset: patients, target: /data}]
            engine: {type: sql, query: SELECT count(*) AS n FROM patients}
            """)
        let fine = try await e2e.waitForState(try e2e.submit(small)) { $0.isTerminal }
        #expect(fine.job.state == .completed, "\(fine.executions.map { $0.stateReason ?? "" })")
    }

    @Test func aNodeWithoutTheEngineDoesNotAdvertiseIt() async throws {
        let e2e = try await E2E.withOneNode("plain")
        defer { e2e.tearDown() }
        let node = try #require(try await e2e.cluster.client.nodes().first)
        #expect(!node.engines.contains(.sql), "the sql engine is off by default: \(node.engines)")
    }

    /// Live `insitu-sql-runner` processes working in `execution`'s directory.
    private func sqlRunners(for execution: String) -> Int {
        ProcessTable.live(commandContaining: ["insitu-sql-runner", execution])
    }
}
