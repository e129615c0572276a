#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How one CSV field is stored in SQLite: the value's type is read from how it is written, per
/// field, so a column keeps whatever mix its file has (SQLite columns without a declared type).
///
/// - an empty unquoted field is NULL (`""` is an empty string);
/// - a quoted field is always text;
/// - `-?(0|[1-9][0-9]*)` within 64 bits is an integer (so `007` and 20-digit identifiers stay
///   text and keep their digits);
/// - the same followed by `.digits` and/or an exponent (`1.5`, `-0.25`, `6.02e23`) is a real;
/// - everything else is text, byte for byte.
enum CSVValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text

    static func classify(_ bytes: UnsafeRawBufferPointer, quoted: Bool) -> CSVValue {
        if quoted { return .text }
        let count = bytes.count
        if count == 0 { return .null }
        let zero = UInt8(ascii: "0"), nine = UInt8(ascii: "9")
        var index = 0
        let negative = bytes[0] == UInt8(ascii: "-")
        if negative { index = 1 }
        let digitsStart = index
        while index < count, bytes[index] >= zero, bytes[index] <= nine { index += 1 }
        let digits = index - digitsStart
        guard digits > 0 else { return .text }
        if digits > 1, bytes[digitsStart] == zero { return .text }
        if index == count {
            guard digits <= 19 else { return .text }
            var value: Int64 = 0
            for position in digitsStart..<count {
                let digit = Int64(bytes[position] - zero)
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                // Accumulate negatively so Int64.min fits.
                let (sum, overflow2) = times.subtractingReportingOverflow(digit)
                if overflow1 || overflow2 { return .text }
                value = sum
            }
            if negative { return .integer(value) }
            let (positive, overflow) = Int64(0).subtractingReportingOverflow(value)
            return overflow ? .text : .integer(positive)
        }
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fraction = index
            while index < count, bytes[index] >= zero, bytes[index] <= nine { index += 1 }
            guard index > fraction else { return .text }
        }
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let exponent = index
            while index < count, bytes[index] >= zero, bytes[index] <= nine { index += 1 }
            guard index > exponent else { return .text }
        }
        guard index == count, count < 64 else { return .text }
        let value: Double = withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buffer in
            for position in 0..<count { buffer[position] = CChar(bitPattern: bytes[position]) }
            buffer[count] = 0
            return strtod(buffer.baseAddress!, nil)
        }
        return value.isFinite ? .real(value) : .text
    }
}
