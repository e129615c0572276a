/// Which files of a mounted input become tables, and under which names.
///
/// The rule (docs/ENGINES.md, `## sql`): every regular file directly inside an input's directory
/// (not in subdirectories; symbolic links are not followed) whose name ends in
/// - `.csv` becomes one table named after the file without the extension (`patients.csv` →
///   `patients`);
/// - `.sqlite`, `.sqlite3` or `.db` contributes each of its tables and views under its own name.
/// Other files are ignored. SQLite compares names without regard to ASCII case, so two tables
/// whose names differ only in case clash; a clash is refused, naming both origins, and so is a
/// name starting with `sqlite_` (reserved by SQLite).
public enum TableNaming {
    public enum SourceKind: Hashable, Sendable {
        case csv
        case sqlite
    }

    /// A table and where it comes from (a path the job sees, never the node's).
    public struct Table: Hashable, Sendable {
        public var name: String
        public var origin: String

        public init(name: String, origin: String) {
            self.name = name
            self.origin = origin
        }
    }

    public static func kind(ofFile name: String) -> SourceKind? {
        let lowered = name.lowercased()
        if lowered.hasSuffix(".csv"), lowered.count > 4 { return .csv }
        for suffix in [".sqlite", ".sqlite3", ".db"] where lowered.hasSuffix(suffix) && lowered.count > suffix.count {
            return .sqlite
        }
        return nil
    }

    /// `patients.csv` → `patients`.
    public static func csvTableName(_ fileName: String) -> String {
        String(fileName.dropLast(4))
    }

    /// Throws, naming the first problem, unless every name is usable and distinct.
    public static func check(_ tables: [Table]) throws(SQLRunError) {
        var seen: [String: Table] = [:]
        for table in tables {
            let key = asciiLowercased(table.name)
            if table.name.isEmpty || table.name.utf8.contains(0) {
                throw SQLRunError("\(table.origin) gives no usable table name: rename the file")
            }
            if key.hasPrefix("sqlite_") {
                throw SQLRunError(
                    "table \"\(table.name)\" from \(table.origin) starts with sqlite_, which SQLite reserves: rename the file or table")
            }
            if let other = seen[key] {
                throw SQLRunError(
                    "table name \"\(table.name)\" clashes: it comes from both \(other.origin) and \(table.origin) "
                        + "(names are compared without case); mount only one of them, or rename a file")
            }
            seen[key] = table
        }
    }

    static func asciiLowercased(_ text: String) -> String {
        String(decoding: text.utf8.map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}

/// A failure of one SQL execution, said for the job's author (never naming a node path).
public struct SQLRunError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
