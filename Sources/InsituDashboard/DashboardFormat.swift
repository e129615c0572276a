public import InsituModel

/// How the dashboard writes times, ages, sizes and CPU for people. Pure: `now` is an input, and
/// times come from `Timestamp` values (milliseconds since the epoch), never from encoded JSON.
public enum DashboardFormat {
    /// `2026-12-01 01:16:07 UTC`: UTC so that every viewer of a page sees the same time.
    public static func time(_ timestamp: Timestamp) -> String {
        let millis = timestamp.milliseconds
        let (days, rest) = floorDivision(millis, 86_400_000)
        let seconds = rest / 1000
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2)) UTC"
    }

    /// `RFC 3339` form for `<time datetime>`, which browsers and scripts read.
    public static func machineTime(_ timestamp: Timestamp) -> String {
        let millis = timestamp.milliseconds
        let (days, rest) = floorDivision(millis, 86_400_000)
        let seconds = rest / 1000
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))Z"
    }

    /// How long ago `timestamp` was: `12s`, `4m`, `3h`, `2d`; `0ms` for a time after `now` (clocks
    /// of different machines).
    public static func age(of timestamp: Timestamp, now: Timestamp) -> String {
        let elapsed = now.milliseconds.subtractingReportingOverflow(timestamp.milliseconds)
        return duration(milliseconds: elapsed.overflow ? 0 : max(0, elapsed.partialValue))
    }

    /// A compact duration: `850ms`, `12s`, `4m10s`, `3h5m`, `2d4h`.
    public static func duration(milliseconds: Int64) -> String {
        let millis = max(0, milliseconds)
        if millis < 1000 { return "\(millis)ms" }
        let seconds = millis / 1000
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return seconds % 60 == 0 ? "\(seconds / 60)m" : "\(seconds / 60)m\(seconds % 60)s" }
        if seconds < 86_400 { return seconds / 60 % 60 == 0 ? "\(seconds / 3600)h" : "\(seconds / 3600)h\(seconds / 60 % 60)m" }
        return seconds / 3600 % 24 == 0 ? "\(seconds / 86_400)d" : "\(seconds / 86_400)d\(seconds / 3600 % 24)h"
    }

    /// `512 B`, `64 MiB`, `1.5 GiB`.
    public static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(max(0, count))
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(max(0, count)) B" }
        let tenths = Int((value * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10) \(units[unit])" : "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }

    /// CPU in cores: `500m` below one core, `2` or `1.5` above, `0` for none.
    public static func cpu(millis: Int) -> String {
        let value = max(0, millis)
        if value == 0 { return "0" }
        if value < 1000 { return "\(value)m" }
        return value % 1000 == 0 ? "\(value / 1000)" : "\(value / 1000).\(String(pad(value % 1000, 3)).trimmingTrailingZeros)"
    }

    /// The share of `total` that `used` is, 0 to 100, for a usage bar; 0 when there is no capacity.
    public static func percent(_ used: Int64, of total: Int64) -> Int {
        guard total > 0 else { return 0 }
        let ratio = Double(max(0, used)) / Double(total)
        return Int(min(100, (ratio * 100).rounded()))
    }

    private static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    /// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a day count.
    private static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension String {
    fileprivate var trimmingTrailingZeros: String {
        var text = self
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}
