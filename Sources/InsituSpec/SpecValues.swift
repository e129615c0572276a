public import InsituModel

/// Parsers for the value notations a job spec uses: durations, byte sizes, CPU quantities and
/// label constraints. Each returns nil for anything it does not accept; none of them trims more
/// than surrounding spaces.
public enum SpecValues {
    /// Milliseconds in a duration made of one or more `<whole number><unit>` parts, unit one of
    /// `ms`, `s`, `m`, `h`: `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"`. A bare number has no unit
    /// and is rejected; so are negative values, fractions and overflow.
    public static func parseDuration(_ text: String) -> Int64? {
        let bytes = Array(trimmingSpaces(text).utf8)
        guard !bytes.isEmpty else { return nil }
        var index = 0
        var total: Int64 = 0
        while index < bytes.count {
            guard let (amount, next) = wholeNumber(bytes, from: index) else { return nil }
            index = next
            let unit: Int64
            if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "m"), bytes[index + 1] == UInt8(ascii: "s") {
                unit = 1
                index += 2
            } else if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "s"): unit = 1000
                case UInt8(ascii: "m"): unit = 60_000
                case UInt8(ascii: "h"): unit = 3_600_000
                default: return nil
                }
                index += 1
            } else {
                return nil
            }
            let (part, overflow) = amount.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            let (sum, overflow2) = total.addingReportingOverflow(part)
            guard !overflow2 else { return nil }
            total = sum
        }
        return total
    }

    /// Bytes in a size written as a whole number with an optional unit: `Ki`, `Mi`, `Gi`, `Ti`
    /// (powers of 1024) or `k`/`K`, `M`, `G`, `T` (powers of 1000): `"64Mi"`, `"1Gi"`, `"512Ki"`,
    /// `"100M"`, `"1G"`, `"1024"`. Fractions, negative values and overflow are rejected.
    public static func parseBytes(_ text: String) -> Int64? {
        let bytes = Array(trimmingSpaces(text).utf8)
        guard let (amount, next) = wholeNumber(bytes, from: 0) else { return nil }
        let suffix = String(decoding: bytes[next...], as: UTF8.self)
        let multiplier: Int64
        switch suffix {
        case "": multiplier = 1
        case "k", "K": multiplier = 1_000
        case "M": multiplier = 1_000_000
        case "G": multiplier = 1_000_000_000
        case "T": multiplier = 1_000_000_000_000
        case "Ki": multiplier = 1 << 10
        case "Mi": multiplier = 1 << 20
        case "Gi": multiplier = 1 << 30
        case "Ti": multiplier = 1 << 40
        default: return nil
        }
        let (result, overflow) = amount.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : result
    }

    /// Millicores in a CPU quantity: `"500m"` (millicores), or cores as a whole or decimal number,
    /// `"0.5"`, `"2"`, `"1.25"`. Anything finer than a millicore (`"0.0005"`) is rejected, as are
    /// negative values and overflow.
    public static func parseCPU(_ text: String) -> Int? {
        let bytes = Array(trimmingSpaces(text).utf8)
        guard let (whole, next) = wholeNumber(bytes, from: 0) else { return nil }
        if next == bytes.count {
            let (millis, overflow) = whole.multipliedReportingOverflow(by: 1000)
            return overflow ? nil : Int(exactly: millis)
        }
        if bytes[next] == UInt8(ascii: "m") {
            return next + 1 == bytes.count ? Int(exactly: whole) : nil
        }
        guard bytes[next] == UInt8(ascii: "."), next + 1 < bytes.count else { return nil }
        var fraction = Array(bytes[(next + 1)...])
        guard fraction.allSatisfy(isDigit) else { return nil }
        while fraction.count > 3, fraction.last == UInt8(ascii: "0") { fraction.removeLast() }
        guard fraction.count <= 3 else { return nil }
        while fraction.count < 3 { fraction.append(UInt8(ascii: "0")) }
        let thousandths = fraction.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        let (millis, overflow) = whole.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return nil }
        let (total, overflow2) = millis.addingReportingOverflow(thousandths)
        return overflow2 ? nil : Int(exactly: total)
    }

    /// A label constraint in its string form:
    ///
    /// | form | operator |
    /// |---|---|
    /// | `key = value` (or `key == value`) | `=` |
    /// | `key != value` | `!=` |
    /// | `key in (a, b)` | `in` |
    /// | `key notin (a, b)` | `notin` |
    /// | `key` | `exists` |
    /// | `!key` | `!exists` |
    ///
    /// Spaces around operators are optional except between a key and `in`/`notin`. Keys match
    /// `[A-Za-z0-9][-A-Za-z0-9_./]*`; values are non-empty and contain no spaces, commas,
    /// parentheses, `=` or `!`.
    public static func parseConstraint(_ text: String) -> LabelConstraint? {
        try? constraint(text).get()
    }

    // MARK: - Internals shared with the parser

    /// Like `parseConstraint`, but says what is wrong.
    static func constraint(_ text: String) -> Result<LabelConstraint, ConstraintSyntaxError> {
        let trimmed = trimmingSpaces(text)
        guard !trimmed.isEmpty else { return .failure(.init("the constraint is empty")) }

        if trimmed.hasPrefix("!") && !trimmed.hasPrefix("!=") && !trimmed.contains("=") {
            let key = trimmingSpaces(String(trimmed.dropFirst()))
            guard isLabelKey(key) else { return .failure(.init("\"\(key)\" is not a valid label key")) }
            return .success(LabelConstraint(key: key, operator: .doesNotExist))
        }

        // Equality forms: split at the first `!=`, `==` or `=`.
        if let range = trimmed.firstRange(of: "!=") ?? trimmed.firstRange(of: "==") ?? trimmed.firstRange(of: "=") {
            let op: ConstraintOperator = trimmed[range].hasPrefix("!") ? .notEquals : .equals
            let key = trimmingSpaces(String(trimmed[..<range.lowerBound]))
            let value = trimmingSpaces(String(trimmed[range.upperBound...]))
            guard isLabelKey(key) else {
                return .failure(.init(key.isEmpty ? "the label key is missing" : "\"\(key)\" is not a valid label key"))
            }
            guard !value.isEmpty else { return .failure(.init("the value after \(op.rawValue) is missing")) }
            guard isLabelValueToken(value) else { return .failure(.init("\"\(value)\" is not a valid label value")) }
            return .success(LabelConstraint(key: key, operator: op, values: [value]))
        }

        // Set forms: `key in (a, b)`, `key notin (a, b)`.
        if let open = trimmed.firstIndex(of: "(") {
            let head = trimmingSpaces(String(trimmed[..<open]))
            let words = head.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 2 else {
                return .failure(.init("expected `key in (values)` or `key notin (values)` before \"(\""))
            }
            let key = String(words[0])
            let op: ConstraintOperator
            switch words[1] {
            case "in": op = .in
            case "notin": op = .notIn
            default: return .failure(.init("unknown set operator \"\(words[1])\"; use in or notin"))
            }
            guard isLabelKey(key) else { return .failure(.init("\"\(key)\" is not a valid label key")) }
            guard trimmed.hasSuffix(")") else { return .failure(.init("the value list must end with \")\"")) }
            let inner = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]
            let values = inner.split(separator: ",", omittingEmptySubsequences: false).map {
                trimmingSpaces(String($0))
            }
            guard !(values.count == 1 && values[0].isEmpty) else {
                return .failure(.init("the value list is empty"))
            }
            for value in values where !isLabelValueToken(value) {
                return .failure(.init(value.isEmpty ? "the value list has an empty item" : "\"\(value)\" is not a valid label value"))
            }
            return .success(LabelConstraint(key: key, operator: op, values: values))
        }

        guard isLabelKey(trimmed) else {
            return .failure(.init("\"\(trimmed)\" is neither a label key nor a comparison"))
        }
        return .success(LabelConstraint(key: trimmed, operator: .exists))
    }

    struct ConstraintSyntaxError: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// `[A-Za-z0-9][-A-Za-z0-9_./]*`
    static func isLabelKey(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, isAlphanumeric(first) else { return false }
        return bytes.dropFirst().allSatisfy { isAlphanumeric($0) || "-_./".utf8.contains($0) }
    }

    /// A value in the string form: non-empty, no spaces, commas, parentheses, `=` or `!`.
    static func isLabelValueToken(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { !" \t,()=!".unicodeScalars.contains($0) }
    }

    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters (length is checked separately).
    static func isJobName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        let lowerOrDigit: (UInt8) -> Bool = { isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }
        return lowerOrDigit(first) && lowerOrDigit(last)
            && bytes.allSatisfy { lowerOrDigit($0) || $0 == UInt8(ascii: "-") }
    }

    /// `ed25519:` and the base64 of 64 bytes (88 characters, two of them `=` padding). The node
    /// verifies the signature itself; this only keeps garbage out of the job's spec.
    static func isSignature(_ text: String) -> Bool {
        guard text.hasPrefix("ed25519:") else { return false }
        let encoded = Array(text.utf8.dropFirst(8))
        guard encoded.count == 88, encoded.suffix(2) == [UInt8(ascii: "="), UInt8(ascii: "=")] else { return false }
        return encoded.dropLast(2).allSatisfy { byte in
            isAlphanumeric(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
        }
    }

    /// `[a-zA-Z0-9][-a-zA-Z0-9_.]*`
    static func isDatasetName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, isAlphanumeric(first) else { return false }
        return bytes.dropFirst().allSatisfy { isAlphanumeric($0) || "-_.".utf8.contains($0) }
    }

    /// `[a-z0-9][-a-z0-9_]*`
    static func isOutputName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let lowerOrDigit: (UInt8) -> Bool = { isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }
        guard let first = bytes.first, lowerOrDigit(first) else { return false }
        return bytes.dropFirst().allSatisfy { lowerOrDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`
    static func isEnvName(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, isLetter(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") }
    }

    /// A decimal integer as YAML writes it: optional sign, digits, `_` separators allowed.
    static func integer(_ text: String) -> Int64? {
        var digits = Substring(text.filter { $0 != "_" })
        var negative = false
        if let sign = digits.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy(isDigit), let magnitude = UInt64(digits) else { return nil }
        if negative { return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil }
        return Int64(exactly: magnitude)
    }

    static func trimmingSpaces(_ text: String) -> String {
        let scalars = text.unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = scalars.firstIndex(where: { !isSpace($0) }),
            let end = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(scalars[start...end])
    }

    /// Reads one or more ASCII digits starting at `index`; nil if there are none or they overflow.
    private static func wholeNumber(_ bytes: [UInt8], from index: Int) -> (Int64, Int)? {
        var value: Int64 = 0
        var position = index
        while position < bytes.count, isDigit(bytes[position]) {
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int64(bytes[position] - UInt8(ascii: "0")))
            guard !overflow, !overflow2 else { return nil }
            value = sum
            position += 1
        }
        return position > index ? (value, position) : nil
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
    private static func isAlphanumeric(_ byte: UInt8) -> Bool { isDigit(byte) || isLetter(byte) }
}
