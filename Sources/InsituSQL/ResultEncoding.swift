/// One value of a result row, as SQLite returned it.
enum ResultValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text([UInt8])
    case blob([UInt8])
}

/// How result values are written: `result.csv` (RFC 4180, a header of column names, CRLF-free)
/// and `result.jsonl` (one JSON object per row, keyed by column name).
///
/// CSV: NULL is an empty field and an empty string is `""`, mirroring how inputs are read; a
/// field is quoted when it holds a comma, a double quote, a line break or is empty text.
/// JSON: NULL is `null`, integers and finite reals are numbers, text is a string (invalid UTF-8
/// replaced by U+FFFD), a non-finite real is `null`. Blobs are lowercase hex in both.
enum ResultEncoding {
    static func appendCSV(_ value: ResultValue, to out: inout [UInt8]) {
        switch value {
        case .null: break
        case .integer(let number): out.append(contentsOf: String(number).utf8)
        case .real(let number): out.append(contentsOf: realText(number).utf8)
        case .text(let bytes): appendCSVText(bytes, to: &out)
        case .blob(let bytes): appendHex(bytes, to: &out)
        }
    }

    static func appendCSVText(_ bytes: [UInt8], to out: inout [UInt8]) {
        let needsQuotes =
            bytes.isEmpty
            || bytes.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }
        guard needsQuotes else {
            out.append(contentsOf: bytes)
            return
        }
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }

    static func appendJSON(_ value: ResultValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .integer(let number): out.append(contentsOf: String(number).utf8)
        case .real(let number): out.append(contentsOf: (number.isFinite ? realText(number) : "null").utf8)
        case .text(let bytes): appendJSONString(String(decoding: bytes, as: UTF8.self), to: &out)
        case .blob(let bytes):
            out.append(UInt8(ascii: "\""))
            appendHex(bytes, to: &out)
            out.append(UInt8(ascii: "\""))
        }
    }

    static func appendJSONString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
            case 0..<0x20, 0x7F:
                let hex = String(byte, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Shortest text that reads back as the same Double; always with a `.` or an exponent, so a
    /// real never reads back as an integer.
    static func realText(_ number: Double) -> String {
        let text = number.description
        if text.contains(".") || text.contains("e") || text.contains("n") || text.contains("i") { return text }
        return text + ".0"
    }

    static func appendHex(_ bytes: [UInt8], to out: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
    }
}

/// The result's column names and the types its values actually had: written as `schema.json`
/// beside the result, so what leaves the node can be checked by its shape.
public struct ResultSchema: Codable, Hashable, Sendable {
    public struct Column: Codable, Hashable, Sendable {
        public var name: String
        /// The storage class of every non-NULL value: `integer`, `real` (reals, or integers and
        /// reals mixed), `text`, `blob`, `mixed` (any other mix), or `null` when all were NULL
        /// (or there were no rows).
        public var type: String
        /// The declared type of the table column it comes from, when it is one (nil for
        /// expressions and for CSV tables, whose columns have no declared type).
        public var declaredType: String?
        public var nullable: Bool

        public init(name: String, type: String, declaredType: String?, nullable: Bool) {
            self.name = name
            self.type = type
            self.declaredType = declaredType
            self.nullable = nullable
        }
    }
    public var columns: [Column]
    public var rows: Int

    public init(columns: [Column], rows: Int) {
        self.columns = columns
        self.rows = rows
    }
}

/// Merges the storage classes seen in one column.
struct ColumnTypeTracker: Hashable, Sendable {
    private(set) var type = "null"
    private(set) var sawNull = false

    mutating func observe(_ value: ResultValue) {
        let kind: String
        switch value {
        case .null:
            sawNull = true
            return
        case .integer: kind = "integer"
        case .real: kind = "real"
        case .text: kind = "text"
        case .blob: kind = "blob"
        }
        switch (type, kind) {
        case ("null", _): type = kind
        case (let current, let new) where current == new: break
        case ("integer", "real"), ("real", "integer"): type = "real"
        default: type = "mixed"
        }
    }
}
