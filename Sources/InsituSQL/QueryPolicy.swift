import GRDBSQLite

/// What a job's query may do, decided per authorizer callback while SQLite compiles it: read
/// tables, call functions, recurse, and ask a few read-only PRAGMAs about table shapes. Anything
/// else (writing, creating, ATTACH, transactions, other PRAGMAs, load_extension) is refused
/// before the statement runs, with the reason returned here.
enum QueryPolicy {
    /// PRAGMAs that only describe tables; none of them changes state or reveals node paths
    /// (`database_list` would show the files' paths, so it is not here).
    static let readOnlyPragmas: Set<String> = [
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    ]
    static let schemaTables: Set<String> = ["sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"]
    /// Functions a query may not call even though SQLite would compile them.
    static let refusedFunctions: Set<String> = ["load_extension", "fts3_tokenizer"]

    static func refusal(action: Int32, _ first: String?, _ second: String?) -> String? {
        switch action {
        case SQLITE_SELECT, SQLITE_READ, SQLITE_RECURSIVE:
            return nil
        case SQLITE_FUNCTION:
            let name = TableNaming.asciiLowercased(second ?? "")
            guard refusedFunctions.contains(name) else { return nil }
            return name == "load_extension"
                ? "the query calls load_extension(): the sql engine never loads SQLite extensions"
                : "the query calls \(name)(), which the sql engine does not allow"
        case SQLITE_PRAGMA:
            let name = TableNaming.asciiLowercased(first ?? "")
            if readOnlyPragmas.contains(name) { return nil }
            return "the query runs PRAGMA \(name): only the read-only PRAGMAs \(readOnlyPragmas.sorted().joined(separator: ", ")) are allowed"
        case SQLITE_ATTACH, SQLITE_DETACH:
            return "the query tries to ATTACH or DETACH a database: the sql engine reads only the job's inputs"
        case SQLITE_INSERT, SQLITE_UPDATE, SQLITE_DELETE:
            // CREATE, DROP and ALTER reach the authorizer first as a write to the schema table,
            // and the first refusal ends the compilation.
            if schemaTables.contains(TableNaming.asciiLowercased(first ?? "")) {
                return "the query tries to change the schema (CREATE, DROP or ALTER): the sql engine is read-only; send one SELECT"
            }
            return "the query tries to write to \(first.map { "table \($0)" } ?? "a table"): the sql engine is read-only; send one SELECT"
        case SQLITE_TRANSACTION, SQLITE_SAVEPOINT:
            return "the query opens or ends a transaction: send one SELECT, without BEGIN, COMMIT or SAVEPOINT"
        default:
            return "the query tries to change the database (\(describe(action))): the sql engine is read-only; send one SELECT"
        }
    }

    private static func describe(_ action: Int32) -> String {
        switch action {
        case SQLITE_CREATE_INDEX, SQLITE_CREATE_TEMP_INDEX: "CREATE INDEX"
        case SQLITE_CREATE_TABLE, SQLITE_CREATE_TEMP_TABLE: "CREATE TABLE"
        case SQLITE_CREATE_TRIGGER, SQLITE_CREATE_TEMP_TRIGGER: "CREATE TRIGGER"
        case SQLITE_CREATE_VIEW, SQLITE_CREATE_TEMP_VIEW: "CREATE VIEW"
        case SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE"
        case SQLITE_DROP_INDEX, SQLITE_DROP_TEMP_INDEX, SQLITE_DROP_TABLE, SQLITE_DROP_TEMP_TABLE, SQLITE_DROP_TRIGGER,
            SQLITE_DROP_TEMP_TRIGGER, SQLITE_DROP_VIEW, SQLITE_DROP_TEMP_VIEW, SQLITE_DROP_VTABLE:
            "DROP"
        case SQLITE_ALTER_TABLE: "ALTER TABLE"
        case SQLITE_REINDEX: "REINDEX"
        case SQLITE_ANALYZE: "ANALYZE"
        default: "action \(action)"
        }
    }
}
