/// One field of a CSV record: a byte range of the input, or, for a quoted field that contained
/// doubled quotes, of the scanner's scratch buffer (where the quotes are undoubled).
struct CSVField: Hashable, Sendable {
    var start: Int
    var count: Int
    var inScratch: Bool
    /// Written between double quotes: always text, and `""` is an empty string rather than NULL.
    var quoted: Bool
}

/// Why a CSV file cannot be read, with the line where the bad record starts (1-based).
struct CSVError: Error, Hashable, Sendable {
    var line: Int
    var problem: String

    /// The same words whichever reader (this scanner or the `insitu_csv` virtual table) met it.
    static func unclosedQuote(line: Int) -> CSVError {
        CSVError(line: line, problem: "a field opened with a double quote on this line is never closed")
    }

    static func textAfterClosingQuote(line: Int, byte: UInt8) -> CSVError {
        CSVError(
            line: line,
            problem: "a closing double quote is followed by \(describe(byte)) instead of a comma or a line break "
                + "(inside a quoted field, write a double quote as \"\")")
    }

    static func ragged(line: Int, fields: Int, columns: Int) -> CSVError {
        CSVError(line: line, problem: "the record has \(fields) fields, the header \(columns)")
    }

    private static func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "the byte 0x\(String(byte, radix: 16))"
    }
}

/// Splits RFC 4180 CSV bytes into records, without copying unquoted fields.
///
/// Accepted: `,` between fields; records ending in LF or CRLF (a lone CR is data); fields in
/// double quotes may hold commas, line breaks and doubled quotes (`""` for one `"`); a UTF-8
/// byte-order mark at the start is skipped; empty lines are skipped; the last record may lack
/// its line break. Refused, with the line: a quoted field that is never closed, and anything but
/// a delimiter right after a closing quote. A quote inside an unquoted field is kept as data, as
/// most writers and readers do.
struct CSVScanner {
    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")

    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int = 0
    /// Line of the next byte to read (1-based); a record's fields may span lines.
    private(set) var line: Int = 1
    /// Line where the record last returned by `next` starts.
    private(set) var recordLine: Int = 1
    /// Undoubled copies of quoted fields that held `""`; valid until the next call to `next`.
    private(set) var scratch: [UInt8] = []

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
    }

    /// Reads the next record into `fields` (emptied first). Returns false at the end of the input.
    mutating func next(_ fields: inout [CSVField]) throws(CSVError) -> Bool {
        fields.removeAll(keepingCapacity: true)
        scratch.removeAll(keepingCapacity: true)
        let end = bytes.count
        while position < end {
            let byte = bytes[position]
            if byte == Self.lf {
                position += 1
                line += 1
            } else if byte == Self.cr, position + 1 < end, bytes[position + 1] == Self.lf {
                position += 2
                line += 1
            } else {
                break
            }
        }
        guard position < end else { return false }
        recordLine = line
        while true {
            if position < end, bytes[position] == Self.quote {
                fields.append(try quotedField())
            } else {
                let start = position
                while position < end {
                    let byte = bytes[position]
                    if byte == Self.comma || byte == Self.lf { break }
                    if byte == Self.cr, position + 1 < end, bytes[position + 1] == Self.lf { break }
                    position += 1
                }
                fields.append(CSVField(start: start, count: position - start, inScratch: false, quoted: false))
            }
            guard position < end else { return true }
            let byte = bytes[position]
            if byte == Self.comma {
                position += 1
            } else if byte == Self.lf {
                position += 1
                line += 1
                return true
            } else if byte == Self.cr, position + 1 < end, bytes[position + 1] == Self.lf {
                position += 2
                line += 1
                return true
            } else {
                throw CSVError.textAfterClosingQuote(line: line, byte: byte)
            }
        }
    }

    private mutating func quotedField() throws(CSVError) -> CSVField {
        let opening = line
        let end = bytes.count
        position += 1
        var segment = position
        var scratchStart: Int?
        while position < end {
            let byte = bytes[position]
            if byte == Self.quote {
                if position + 1 < end, bytes[position + 1] == Self.quote {
                    if scratchStart == nil { scratchStart = scratch.count }
                    scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[segment..<(position + 1)]))
                    position += 2
                    segment = position
                    continue
                }
                let field: CSVField
                if let scratchStart {
                    scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[segment..<position]))
                    field = CSVField(start: scratchStart, count: scratch.count - scratchStart, inScratch: true, quoted: true)
                } else {
                    field = CSVField(start: segment, count: position - segment, inScratch: false, quoted: true)
                }
                position += 1
                return field
            }
            if byte == Self.lf { line += 1 }
            position += 1
        }
        throw CSVError.unclosedQuote(line: opening)
    }

    /// The bytes of `field`; valid until the next call to `next`.
    func fieldBytes(_ field: CSVField, scratch scratchBytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let base = field.inScratch ? scratchBytes : bytes
        return UnsafeRawBufferPointer(rebasing: base[field.start..<(field.start + field.count)])
    }

    /// The text of `field` (invalid UTF-8 repaired), for header names and tests.
    func text(of field: CSVField) -> String {
        scratch.withUnsafeBytes { String(decoding: fieldBytes(field, scratch: $0), as: UTF8.self) }
    }
}
