import Foundation
import GRDBSQLite
import InsituProcess
@testable import InsituSQL
import Testing

/// What one run produced: enough to tell any difference a job could see.
private struct Produced: Equatable, CustomStringConvertible {
    var status: SQLRunResult.Status
    var reason: String?
    var rows: Int?
    var csv: String
    var jsonl: String
    var schema: String

    var description: String { "\(status) \(reason ?? "") rows \(rows.map(String.init) ?? "-")\n\(csv)\n\(schema)" }
}

/// Runs `query` over `files` (name → bytes) once reading the CSV files in place and once
/// importing them (the engine's earlier path, still used for joins), and returns both results
/// and the in-place run's log.
private func bothWays(
    _ files: [String: [UInt8]], _ query: String, groupingBudget: Int64? = nil, control: SQLRunControl = SQLRunControl()
) async throws -> (inPlace: Produced, imported: Produced, log: [String]) {
    let fixture = try SQLFixture()
    defer { fixture.remove() }
    for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: fixture.data + "/" + name)) }
    var produced: [Produced] = []
    var inPlaceLog: [String] = []
    for alwaysImport in [false, true] {
        let output = try fixture.directory.subdirectory(alwaysImport ? "imported" : "in-place")
        var spec = fixture.spec(query)
        spec.outputDirectory = output
        spec.scratchDirectory = fixture.directory.path + (alwaysImport ? "/scratch-imported" : "/scratch-in-place")
        let options = SQLRunOptions(alwaysImport: alwaysImport, groupingBudget: groupingBudget)
        let runSpec = spec
        let (result, log) = await DedicatedThread.run {
            var lines: [String] = []
            let result = SQLRun.run(runSpec, control: control, options: options) { lines.append($0) }
            return (result, lines)
        }
        if !alwaysImport { inPlaceLog = log }
        func file(_ name: String) -> String {
            (try? Data(contentsOf: URL(fileURLWithPath: output + "/" + name))).map { String(decoding: $0, as: UTF8.self) } ?? "<missing>"
        }
        produced.append(
            Produced(
                status: result.status, reason: result.reason, rows: result.rows, csv: file(SQLRun.resultCSV),
                jsonl: file(SQLRun.resultJSONL), schema: file(SQLRun.schemaFile)))
    }
    return (produced[0], produced[1], inPlaceLog)
}

/// Expects both ways to produce the same, for every query; returns the in-place results.
@discardableResult
private func expectSameBothWays(
    _ text: [UInt8], _ queries: [String], sourceLocation: SourceLocation = #_sourceLocation
) async throws -> [Produced] {
    var results: [Produced] = []
    for query in queries {
        let (inPlace, imported, log) = try await bothWays(["t.csv": text], query)
        #expect(inPlace == imported, "\(query)\nin place: \(inPlace)\nimported: \(imported)", sourceLocation: sourceLocation)
        if inPlace.status == .succeeded {
            #expect(log.last?.contains("CSV read in place") == true, "\(query) was not read in place: \(log)", sourceLocation: sourceLocation)
        }
        results.append(inPlace)
    }
    return results
}

/// Queries that read every column, their types, the row numbers, and group and deduplicate.
private func everyWay(_ columns: [String]) -> [String] {
    let list = columns.joined(separator: ", ")
    let typed = columns.map { "typeof(\($0)) AS \($0)_type, length(CAST(\($0) AS BLOB)) AS \($0)_bytes" }.joined(separator: ", ")
    return [
        "SELECT rowid, * FROM t",
        "SELECT \(typed) FROM t",
        "SELECT \(columns[0]), count(*) AS n FROM t GROUP BY \(columns[0])",
        "SELECT \(columns[0]), count(*) AS n FROM t GROUP BY \(columns[0]) ORDER BY \(columns[0]) DESC",
        "SELECT DISTINCT \(list) FROM t",
        "SELECT count(*) AS n FROM t",
    ]
}

@Suite("CSV virtual table")
struct CSVVirtualTableTests {
    @Test func quotedFieldsWithCommasLineBreaksAndDoubledQuotesReadAsImported() async throws {
        let text = "name,note\n\"Smith, J\",\"said \"\"hi\"\"\nthen left\"\nplain,\"\"\"\"\n\"a\"\"\",\"x\ny\"\n\"Smith, J\",z\n"
        let results = try await expectSameBothWays(Array(text.utf8), everyWay(["name", "note"]))
        #expect(results[0].csv == "rowid,name,note\n1,\"Smith, J\",\"said \"\"hi\"\"\nthen left\"\n2,plain,\"\"\"\"\n3,\"a\"\"\",\"x\ny\"\n4,\"Smith, J\",z\n")
    }

    @Test func crlfLineEndingsAndLoneCarriageReturnsReadAsImported() async throws {
        let text = "a,b\r\n1,x\r\n\r\n2,\"y\r\nz\"\r\n3,p\rq\r\n"
        let results = try await expectSameBothWays(Array(text.utf8), everyWay(["a", "b"]))
        #expect(results[5].csv == "n\n3\n")
    }

    @Test func emptyFieldsAreNullAndQuotedEmptyIsTextAsImported() async throws {
        let text = "a,b,c\n,\"\",\n1,,\"\"\n,,\n\"\",x,\n"
        let results = try await expectSameBothWays(Array(text.utf8), everyWay(["a", "b", "c"]))
        #expect(results[1].csv.contains("null,,text,0,null,"), "\(results[1].csv)")
    }

    @Test func numbersAreTypedAsImported() async throws {
        let values = [
            "0", "-0", "007", "1.5", "-0.25", "1.", ".5", "00.5", "1e3", "1E+5", "6.02e23", "1e", "1e400", "-", "+1",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "12345678901234567890", "1.0", "2", "2.0", "2.5", "1 ", " 1", "0x10", "inf", "nan",
        ]
        let text = "v,w\n" + values.map { "\($0),\($0)" }.joined(separator: "\n") + "\n"
        let results = try await expectSameBothWays(Array(text.utf8), everyWay(["v", "w"]) + ["SELECT v, sum(w) AS s FROM t GROUP BY v"])
        // 1.0 and 1, 2.0 and 2 are one group each for SQLite: grouping in memory must agree.
        #expect(results[2].csv.contains("\n2,2\n") || results[2].csv.contains("\n2.0,2\n"), "\(results[2].csv)")
    }

    @Test func mixedTypesAndNullsGroupAndSortAsSQLiteDoes() async throws {
        let values = ["b", "", "1", "1.0", "\"1\"", "a", "-3", "2.5", "", "B", "\"\"", "10", "9.99", "-3.5", "1e300", "a"]
        let text = "k,v\n" + values.enumerated().map { "\($1),\($0)" }.joined(separator: "\n") + "\n"
        try await expectSameBothWays(
            Array(text.utf8),
            [
                "SELECT k, typeof(k) AS t, count(*) AS n, sum(v) AS s FROM t GROUP BY k",
                "SELECT k, count(*) AS n FROM t GROUP BY k ORDER BY k DESC",
                "SELECT k, v % 2 AS odd, count(*) AS n FROM t GROUP BY k, v % 2",
                "SELECT k, count(*) AS n FROM t GROUP BY k ORDER BY n, k",
                "SELECT DISTINCT k FROM t",
                "SELECT DISTINCT k FROM t ORDER BY k DESC",
            ])
    }

    @Test func aHeaderOnlyFileIsAnEmptyTable() async throws {
        for text in ["a,b\n", "a,b", "a,b\r\n\r\n"] {
            let results = try await expectSameBothWays(Array(text.utf8), everyWay(["a", "b"]))
            #expect(results[5].csv == "n\n0\n", "\(text.debugDescription)")
        }
    }

    @Test func theLastRecordMayLackItsLineBreak() async throws {
        for text in ["a,b\n1,2\n3,\"x\"", "a,b\n1,2\n3,", "a,b\n1,2\n3,4"] {
            let results = try await expectSameBothWays(Array(text.utf8), everyWay(["a", "b"]))
            #expect(results[5].csv == "n\n2\n", "\(text.debugDescription)")
        }
    }

    @Test func invalidUTF8PassesThroughAsImported() async throws {
        var text = Array("a,b\n".utf8)
        text += [0xFF, 0xFE, UInt8(ascii: ","), 0xC3, UInt8(ascii: "\n"), UInt8(ascii: "\""), 0xE2, 0x82, UInt8(ascii: "\""), UInt8(ascii: ",")]
        text += [UInt8(ascii: "x"), 0x00, UInt8(ascii: "y"), UInt8(ascii: "\n")]
        try await expectSameBothWays(text, everyWay(["a", "b"]))
    }

    @Test func malformedFilesFailWithTheSameErrorAsImported() async throws {
        let cases = [
            ("a,b\n1,2\n3\n", "/data/t.csv, line 3: the record has 1 fields, the header 2"),
            ("a,b\n1,2\n3,4,5\n", "/data/t.csv, line 3: the record has 3 fields, the header 2"),
            ("a\n1\n\"open\nstill open\n", "/data/t.csv, line 3: a field opened with a double quote on this line is never closed"),
            ("a,b\n\"x\ny\"z,2\n", "/data/t.csv, line 3: a closing double quote is followed by 'z' instead of a comma or a line break (inside a quoted field, write a double quote as \"\")"),
            ("a,b\n1,2\n\"x\"\r3\n", "/data/t.csv, line 3: a closing double quote is followed by the byte 0xd instead of a comma or a line break (inside a quoted field, write a double quote as \"\")"),
        ]
        for (text, reason) in cases {
            for query in ["SELECT * FROM t", "SELECT a, count(*) FROM t GROUP BY a", "SELECT 1 AS one", "SELECT * FROM t LIMIT 1"] {
                let (inPlace, imported, _) = try await bothWays(["t.csv": Array(text.utf8)], query)
                #expect(inPlace.status == .failed && inPlace.reason == reason, "\(query): \(inPlace)")
                #expect(inPlace.status == imported.status && inPlace.reason == imported.reason, "\(query): \(inPlace) \(imported)")
                // Nothing of a malformed table reaches the result.
                #expect(inPlace.csv == "<missing>" && inPlace.jsonl == "<missing>", "\(query): \(inPlace.csv)")
            }
        }
    }

    /// Random files over the characters that matter to the scanner and the typing, each read both
    /// ways by queries that stream, group and deduplicate (the generator is seeded: the same files
    /// every run).
    @Test func randomFilesReadTheSameBothWays() async throws {
        var state: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        // Mostly well-formed records of three fields from values that type differently, and
        // now and then a piece that breaks the structure (a stray quote, comma or line end).
        let values: [[UInt8]] = [
            Array("1".utf8), Array("0".utf8), Array("-1".utf8), Array("1.0".utf8), Array("2.5".utf8), Array("1e1".utf8),
            Array("10".utf8), Array("007".utf8), Array("x".utf8), Array("".utf8), Array("\"\"".utf8), Array("\"a,\"\"b\nc\"".utf8),
            Array("9223372036854775808".utf8), Array("-".utf8), Array("a\rb".utf8), [0xFF, 0xC3], Array(" 1".utf8),
        ]
        let breakers: [[UInt8]] = [Array("\"".utf8), Array(",".utf8), Array("\n".utf8), Array("\r\n".utf8), Array("\r".utf8), Array("\"\"".utf8)]
        var failures = 0
        var agreedFailures = 0
        for _ in 0..<60 {
            var text = Array("a,b,c\n".utf8)
            let rows = next(12)
            for row in 0..<rows {
                for field in 0..<3 {
                    text += next(12) == 0 ? breakers[next(breakers.count)] : values[next(values.count)]
                    if field < 2 { text += Array(",".utf8) }
                }
                if row + 1 < rows || next(2) == 0 { text += next(3) == 0 ? Array("\r\n".utf8) : Array("\n".utf8) }
            }
            for query in ["SELECT rowid, a, typeof(a) AS ta, b, typeof(b) AS tb, c FROM t", "SELECT a, b, count(*) AS n FROM t GROUP BY a, b", "SELECT DISTINCT c FROM t"] {
                let (inPlace, imported, _) = try await bothWays(["t.csv": text], query)
                #expect(inPlace == imported, "\(String(decoding: text, as: UTF8.self).debugDescription) \(query)\n\(inPlace)\n\(imported)")
                if inPlace.status == .failed { failures += 1 }
                if inPlace == imported, inPlace.status == .failed { agreedFailures += 1 }
            }
        }
        // The generator makes both well-formed and malformed files.
        #expect(failures > 0 && failures < 180, "\(failures) of 180 runs failed")
        #expect(agreedFailures == failures)
    }

    @Test func groupsPastTheMemoryBudgetFallBackToSQLitesSorter() async throws {
        let text = "id,g\n" + (0..<3_000).map { "\($0),\($0 % 700)" }.joined(separator: "\n") + "\n"
        let query = "SELECT g, count(*) AS n, min(id) AS first FROM t GROUP BY g"
        let (small, imported, log) = try await bothWays(["t.csv": Array(text.utf8)], query, groupingBudget: 4_096)
        #expect(small.status == .succeeded, "\(small)")
        #expect(small == imported)
        #expect(log.last?.contains("CSV read in place") == true, "\(log)")
        let (unbounded, _, _) = try await bothWays(["t.csv": Array(text.utf8)], query)
        #expect(unbounded == small)
    }

    @Test func joinsAndCorrelatedSubqueriesImportTheRows() async throws {
        let files = ["t.csv": Array("k,v\n1,a\n2,b\n3,c\n".utf8), "u.csv": Array("k,w\n1,x\n3,y\n".utf8)]
        for query in [
            "SELECT t.v, u.w FROM t JOIN u ON t.k = u.k ORDER BY t.k",
            "SELECT v, (SELECT count(*) FROM u WHERE u.k <= t.k) AS n FROM t ORDER BY k",
        ] {
            let (inPlace, imported, log) = try await bothWays(files, query)
            #expect(inPlace.status == .succeeded && inPlace == imported, "\(query): \(inPlace)")
            #expect(log.last?.contains("import") == true, "\(query): \(log)")
        }
        let (single, _, log) = try await bothWays(files, "SELECT count(*) AS n FROM t WHERE k IN (SELECT k FROM u)")
        #expect(single.csv == "n\n2\n")
        #expect(log.last?.contains("CSV read in place") == true, "\(log)")
        // A table read only by a subquery is still checked and counted.
        #expect(log.contains { $0.hasPrefix("table u: 2 rows, 2 columns, from /data/u.csv") }, "\(log)")
    }

    /// The scans of a CSV table run inside one call into the table (the grouping pass, the check
    /// of a streamed table), where SQLite's progress handler is never called: the table asks the
    /// run's control itself. Here on a bare connection, without that handler.
    @Test(arguments: ["SELECT g, count(*) AS n FROM t GROUP BY g", "SELECT count(*) AS n FROM t"])
    func aStopEndsAScanWithoutSQLitesProgressHandler(query: String) throws {
        let fixture = try SQLFixture()
        defer { fixture.remove() }
        try fixture.write("t.csv", "id,g\n" + (0..<50_000).map { "\($0),\($0 % 7)" }.joined(separator: "\n") + "\n")
        let db = try SQLiteConnection(path: ":memory:")
        let control = SQLRunControl()
        let state = RunState(control: control)
        let tables = try CSVVirtualTables(db, state: state)
        let mapping = try MappedFile(path: fixture.data + "/t.csv", origin: "/data/t.csv")
        var scanner = CSVScanner(mapping.bytes)
        var header: [CSVField] = []
        #expect(try scanner.next(&header))
        try tables.add(name: "t", columns: ["id", "g"], mapping: mapping, dataStart: scanner.position, dataLine: scanner.line)
        let statement = try db.prepare(query)
        control.cancel()
        let rc = sqlite3_step(statement.handle)
        #expect(rc & 0xFF == SQLITE_INTERRUPT, "\(rc): \(db.errorMessage)")
        #expect(state.stop?.status == .cancelled)
    }
}
