import Foundation
import InsituLocalCluster
import InsituProcess
@testable import InsituSQL
import Testing

/// The engine's core in this process, on real SQLite: tables from files, the query's checks,
/// the result files, and the limits it enforces itself (time, cancellation, rows).
@Suite("SQL run")
struct SQLRunTests {
    @Test func groupByOverAGeneratedCSVWritesCSVJSONLinesAndSchema() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let counts = try SyntheticPatients(site: "a", rows: 5_000, seed: 7).write(to: fixture.data)
        let (result, log) = await runSQL(
            fixture.spec("SELECT condition, count(*) AS patients, avg(age) AS mean_age FROM patients GROUP BY condition ORDER BY condition"))
        #expect(result.status == .succeeded, "\(result)")
        #expect(result.rows == counts.count)
        #expect(log.first == "table patients: 5000 rows, 5 columns, from /data/patients.csv (the query reads 2 of them)", "\(log)")

        let csv = fixture.file("result.csv").split(separator: "\n").map(String.init)
        #expect(csv.first == "condition,patients,mean_age")
        let expected = counts.keys.sorted().map { "\($0),\(counts[$0]!)" }
        #expect(csv.dropFirst().map { $0.split(separator: ",").prefix(2).joined(separator: ",") } == expected)

        let rows = fixture.file("result.jsonl").split(separator: "\n").map {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rows.count == counts.count)
        for row in rows {
            let condition = row?["condition"] as? String ?? ""
            #expect(row?["patients"] as? Int == counts[condition], "\(String(describing: row))")
            #expect((row?["mean_age"] as? Double).map { (18.0...97.0).contains($0) } == true)
        }

        let schema = try JSONDecoder().decode(ResultSchema.self, from: Data(fixture.file("schema.json").utf8))
        #expect(schema.rows == counts.count)
        #expect(
            schema.columns == [
                ResultSchema.Column(name: "condition", type: "text", declaredType: nil, nullable: false),
                ResultSchema.Column(name: "patients", type: "integer", declaredType: nil, nullable: false),
                ResultSchema.Column(name: "mean_age", type: "real", declaredType: nil, nullable: false),
            ])
    }

    @Test func valuesKeepTheirTypesNullsAndQuotedText() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("v.csv", "id,code,score,note\n1,007,1.5,\n2,\"42\",,\"\"\n")
        let (result, _) = await runSQL(fixture.spec("SELECT id, code, typeof(code) AS t, score, note, note IS NULL AS missing FROM v ORDER BY id"))
        #expect(result.status == .succeeded, "\(result)")
        #expect(fixture.file("result.csv") == "id,code,t,score,note,missing\n1,007,text,1.5,,1\n2,42,text,,\"\",0\n")
        #expect(
            fixture.file("result.jsonl")
                == "{\"id\":1,\"code\":\"007\",\"t\":\"text\",\"score\":1.5,\"note\":null,\"missing\":1}\n"
                + "{\"id\":2,\"code\":\"42\",\"t\":\"text\",\"score\":null,\"note\":\"\",\"missing\":0}\n")
    }

    @Test func sqliteInputsAreTablesAndJoinCSVTablesAndStayUnmodified() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("patients.csv", "patient_id,site\np1,a\np2,b\np3,a\n")
        let database = fixture.data + "/lab.sqlite"
        do {
            let db = try SQLiteConnection(path: database)
            try db.execute(
                "PRAGMA journal_mode = WAL; CREATE TABLE results (patient_id TEXT, value REAL); INSERT INTO results VALUES ('p1', 2.0), ('p3', 4.0), ('p2', 10.0)")
        }
        let before = try snapshot(fixture.data)
        let (result, _) = await runSQL(
            fixture.spec("SELECT site, avg(value) AS mean FROM patients JOIN results USING (patient_id) GROUP BY site ORDER BY site"))
        #expect(result.status == .succeeded, "\(result)")
        #expect(fixture.file("result.csv") == "site,mean\na,3.0\nb,10.0\n")
        let schema = try JSONDecoder().decode(ResultSchema.self, from: Data(fixture.file("schema.json").utf8))
        #expect(schema.columns.map(\.type) == ["text", "real"])
        #expect(try snapshot(fixture.data) == before, "the inputs changed, or files appeared beside them")
    }

    /// Names, sizes, modification times and contents of every file in `directory`.
    private func snapshot(_ directory: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let path = directory + "/" + name
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            result[name] = "\(bytes.count) \(String(describing: attributes[.modificationDate])) \(bytes.hashValue)"
        }
        return result
    }

    @Test(arguments: [
        ("INSERT INTO t VALUES (3)", "write"),
        ("DELETE FROM t", "write"),
        ("UPDATE t SET x = 0", "write"),
        ("CREATE TABLE u (y)", "change the schema"),
        ("DROP TABLE t", "change the schema"),
        ("CREATE TEMP VIEW v AS SELECT 1", "change the schema"),
        ("ATTACH DATABASE '/tmp/insitu-sql-attack.db' AS other", "ATTACH"),
        ("SELECT load_extension('/tmp/libevil.so')", "load_extension"),
        ("PRAGMA writable_schema = 1", "PRAGMA writable_schema"),
        ("PRAGMA cache_size = 1", "PRAGMA cache_size"),
        ("PRAGMA database_list", "PRAGMA database_list"),
        ("SELECT 1; DROP TABLE t", "more than one statement"),
        ("SELECT 1; SELECT 2", "more than one statement"),
        ("BEGIN", "transaction"),
        ("VACUUM INTO '/tmp/insitu-sql-vacuum-copy.db'", "refused"),
        ("SELECT x AS a, x AS a FROM t", "two columns named"),
        // The engine's own CSV module: a query may not declare a table with it.
        ("CREATE VIRTUAL TABLE u USING insitu_csv(0)", "change the schema"),
        ("SELECT * FROM t; CREATE VIRTUAL TABLE u USING insitu_csv(0)", "more than one statement"),
    ])
    func queriesThatWouldChangeStateAreRefusedBeforeAnythingRuns(query: String, expected: String) async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("t.csv", "x\n1\n2\n")
        let (result, log) = await runSQL(fixture.spec(query))
        #expect(result.status == .failed)
        #expect(result.reason?.contains(expected) == true, "\(result.reason ?? "")")
        #expect(log.isEmpty, "rows were imported before the refusal: \(log)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/insitu-sql-attack.db"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/insitu-sql-vacuum-copy.db"))
        #expect(!FileManager.default.fileExists(atPath: fixture.output + "/result.csv"))
    }

    /// Only the columns a query reads are imported: whatever it reads, through `*`, aliases,
    /// joins or a bare count, it sees the file's values and rows.
    @Test func importingOnlyTheColumnsReadChangesNoAnswer() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("t.csv", "alpha,beta,gamma\n1,x,2.5\n2,y,\n")
        let cases = [
            ("SELECT * FROM t ORDER BY alpha", "alpha,beta,gamma\n1,x,2.5\n2,y,\n", "3 of them"),
            ("SELECT count(*) AS n FROM t", "n\n2\n", "0 of them"),
            ("SELECT q.BETA AS b FROM t AS q WHERE q.alpha = 2", "b\ny\n", "2 of them"),
            ("SELECT t1.gamma FROM t AS t1 JOIN t AS t2 USING (alpha) WHERE t2.beta = 'x'", "gamma\n2.5\n", "3 of them"),
            ("SELECT t1.gamma FROM t AS t1 NATURAL JOIN (SELECT * FROM t) WHERE gamma > 1", "gamma\n2.5\n", "3 of them"),
            ("SELECT count(*) AS n FROM (SELECT 1 FROM t t1 NATURAL JOIN t t2)", "n\n1\n", "3 of them"),
        ]
        for (query, expected, read) in cases {
            let output = try fixture.directory.subdirectory("out-\(UUID().uuidString)")
            var spec = fixture.spec(query)
            spec.outputDirectory = output
            let (result, log) = await runSQL(spec)
            #expect(result.status == .succeeded, "\(query): \(result)")
            #expect((try? String(contentsOfFile: output + "/result.csv", encoding: .utf8)) == expected, "\(query)")
            #expect(log.first?.hasSuffix("(the query reads \(read))") == true, "\(query): \(log)")
        }
    }

    @Test func readOnlyPragmasAndTrailingSemicolonAreAllowed() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("t.csv", "x,y\n1,2\n")
        let (result, _) = await runSQL(fixture.spec("PRAGMA table_info(t);  -- the columns"))
        #expect(result.status == .succeeded, "\(result)")
        #expect(fixture.file("result.csv") == "cid,name,type,notnull,dflt_value,pk\n0,x,\"\",0,,0\n1,y,\"\",0,,0\n")
    }

    @Test func anEndlessQueryStopsAtItsDeadline() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let started = ContinuousClock.now
        let (result, _) = await runSQL(fixture.spec(endlessQuery, sources: []), control: SQLRunControl(timeout: .milliseconds(300)))
        let elapsed = ContinuousClock.now - started
        #expect(result.status == .timedOut, "\(result)")
        #expect(result.reason == "exceeded its timeout of 0.3s")
        #expect(elapsed < .milliseconds(1_300), "stopped \(elapsed) after the start, more than 1 s after its deadline")
    }

    @Test func cancellingStopsARunningQueryWithinASecond() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let control = SQLRunControl()
        let spec = fixture.spec(endlessQuery, sources: [])
        let run = Task { await runSQL(spec, control: control).result }
        // The query is running once the scratch database exists and the result file is open.
        try await waitUntil(timeout: .seconds(10), "the query to start") {
            FileManager.default.fileExists(atPath: fixture.output + "/result.csv")
        }
        let cancelled = ContinuousClock.now
        control.cancel()
        let result = await run.value
        #expect(result.status == .cancelled)
        #expect(ContinuousClock.now - cancelled < .seconds(1))
    }

    @Test func theRowLimitFailsALargerResult() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("t.csv", "x\n1\n2\n3\n4\n5\n6\n")
        #expect(await runSQL(fixture.spec("SELECT x FROM t LIMIT 5", maxRows: 5)).result.status == .succeeded)
        let fixture2 = try SQLFixture()
        defer { fixture2.remove() }
        try fixture2.write("t.csv", "x\n1\n2\n3\n4\n5\n6\n")
        let (result, _) = await runSQL(fixture2.spec("SELECT x FROM t", maxRows: 5))
        #expect(result.status == .failed)
        #expect(result.reason?.contains("more than 5 rows") == true, "\(result.reason ?? "")")
    }

    @Test func clashingTableNamesAreRefusedNamingTheMountsNotTheNodePaths() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        let other = try fixture.directory.subdirectory("other")
        try fixture.write("patients.csv", "a\n1\n")
        try Data("b\n2\n".utf8).write(to: URL(fileURLWithPath: other + "/Patients.csv"))
        let (result, _) = await runSQL(
            fixture.spec(
                "SELECT 1",
                sources: [
                    SQLRunSpec.Source(hostPath: fixture.data, guestPath: "/data/one"),
                    SQLRunSpec.Source(hostPath: other, guestPath: "/data/two"),
                ]))
        #expect(result.status == .failed)
        let reason = result.reason ?? ""
        #expect(reason.contains("/data/one/patients.csv") && reason.contains("/data/two/Patients.csv"), "\(reason)")
        #expect(!reason.contains(fixture.directory.path), "a node path leaked: \(reason)")
    }

    @Test func malformedCSVNamesTheFileAndLine() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("bad.csv", "a,b\n1,2\n3\n")
        let (result, _) = await runSQL(fixture.spec("SELECT * FROM bad"))
        #expect(result.status == .failed)
        #expect(result.reason == "/data/bad.csv, line 3: the record has 1 fields, the header 2")
        try fixture.write("bad.csv", "a,A\n1,2\n")
        #expect(await runSQL(fixture.spec("SELECT * FROM bad")).result.reason?.contains("names column \"A\" twice") == true)
    }

    @Test func aFileThatIsNotADatabaseIsNamedByItsMount() async throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("broken.db", "this is not sqlite")
        let (result, _) = await runSQL(fixture.spec("SELECT 1"))
        #expect(result.status == .failed)
        #expect(result.reason?.hasPrefix("/data/broken.db cannot be read as a SQLite database") == true, "\(result.reason ?? "")")
        #expect(result.reason?.contains(fixture.directory.path) == false)
    }
}
