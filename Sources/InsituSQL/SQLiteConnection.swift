#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CInsituSQLite
import GRDBSQLite

/// SQLite's "the bytes stay valid until the statement is reset" destructor (SQLITE_STATIC).
let sqliteStatic: sqlite3_destructor_type? = nil
/// SQLite's "copy the bytes now" destructor (SQLITE_TRANSIENT).
let sqliteTransient = unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self)

/// A failure inside SQLite, with its primary result code so callers can tell a memory limit or
/// an interruption from an error in the query.
struct SQLiteFailure: Error {
    var code: Int32
    var message: String

    var isOutOfMemory: Bool { code & 0xFF == SQLITE_NOMEM }
    var isInterrupt: Bool { code & 0xFF == SQLITE_INTERRUPT }
}

/// One connection, closed on deinit. Single-threaded: a run owns its connection.
final class SQLiteConnection {
    let handle: OpaquePointer

    /// Opens `path` (":memory:" for memory) read-write, creating it, with URI file names on
    /// (for read-only, immutable ATTACH of the inputs).
    init(path: String) throws(SQLiteFailure) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteFailure(code: rc, message: "cannot open the working database: \(message)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        // Extensions are never loaded, whatever the query says; attached files cannot bring
        // their own functions or virtual tables into the query; and no statement may corrupt a
        // database file through writable_schema and the like.
        sqlite3_enable_load_extension(db, 0)
        _ = insitu_sqlite_db_config_int(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0)
        _ = insitu_sqlite_db_config_int(db, SQLITE_DBCONFIG_DEFENSIVE, 1)
        _ = insitu_sqlite_db_config_int(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)
    }

    deinit { sqlite3_close_v2(handle) }

    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    func failure(_ rc: Int32, _ context: String) -> SQLiteFailure {
        SQLiteFailure(code: rc, message: "\(context): \(errorMessage)")
    }

    func execute(_ sql: String) throws(SQLiteFailure) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw failure(rc, sql) }
    }

    func prepare(_ sql: String) throws(SQLiteFailure) -> Statement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw failure(rc, "cannot prepare \(sql)") }
        return Statement(statement)
    }

    /// SQL text for an identifier: always quoted, quotes doubled.
    static func quoted(_ identifier: String) -> String {
        "\"" + doubling("\"", in: identifier) + "\""
    }

    /// SQL text for a string literal.
    static func literal(_ text: String) -> String {
        "'" + doubling("'", in: text) + "'"
    }

    private static func doubling(_ quote: Character, in text: String) -> String {
        var out = ""
        for character in text {
            if character == quote { out.append(quote) }
            out.append(character)
        }
        return out
    }
}

/// A prepared statement, finalized on deinit.
final class Statement {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { sqlite3_finalize(handle) }
}
