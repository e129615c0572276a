#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
import GRDBSQLite

/// Runs one SQL execution in this process: makes the inputs' files tables, checks the query,
/// runs it over the CSV files read in place (or imported, see below) and writes `result.csv`,
/// `result.jsonl` and `schema.json` into the output directory.
///
/// The order matters for the refusals: the tables are declared (a CSV file's header is read, no
/// record) and the SQLite inputs attached first, then the query is compiled under the authorizer
/// (`QueryPolicy`), so a query that would write, attach or load an extension, or that holds
/// several statements, is refused before any row is read. Then it runs with `PRAGMA query_only` on.
///
/// CSV files are `insitu_csv` virtual tables (`CSVVirtualTables`): the query reads the mapped
/// file in place, and a GROUP BY over one groups its rows in memory instead of sorting them.
/// Where SQLite's plan would read a CSV table again for every row of another (a join, a
/// correlated or recursive subquery), the rows are imported into a real table first, which
/// SQLite can index. Either way every record is read and checked with the same rules
/// (`CSVScanner`, `CSVValue`), and a malformed file fails the run naming its line.
///
/// Inputs are never modified: CSV files are mapped read-only, SQLite files attached with
/// `mode=ro&immutable=1` (no locks, no journal, no `-wal`/`-shm` files created beside them).
///
/// The memory limit is not set here: SQLite's only limit is process-wide
/// (`sqlite3_hard_heap_limit64`), so the runner process sets it (see `SQLRunnerCommand`). The
/// in-memory grouping allocates through SQLite, so it counts against that limit too.
public enum SQLRun {
    public static let resultCSV = "result.csv"
    public static let resultJSONL = "result.jsonl"
    public static let schemaFile = "schema.json"

    /// `log` receives one line per CSV table and one for the result (the execution's
    /// stdout). Never throws: every failure is a result.
    public static func run(_ spec: SQLRunSpec, control: SQLRunControl, log: (String) -> Void = { _ in }) -> SQLRunResult {
        run(spec, control: control, options: SQLRunOptions(), log: log)
    }

    package static func run(_ spec: SQLRunSpec, control: SQLRunControl, options: SQLRunOptions, log: (String) -> Void = { _ in }) -> SQLRunResult {
        let state = RunState(control: control)
        do {
            return try withoutActuallyEscaping(log) { log in try Run(spec: spec, options: options, state: state, log: log).execute() }
        } catch let error as SQLRunError {
            return SQLRunResult(status: .failed, reason: error.message)
        } catch let failure as SQLiteFailure {
            if let refusal = state.refusal { return SQLRunResult(status: .failed, reason: "refused: \(refusal)") }
            if failure.isInterrupt, let stop = state.stop ?? control.stopReason() { return stop }
            if failure.isOutOfMemory {
                return SQLRunResult(status: .outOfMemory, reason: "SQLite ran out of memory (\(failure.message))")
            }
            return SQLRunResult(status: .failed, reason: failure.message)
        } catch let stop as Stopped {
            return stop.result
        } catch {
            return SQLRunResult(status: .failed, reason: "\(error)")
        }
    }
}

struct Stopped: Error { var result: SQLRunResult }

/// How a run reads its CSV inputs, for tests and the benchmark, which compare the two ways on
/// the same files.
package struct SQLRunOptions: Sendable {
    /// Import every CSV input into a table, as for a join, even when the query could read it in place.
    package var alwaysImport: Bool
    /// Most bytes a GROUP BY over a CSV table may hold in memory; nil for half the memory limit.
    package var groupingBudget: Int64?

    package init(alwaysImport: Bool = false, groupingBudget: Int64? = nil) {
        self.alwaysImport = alwaysImport
        self.groupingBudget = groupingBudget
    }
}

/// What SQLite's callbacks share with the run (one thread; the pointer lives as long as the run).
final class RunState {
    enum Mode { case setup, query }
    let control: SQLRunControl
    var mode = Mode.setup
    /// Why the authorizer refused the query, when it did.
    var refusal: String?
    /// The columns the query reads, per table (names lowercased), as the authorizer saw them
    /// while compiling it. Not complete on its own: columns that joins compare implicitly
    /// (`USING`, `NATURAL`) are not reported (see `Run.columnsToImport`).
    var readColumns: [String: Set<String>] = [:]
    /// Why the progress handler interrupted SQLite, when it did.
    var stop: SQLRunResult?

    init(control: SQLRunControl) { self.control = control }
}

/// A CSV input whose header has been read: a virtual table until the query needs it imported.
private struct CSVInput {
    var name: String
    var origin: String
    var columns: [String]
    /// Lowercased header names, to match the columns the query reads.
    var columnKeys: [String]
    /// Positioned after the header.
    var scanner: CSVScanner
    /// The table's index among the run's virtual tables.
    var index: Int
}

/// A CSV input imported into a real table (see `Run.importTables`).
private struct CSVTable {
    var input: CSVInput
    var insert: Statement
    var scanner: CSVScanner
}

private struct Run {
    let spec: SQLRunSpec
    let options: SQLRunOptions
    let state: RunState
    let log: (String) -> Void

    func execute() throws -> SQLRunResult {
        let path: String
        if let scratch = spec.scratchDirectory {
            try makeDirectory(scratch)
            path = scratch + "/tables.db"
            unlink(path)
        } else {
            path = ":memory:"
        }
        defer { if spec.scratchDirectory != nil { unlink(path) } }
        let db = try SQLiteConnection(path: path)
        // The page cache (which also bounds a sort's memory before it spills to temporary files)
        // takes at most a quarter of the memory limit, so the limit leaves room for the query.
        let limit = sqlite3_hard_heap_limit64(-1)
        let cacheKiB = limit > 0 ? max(256, min(16 << 10, limit / 4 / 1024)) : 16 << 10
        try db.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; PRAGMA cache_size = -\(cacheKiB)")
        let context = Unmanaged.passUnretained(state).toOpaque()
        sqlite3_progress_handler(db.handle, 10_000, { context in
            let state = Unmanaged<RunState>.fromOpaque(context!).takeUnretainedValue()
            guard let stop = state.control.stopReason() else { return 0 }
            state.stop = stop
            return 1
        }, context)
        sqlite3_set_authorizer(db.handle, { context, action, first, second, _, _ in
            let state = Unmanaged<RunState>.fromOpaque(context!).takeUnretainedValue()
            guard state.mode == .query else { return SQLITE_OK }
            if action == SQLITE_READ, let first, let second {
                state.readColumns[TableNaming.asciiLowercased(String(cString: first)), default: []]
                    .insert(TableNaming.asciiLowercased(String(cString: second)))
            }
            let refusal = QueryPolicy.refusal(action: action, first.map { String(cString: $0) }, second.map { String(cString: $0) })
            guard let refusal else { return SQLITE_OK }
            if state.refusal == nil { state.refusal = refusal }
            return SQLITE_DENY
        }, context)
        let virtualTables = try CSVVirtualTables(db, state: state, groupingBudget: options.groupingBudget)
        // The tables point into the connection's memory: it must stay open while they are used.
        return try withExtendedLifetime(db) { try execute(db, virtualTables) }
    }

    private func execute(_ db: SQLiteConnection, _ virtualTables: CSVVirtualTables) throws -> SQLRunResult {
        // Tables (CSV files as virtual tables: only their headers are read) and the SQLite inputs.
        var inputs: [CSVInput] = []
        var names: [TableNaming.Table] = []
        for (index, source) in spec.sources.enumerated() {
            for entry in try listing(source) {
                let origin = join(source.guestPath, entry.name)
                switch entry.kind {
                case .csv:
                    let name = TableNaming.csvTableName(entry.name)
                    names.append(TableNaming.Table(name: name, origin: origin))
                    try TableNaming.check(names)
                    inputs.append(
                        try openCSV(virtualTables, hostPath: source.hostPath + "/" + entry.name, origin: origin, name: name, index: inputs.count))
                case .sqlite:
                    let schema = "input\(index + 1)_\(names.count + 1)"
                    for table in try attach(db, hostPath: source.hostPath + "/" + entry.name, origin: origin, schema: schema) {
                        names.append(TableNaming.Table(name: table, origin: "\(origin) (table \(table))"))
                    }
                    try TableNaming.check(names)
                }
            }
        }
        try TableNaming.check(names)

        // The query, checked before any row is read.
        state.mode = .query
        var query = try prepareQuery(db)
        let columnCount = Int(sqlite3_column_count(query.handle))

        // The CSV rows: read in place by the query when it reads each table once; imported when
        // a table would be read again per row of another (a join, a correlated subquery), where
        // SQLite needs a real table to index. Either way every record of every CSV input is read
        // and checked, and a malformed one fails the run, as the import always did.
        state.mode = .setup
        var tableLines: [String] = []
        let inPlace = inputs.isEmpty || (!options.alwaysImport && readsEachTableOnce(db, query))
        let reading: String
        if inPlace {
            reading = "CSV read in place"
            // Tables the query scans are checked by that scan before it returns their first row.
            for input in inputs where !virtualTables.planned(input.index) {
                _ = try checked(virtualTables, inputs) { try virtualTables.validate(input.index) }
            }
        } else {
            let begin = ContinuousClock.now
            query = try importTables(db, inputs, lines: &tableLines)
            reading = "import \(milliseconds(ContinuousClock.now - begin)) ms"
        }
        state.mode = .setup
        try db.execute("PRAGMA query_only = 1")
        state.mode = .query

        // The result.
        let started = ContinuousClock.now
        let rows: Int
        do {
            rows = try checked(virtualTables, inputs) { try writeResult(db, query, columns: columnCount) }
        } catch CSVTableFailure.groupingTooLarge {
            // Too many groups to hold within the memory limit: SQLite's sorter groups them
            // instead, spilling to disk. No row was returned yet (grouping comes first).
            unlink(spec.outputDirectory + "/" + SQLRun.resultCSV)
            unlink(spec.outputDirectory + "/" + SQLRun.resultJSONL)
            virtualTables.disableGrouping()
            query = try prepareQuery(db)
            rows = try checked(virtualTables, inputs) { try writeResult(db, query, columns: columnCount) }
        }
        let elapsed = ContinuousClock.now - started
        if inPlace {
            for input in inputs {
                let count = try checked(virtualTables, inputs) { try virtualTables.validate(input.index) }
                tableLines.append(tableLine(input, rows: count))
            }
        }
        for line in tableLines { log(line) }
        log("result: \(rows) rows, \(columnCount) columns (\(reading), query \(milliseconds(elapsed)) ms)")
        return SQLRunResult(status: .succeeded, rows: rows)
    }

    private func tableLine(_ input: CSVInput, rows: Int) -> String {
        let used = columnsToImport(input)
        return "table \(input.name): \(rows) rows, \(input.columns.count) columns, from \(input.origin) "
            + "(the query reads \(used.filter { $0 }.count) of them)"
    }

    /// Runs `body`, turning a CSV table's failure (malformed, too many groups, stopped) into the
    /// run's terms, including when SQLite reports it as a failed statement.
    private func checked<T>(_ virtualTables: CSVVirtualTables, _ inputs: [CSVInput], _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as SQLiteFailure {
            guard let tableFailure = virtualTables.lastFailure else { throw failure }
            throw try runError(tableFailure, inputs)
        } catch let failure as CSVTableFailure {
            throw try runError(failure, inputs)
        }
    }

    private func runError(_ failure: CSVTableFailure, _ inputs: [CSVInput]) throws -> any Error {
        func origin(_ table: Int) -> String { inputs.indices.contains(table) ? inputs[table].origin : "a CSV input" }
        switch failure {
        case .malformed, .ragged, .changed:
            // As when the rows were imported first: a malformed input leaves no result behind
            // (the files may hold the header, opened before the table's first row was read).
            unlink(spec.outputDirectory + "/" + SQLRun.resultCSV)
            unlink(spec.outputDirectory + "/" + SQLRun.resultJSONL)
        case .groupingTooLarge, .stopped, .outOfMemory:
            break
        }
        switch failure {
        case .malformed(let table, let error):
            return SQLRunError("\(origin(table)), line \(error.line): \(error.problem)")
        case .ragged(let table, let line, let fields):
            let error = CSVError.ragged(line: line, fields: fields, columns: inputs.indices.contains(table) ? inputs[table].columns.count : 0)
            return SQLRunError("\(origin(table)), line \(error.line): \(error.problem)")
        case .changed(let table):
            return SQLRunError("\(origin(table)) changed while the query read it: run the job again once the file is no longer being written")
        case .groupingTooLarge:
            return failure
        case .stopped:
            return Stopped(result: state.stop ?? SQLRunResult(status: .cancelled, reason: "cancelled"))
        case .outOfMemory:
            return SQLiteFailure(code: SQLITE_NOMEM, message: "out of memory reading a CSV input")
        }
    }

    /// Whether the query reads every CSV table at most once, judged from SQLite's plan: no CSV
    /// table inside a join but as its outermost loop, and no correlated or recursive subquery.
    private func readsEachTableOnce(_ db: SQLiteConnection, _ query: Statement) -> Bool {
        guard let sql = sqlite3_sql(query.handle) else { return false }
        state.mode = .query
        defer {
            state.mode = .setup
            state.refusal = nil
        }
        guard let plan = try? db.prepare("EXPLAIN QUERY PLAN " + String(cString: sql)) else { return false }
        var loops: [Int32: [Bool]] = [:]
        while true {
            let rc = sqlite3_step(plan.handle)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { return false }
            let parent = sqlite3_column_int(plan.handle, 1)
            let detail = sqlite3_column_text(plan.handle, 3).map { String(cString: $0) } ?? ""
            if detail.hasPrefix("CORRELATED") || detail.hasPrefix("RECURSIVE STEP") { return false }
            if detail.hasPrefix("SCAN ") || detail.hasPrefix("SEARCH ") {
                loops[parent, default: []].append(detail.contains(" VIRTUAL TABLE "))
            }
        }
        return !loops.values.contains { $0.dropFirst().contains(true) }
    }

    /// Replaces the virtual tables by real ones holding the rows, and compiles the query again.
    private func importTables(_ db: SQLiteConnection, _ inputs: [CSVInput], lines: inout [String]) throws -> Statement {
        var tables: [CSVTable] = []
        for input in inputs {
            let quotedName = SQLiteConnection.quoted(input.name)
            try db.execute("DROP TABLE main.\(quotedName)")
            try db.execute("CREATE TABLE main.\(quotedName) (\(input.columns.map(SQLiteConnection.quoted).joined(separator: ", ")))")
            let insert = try db.prepare(
                "INSERT INTO main.\(quotedName) VALUES (\(Array(repeating: "?", count: input.columns.count).joined(separator: ", ")))")
            tables.append(CSVTable(input: input, insert: insert, scanner: input.scanner))
        }
        try db.execute("BEGIN")
        for var table in tables {
            // Only the columns the query reads are typed and stored; the others stay NULL, which
            // the query cannot observe. Every row is stored, so counts are unchanged.
            let used = columnsToImport(table.input)
            let rows = try importRows(db, &table, used: used)
            lines.append(tableLine(table.input, rows: rows))
        }
        try db.execute("COMMIT")
        state.mode = .query
        return try prepareQuery(db)
    }

    // MARK: Inputs

    private func listing(_ source: SQLRunSpec.Source) throws -> [(name: String, kind: TableNaming.SourceKind)] {
        guard let directory = opendir(source.hostPath) else {
            throw SQLRunError("cannot read the input mounted at \(source.guestPath): \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var entries: [(name: String, kind: TableNaming.SourceKind)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard !name.hasPrefix("."), let kind = TableNaming.kind(ofFile: name) else { continue }
            var status = stat()
            guard lstat(source.hostPath + "/" + name, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
            entries.append((name, kind))
        }
        return entries.sorted { $0.name < $1.name }
    }

    private func openCSV(_ virtualTables: CSVVirtualTables, hostPath: String, origin: String, name: String, index: Int) throws -> CSVInput {
        let mapping = try MappedFile(path: hostPath, origin: origin)
        var scanner = CSVScanner(mapping.bytes)
        var fields: [CSVField] = []
        let hasHeader: Bool
        do throws(CSVError) { hasHeader = try scanner.next(&fields) } catch {
            throw SQLRunError("\(origin), line \(error.line): \(error.problem)")
        }
        guard hasHeader else { throw SQLRunError("\(origin) is empty: a CSV input needs a header line naming its columns") }
        var columns: [String] = []
        var seen: [String: Int] = [:]
        for (index, field) in fields.enumerated() {
            let column = scanner.text(of: field)
            guard !column.isEmpty, !column.utf8.contains(0) else {
                throw SQLRunError("\(origin): column \(index + 1) of the header has no name: name every column")
            }
            let key = TableNaming.asciiLowercased(column)
            if let other = seen[key] {
                throw SQLRunError(
                    "\(origin): the header names column \"\(column)\" twice (columns \(other + 1) and \(index + 1), compared without case): rename one")
            }
            seen[key] = index
            columns.append(column)
        }
        try virtualTables.add(name: name, columns: columns, mapping: mapping, dataStart: scanner.position, dataLine: scanner.line)
        return CSVInput(
            name: name, origin: origin, columns: columns, columnKeys: columns.map(TableNaming.asciiLowercased),
            scanner: scanner, index: index)
    }

    /// Attaches a SQLite input read-only and returns its tables' and views' names.
    private func attach(_ db: SQLiteConnection, hostPath: String, origin: String, schema: String) throws -> [String] {
        var status = stat()
        guard stat(hostPath, &status) == 0 else { throw SQLRunError("cannot read \(origin): \(String(cString: strerror(errno)))") }
        let uri = "file:" + Self.percentEncoded(hostPath) + "?mode=ro&immutable=1"
        do {
            try db.execute("ATTACH DATABASE \(SQLiteConnection.literal(uri)) AS \(SQLiteConnection.quoted(schema))")
            let list = try db.prepare(
                "SELECT name FROM \(SQLiteConnection.quoted(schema)).sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
            var names: [String] = []
            while true {
                let rc = sqlite3_step(list.handle)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else { throw db.failure(rc, "listing tables") }
                names.append(sqlite3_column_text(list.handle, 0).map { String(cString: $0) } ?? "")
            }
            return names
        } catch let failure as SQLiteFailure {
            if failure.isOutOfMemory || failure.isInterrupt { throw failure }
            // SQLite's message may name the file's path on the node: say it in the job's terms.
            throw SQLRunError("\(origin) cannot be read as a SQLite database: \(String(cString: sqlite3_errstr(failure.code)))")
        }
    }

    static func percentEncoded(_ path: String) -> String {
        var out = ""
        for byte in path.utf8 {
            let allowed = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "/-_.~".utf8.contains(byte)
            if allowed {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    // MARK: The query

    private func prepareQuery(_ db: SQLiteConnection) throws -> Statement {
        let text = spec.query
        var statement: OpaquePointer?
        var tailOffset = 0
        let rc = text.utf8CString.withUnsafeBufferPointer { buffer -> Int32 in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(db.handle, buffer.baseAddress, Int32(buffer.count), 0, &statement, &tail)
            if let tail { tailOffset = buffer.baseAddress!.distance(to: tail) }
            return rc
        }
        if let refusal = state.refusal {
            sqlite3_finalize(statement)
            throw SQLRunError("refused: \(refusal)")
        }
        guard rc == SQLITE_OK else { throw SQLRunError("the query does not compile: \(db.errorMessage)") }
        guard let statement else { throw SQLRunError("the query is empty: send one SELECT statement") }
        let prepared = Statement(statement)

        // Whatever follows the first statement must be nothing but blanks and comments.
        let rest = Array(text.utf8CString.dropLast().dropFirst(tailOffset))
        if !rest.isEmpty {
            var next: OpaquePointer?
            let restRC = rest.withUnsafeBufferPointer { sqlite3_prepare_v2(db.handle, $0.baseAddress, Int32($0.count), &next, nil) }
            sqlite3_finalize(next)
            state.refusal = nil
            if restRC != SQLITE_OK || next != nil {
                throw SQLRunError("refused: the query holds more than one statement: send one SELECT (a single trailing ';' is fine)")
            }
        }
        guard sqlite3_stmt_readonly(prepared.handle) != 0 else {
            throw SQLRunError("refused: the statement would change a database: the sql engine is read-only; send one SELECT")
        }
        var seen: [String: Int] = [:]
        for index in 0..<Int(sqlite3_column_count(prepared.handle)) {
            let name = String(cString: sqlite3_column_name(prepared.handle, Int32(index)))
            if let other = seen[name] {
                throw SQLRunError(
                    "the result has two columns named \"\(name)\" (columns \(other + 1) and \(index + 1)): give them distinct names with AS")
            }
            seen[name] = index
        }
        return prepared
    }

    // MARK: Import

    /// Which columns of `table` to import: those the authorizer saw the query read, every
    /// column whose name appears anywhere in the query's text (which covers `USING (a)`), and
    /// all of them when the query may use a NATURAL join, whose columns are named nowhere.
    private func columnsToImport(_ input: CSVInput) -> [Bool] {
        let text = TableNaming.asciiLowercased(spec.query)
        if text.contains("natural") { return input.columnKeys.map { _ in true } }
        let read = state.readColumns[TableNaming.asciiLowercased(input.name)] ?? []
        return input.columnKeys.map { read.contains($0) || text.contains($0) }
    }

    private func importRows(_ db: SQLiteConnection, _ table: inout CSVTable, used: [Bool]) throws -> Int {
        var fields: [CSVField] = []
        fields.reserveCapacity(table.input.columns.count)
        let insert = table.insert.handle
        var rows = 0
        while true {
            let more: Bool
            do throws(CSVError) { more = try table.scanner.next(&fields) } catch {
                throw SQLRunError("\(table.input.origin), line \(error.line): \(error.problem)")
            }
            guard more else { break }
            guard fields.count == table.input.columns.count else {
                let error = CSVError.ragged(line: table.scanner.recordLine, fields: fields.count, columns: table.input.columns.count)
                throw SQLRunError("\(table.input.origin), line \(error.line): \(error.problem)")
            }
            let rc: Int32 = table.scanner.scratch.withUnsafeBytes { scratch in
                for (index, field) in fields.enumerated() where used[index] {
                    let column = Int32(index + 1)
                    let bytes = table.scanner.fieldBytes(field, scratch: scratch)
                    switch CSVValue.classify(bytes, quoted: field.quoted) {
                    case .null: sqlite3_bind_null(insert, column)
                    case .integer(let value): sqlite3_bind_int64(insert, column, value)
                    case .real(let value): sqlite3_bind_double(insert, column, value)
                    case .text:
                        if bytes.isEmpty {
                            sqlite3_bind_text(insert, column, "", 0, sqliteTransient)
                        } else {
                            sqlite3_bind_text(
                                insert, column, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count), sqliteStatic)
                        }
                    }
                }
                let rc = sqlite3_step(insert)
                sqlite3_reset(insert)
                return rc
            }
            guard rc == SQLITE_DONE else {
                if let stop = state.stop { throw Stopped(result: stop) }
                throw db.failure(rc, "importing \(table.input.origin), line \(table.scanner.recordLine)")
            }
            rows += 1
            if rows & 4095 == 0, let stop = state.control.stopReason() { throw Stopped(result: stop) }
        }
        return rows
    }

    // MARK: Result

    private func writeResult(_ db: SQLiteConnection, _ query: Statement, columns: Int) throws -> Int {
        let handle = query.handle
        let names = (0..<columns).map { String(cString: sqlite3_column_name(handle, Int32($0))) }
        let declared = (0..<columns).map { sqlite3_column_decltype(handle, Int32($0)).map { String(cString: $0) } }
        let csv = try OutputFile(directory: spec.outputDirectory, name: SQLRun.resultCSV)
        let jsonl = try OutputFile(directory: spec.outputDirectory, name: SQLRun.resultJSONL)
        var line: [UInt8] = []
        for (index, name) in names.enumerated() {
            if index > 0 { line.append(UInt8(ascii: ",")) }
            ResultEncoding.appendCSVText(Array(name.utf8), to: &line)
        }
        line.append(UInt8(ascii: "\n"))
        try csv.write(line)
        var keys: [[UInt8]] = names.map { name in
            var key: [UInt8] = []
            ResultEncoding.appendJSONString(name, to: &key)
            key.append(UInt8(ascii: ":"))
            return key
        }
        var trackers = Array(repeating: ColumnTypeTracker(), count: columns)
        var rows = 0
        var csvLine: [UInt8] = []
        var jsonLine: [UInt8] = []
        while true {
            let rc = sqlite3_step(handle)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                if let stop = state.stop { throw Stopped(result: stop) }
                throw db.failure(rc, "the query failed")
            }
            guard Int64(rows) < spec.maxRows else {
                throw SQLRunError(
                    "the result has more than \(spec.maxRows) rows, the most this execution may return "
                        + "(the lower of the job's engine.maxRows and the node's engines.sql.max_rows): aggregate further or add a LIMIT")
            }
            rows += 1
            csvLine.removeAll(keepingCapacity: true)
            jsonLine.removeAll(keepingCapacity: true)
            jsonLine.append(UInt8(ascii: "{"))
            for index in 0..<columns {
                let value = Self.value(handle, Int32(index))
                trackers[index].observe(value)
                if index > 0 {
                    csvLine.append(UInt8(ascii: ","))
                    jsonLine.append(UInt8(ascii: ","))
                }
                ResultEncoding.appendCSV(value, to: &csvLine)
                jsonLine.append(contentsOf: keys[index])
                ResultEncoding.appendJSON(value, to: &jsonLine)
            }
            csvLine.append(UInt8(ascii: "\n"))
            jsonLine.append(contentsOf: "}\n".utf8)
            try csv.write(csvLine)
            try jsonl.write(jsonLine)
        }
        keys.removeAll()
        try csv.close()
        try jsonl.close()
        let schema = ResultSchema(
            columns: (0..<columns).map {
                ResultSchema.Column(name: names[$0], type: trackers[$0].type, declaredType: declared[$0], nullable: trackers[$0].sawNull)
            },
            rows: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let schemaFile = try OutputFile(directory: spec.outputDirectory, name: SQLRun.schemaFile)
        try schemaFile.write(Array(try encoder.encode(schema)) + [UInt8(ascii: "\n")])
        try schemaFile.close()
        return rows
    }

    private static func value(_ statement: OpaquePointer, _ column: Int32) -> ResultValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            let pointer = sqlite3_column_text(statement, column)
            let count = Int(sqlite3_column_bytes(statement, column))
            return .text(pointer.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
        case SQLITE_BLOB:
            let pointer = sqlite3_column_blob(statement, column)
            let count = Int(sqlite3_column_bytes(statement, column))
            return .blob(pointer.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? [])
        default: return .null
        }
    }

    private func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    private func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw SQLRunError("cannot create the execution's scratch directory: \(String(cString: strerror(errno)))")
        }
    }
}
