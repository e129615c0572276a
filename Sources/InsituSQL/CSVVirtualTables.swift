#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CInsituSQLite
import GRDBSQLite

/// The run's CSV inputs as `insitu_csv` virtual tables (Sources/CInsituSQLite/csv_vtab.c): the
/// query reads each mapped file in place, so nothing is imported.
///
/// The connection owns the C side (the set of tables and their mappings) from `init` on and
/// frees it when it closes, after its last statement: that is what keeps the text SQLite was
/// handed without a copy valid. This object only points at it, so it must not outlive `db`.
final class CSVVirtualTables {
    private let set: OpaquePointer
    private unowned let db: SQLiteConnection

    init(_ db: SQLiteConnection, state: RunState, groupingBudget: Int64? = nil) throws {
        guard let set = insitu_csv_set_new({ base, length in _ = munmap(base, length) }) else {
            throw SQLiteFailure(code: SQLITE_NOMEM, message: "out of memory for the CSV tables")
        }
        let rc = insitu_csv_register(db.handle, set)
        guard rc == SQLITE_OK else { throw db.failure(rc, "registering the CSV table module") }
        self.set = set
        self.db = db
        insitu_csv_set_stop(
            set,
            { context in
                let state = Unmanaged<RunState>.fromOpaque(context!).takeUnretainedValue()
                guard let stop = state.control.stopReason() else { return 0 }
                state.stop = stop
                return 1
            }, Unmanaged.passUnretained(state).toOpaque())
        // Grouping in memory may take half the memory limit: the rest is SQLite's page cache
        // (a quarter, see `Run.execute`) and the query's own state.
        let limit = sqlite3_hard_heap_limit64(-1)
        insitu_csv_set_grouping(set, 1, groupingBudget ?? (limit > 0 ? limit / 2 : 1 << 30))
    }

    /// Makes `mapping` (whose header, `columns` wide, ends at `dataStart` on line `dataLine`) the
    /// table `name`. The mapping is released with the connection from now on.
    func add(name: String, columns: [String], mapping: MappedFile, dataStart: Int, dataLine: Int) throws {
        let declaration = "CREATE TABLE x(\(columns.map(SQLiteConnection.quoted).joined(separator: ", ")))"
        let (base, length) = mapping.transferMapping()
        let index = insitu_csv_set_add(
            set, mapping.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), mapping.bytes.count, base, length, dataStart,
            Int64(dataLine), Int32(columns.count), declaration)
        guard index >= 0 else {
            if let base { munmap(base, length) }
            throw SQLiteFailure(code: SQLITE_NOMEM, message: "out of memory for the CSV tables")
        }
        try db.execute("CREATE VIRTUAL TABLE main.\(SQLiteConnection.quoted(name)) USING insitu_csv(\(index))")
    }

    /// Whether a query's scan of the table will validate it before returning its first row.
    func planned(_ index: Int) -> Bool { insitu_csv_planned(set, Int32(index)) != 0 }

    /// Reads table `index` through unless a scan already did; its record count.
    func validate(_ index: Int) throws(CSVTableFailure) -> Int {
        var rows: Int64 = 0
        let rc = insitu_csv_validate(set, Int32(index), &rows)
        guard rc == INSITU_CSV_OK else { throw failure(code: rc) }
        return Int(rows)
    }

    func disableGrouping() {
        insitu_csv_set_grouping(set, 0, 0)
        insitu_csv_clear_error(set)
    }

    /// What went wrong in a table, when a statement failed because of one.
    var lastFailure: CSVTableFailure? {
        let error = insitu_csv_last_error(set)
        return error.kind == INSITU_CSV_OK ? nil : failure(code: error.kind)
    }

    private func failure(code: Int32) -> CSVTableFailure {
        let error = insitu_csv_last_error(set)
        let table = Int(error.table)
        let line = Int(clamping: error.line)
        switch code {
        case INSITU_CSV_UNCLOSED_QUOTE: return .malformed(table: table, .unclosedQuote(line: line))
        case INSITU_CSV_AFTER_QUOTE: return .malformed(table: table, .textAfterClosingQuote(line: line, byte: error.byte))
        case INSITU_CSV_RAGGED: return .ragged(table: table, line: line, fields: Int(clamping: error.fields))
        case INSITU_CSV_GROUPING_TOO_LARGE: return .groupingTooLarge
        case INSITU_CSV_CHANGED: return .changed(table: table)
        case INSITU_CSV_STOPPED: return .stopped
        default: return .outOfMemory
        }
    }
}

enum CSVTableFailure: Error {
    case malformed(table: Int, CSVError)
    case ragged(table: Int, line: Int, fields: Int)
    case changed(table: Int)
    case groupingTooLarge
    case stopped
    case outOfMemory
}
