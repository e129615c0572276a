import Foundation
import InsituAPI
import InsituExecutor
import InsituLocalCluster
import InsituModel
import InsituSQL

/// `insitu-bench sql [--rows N] [--runs N]`: the issue 7 SQL target, a GROUP BY over the
/// 2,000,000-row patients CSV, in rows per second:
/// - `sql_executor`: through `SQLExecutor` as the agent runs it (a runner process per execution:
///   start, the query over the CSV read in place, result files);
/// - `sql_cluster`: submit→completed of the same query as a job on a local cluster of real
///   processes (adds scheduling, the node link and result upload);
/// - `sql_inprocess_memory` / `sql_inprocess_file`: the engine's core in this process with its
///   working database in memory or in a scratch file (what the executor does); the CSV is read
///   in place either way, so the two now differ only by noise;
/// - `sql_inprocess_import`: the core in this process importing the CSV into the scratch file
///   first, the path a join takes (and every query took before the CSV virtual table).
enum SQLBench {
    static let query = "SELECT condition, count(*) AS patients, avg(age) AS mean_age FROM patients GROUP BY condition"

    static func run(rows: Int, runs: Int) async throws {
        guard let runner = LocalCluster.locateExecutable(named: "insitu-sql-runner") else {
            fatalError("insitu-sql-runner not found beside insitu-bench; build it with `swift build -c release --product insitu-sql-runner`")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-sql-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = root + "/patients"
        try SyntheticPatients(site: "bench", rows: rows, seed: 1).write(to: data)
        let size = (try FileManager.default.attributesOfItem(atPath: data + "/patients.csv")[.size] as? Int) ?? 0
        print("sql_input rows \(rows) bytes \(size)")

        func median(_ samples: [Double]) -> Double { samples.sorted()[samples.count / 2] }
        func report(_ name: String, _ seconds: [Double]) {
            let best = median(seconds)
            print(String(format: "%@_rows_per_s %.0f (median of %d, %.3f s)", name, Double(rows) / best, seconds.count, best))
        }

        var inProcess: [String: [Double]] = [:]
        for (name, inMemory, alwaysImport) in [
            ("sql_inprocess_memory", true, false), ("sql_inprocess_file", false, false), ("sql_inprocess_import", false, true),
        ] {
            for run in 0..<runs {
                let directory = "\(root)/\(name)-\(run)"
                try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
                let spec = SQLRunSpec(
                    query: query, sources: [SQLRunSpec.Source(hostPath: data, guestPath: "/data")], outputDirectory: directory + "/out",
                    scratchDirectory: inMemory ? nil : directory + "/scratch", maxRows: 1000)
                let started = ContinuousClock.now
                let result = SQLRun.run(spec, control: SQLRunControl(), options: SQLRunOptions(alwaysImport: alwaysImport))
                guard result.status == .succeeded else { fatalError("\(name): \(result)") }
                inProcess[name, default: []].append(seconds(ContinuousClock.now - started))
            }
            report(name, inProcess[name]!)
        }

        let executor = SQLExecutor(runnerPath: runner)
        var executorSeconds: [Double] = []
        for run in 0..<runs {
            let work = "\(root)/executor-\(run)"
            try FileManager.default.createDirectory(atPath: work + "/out", withIntermediateDirectories: true)
            let request = ExecutionRequest(
                executionID: ExecutionID(job: "bench", partition: 0, attempt: run + 1),
                engine: EngineSpec(sql: SQLSettings(query: query, memoryLimitBytes: 64 << 20)),
                mounts: [Mount(hostPath: data, guestPath: "/data", readOnly: true), Mount(hostPath: work + "/out", guestPath: "/result", readOnly: false)],
                workDirectory: work)
            let started = ContinuousClock.now
            let outcome = try await executor.run(request) { _, _ in }
            guard outcome.status == .succeeded else { fatalError("executor: \(outcome)") }
            executorSeconds.append(seconds(ContinuousClock.now - started))
            if run == 0 { print("sql_executor_stdout " + String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").joined(separator: " | ")) }
        }
        report("sql_executor", executorSeconds)

        // The cluster path needs `insitu` too; without it the other paths still tell the engine's speed.
        guard let executable = LocalCluster.locateExecutable() else {
            print("sql_cluster skipped: insitu not found beside insitu-bench (swift build -c release --product insitu)")
            return
        }
        let cluster = try LocalCluster(executable: executable, root: root + "/cluster")
        defer { cluster.stopAll() }
        try await cluster.startOrchestrator(extraArguments: ["--log-level", "warning"])
        try cluster.startAgent(
            name: "bench", datasets: ["patients": data], cpu: "1000", memory: "1000Gi", extraConfig: "engines:\n  sql:\n    enabled: true\n")
        try await cluster.waitForNodes(1)
        let spec = """
            version: v1
            name: sql-bench
            inputs: [{dataset: patients, target: /data}]
            engine: {type: sql, query: "\(query)"}
            resources: {cpu: 1m, memory: 64Mi}
            """
        var clusterSeconds: [Double] = []
        for _ in 0..<runs {
            let started = ContinuousClock.now
            let submitted = try await cluster.client.submit(SubmitJobRequest(spec: spec))
            var summary = try await cluster.client.wait(submitted.jobID.rawValue)
            while !summary.state.isTerminal { summary = try await cluster.client.wait(submitted.jobID.rawValue) }
            guard summary.state == .completed else { fatalError("cluster job \(summary.state): \(summary.stateReason ?? "")") }
            clusterSeconds.append(seconds(ContinuousClock.now - started))
        }
        report("sql_cluster", clusterSeconds)
    }

    static func seconds(_ duration: Duration) -> Double {
        let (whole, attoseconds) = duration.components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
