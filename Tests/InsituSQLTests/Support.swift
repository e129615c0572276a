import Foundation
import InsituProcess
@testable import InsituSQL
import InsituLocalCluster
import Testing

struct TempDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "insitu-sql-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func subdirectory(_ name: String) throws -> String {
        let sub = path + "/" + name
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return sub
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A data directory, an output directory and a scratch directory for one run.
struct SQLFixture {
    let directory: TempDirectory
    let data: String
    let output: String

    init() throws {
        directory = try TempDirectory()
        data = try directory.subdirectory("data")
        output = try directory.subdirectory("output")
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: data + "/" + name))
    }

    func spec(_ query: String, maxRows: Int64 = 1_000, sources: [SQLRunSpec.Source]? = nil) -> SQLRunSpec {
        SQLRunSpec(
            query: query, sources: sources ?? [SQLRunSpec.Source(hostPath: data, guestPath: "/data")], outputDirectory: output,
            scratchDirectory: directory.path + "/scratch", maxRows: maxRows)
    }

    func file(_ name: String) -> String {
        (try? String(contentsOfFile: output + "/" + name, encoding: .utf8)) ?? "<missing \(name)>"
    }

    func remove() { directory.remove() }
}

/// Runs `spec` in this process, returning the result and the lines it logged.
/// Runs on a thread of its own, as the engine does: a run blocking Swift's cooperative pool (two
/// threads on a 2-core machine) would stall every other test in the process, timers included.
func runSQL(_ spec: SQLRunSpec, control: SQLRunControl = SQLRunControl()) async -> (result: SQLRunResult, log: [String]) {
    await DedicatedThread.run {
        var lines: [String] = []
        let result = SQLRun.run(spec, control: control) { lines.append($0) }
        return (result, lines)
    }
}

/// The `insitu-sql-runner` built next to this test bundle. Fails the test (never skips) when it
/// is missing.
func sqlRunnerPath(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    if let path = LocalCluster.locateExecutable(named: "insitu-sql-runner") { return path }
    Issue.record(
        "insitu-sql-runner was not found beside the test bundle (or beside $INSITU_BINARY); build it first: swift build --product insitu-sql-runner",
        sourceLocation: sourceLocation)
    throw RunnerMissing()
}

struct RunnerMissing: Error {}

/// A query that never ends by itself.
let endlessQuery = "WITH RECURSIVE forever(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM forever) SELECT count(*) FROM forever"
