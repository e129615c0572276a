/// RFC 3339 text for timestamps (`2026-12-01T09:30:00.250Z`), written and read without Foundation
/// so the model stays pure. Stored state and the node protocol keep milliseconds; the REST API and
/// the CLI's JSON/YAML show this form, which people and `jq`/`date -d` read alike.
extension Timestamp {
    /// Asks `Timestamp`'s `encode(to:)` for RFC 3339 text instead of epoch milliseconds. Set it
    /// in an encoder's `userInfo` to `true`.
    public static let rfc3339UserInfoKey = CodingUserInfoKey(rawValue: "insitu.timestamp.rfc3339")!

    /// UTC, with milliseconds only when there are some: `2026-12-01T09:30:00Z`, `...00.250Z`.
    /// Any value, `Int64.min` and `.max` included, gives text (with a year out of RFC 3339's
    /// range for the extremes) and never traps.
    public var rfc3339: String {
        // Floor division without `rawValue - 86_399_999`, which overflows near `Int64.min`.
        var days = rawValue / 86_400_000
        var millisOfDay = rawValue % 86_400_000
        if millisOfDay < 0 {
            days -= 1
            millisOfDay += 86_400_000
        }
        let (year, month, day) = Self.civil(fromDays: days)
        let seconds = millisOfDay / 1000
        let millis = millisOfDay % 1000
        var text = Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2)
        text += "T" + Self.pad(seconds / 3600, 2) + ":" + Self.pad(seconds / 60 % 60, 2) + ":" + Self.pad(seconds % 60, 2)
        if millis != 0 { text += "." + Self.pad(millis, 3) }
        return text + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (RFC 3339 section 5.6; `t`/`z` and a
    /// space for `T` are accepted as the RFC allows). Digits past milliseconds are dropped; years
    /// 0001 to 9999 only. Nil for anything else.
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int64? {
            guard index + width <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<index + width] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            index += width
            return value
        }
        func expect(_ allowed: Set<UInt8>) -> Bool {
            guard index < bytes.count, allowed.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), year >= 1, expect([45]), let month = number(2), (1...12).contains(month), expect([45]),
            let day = number(2), day >= 1, day <= Self.daysIn(month: month, year: year), expect([84, 116, 32]),
            let hour = number(2), hour < 24, expect([58]), let minute = number(2), minute < 60, expect([58]),
            let second = number(2), second < 60
        else { return nil }
        var millis: Int64 = 0
        if index < bytes.count, bytes[index] == 46 {
            index += 1
            var digits = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                if digits < 3 { millis = millis * 10 + Int64(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if expect([90, 122]) {
            offsetMinutes = 0
        } else if index < bytes.count, bytes[index] == 43 || bytes[index] == 45 {
            let sign: Int64 = bytes[index] == 45 ? -1 : 1
            index += 1
            guard let hours = number(2), hours < 24, expect([58]), let minutes = number(2), minutes < 60 else { return nil }
            offsetMinutes = sign * (hours * 60 + minutes)
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = Self.days(fromCivil: year, month, day)
        let local = ((days * 24 + hour) * 60 + minute) * 60 + second
        self.init(milliseconds: (local - offsetMinutes * 60) * 1000 + millis)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `days(fromCivil:)` (Hinnant's `civil_from_days`).
    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
