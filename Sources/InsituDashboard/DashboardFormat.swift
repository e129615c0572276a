public import InsituModel

/// How the dashboard writes times, ages, sizes and CPU for people. Pure: `now` is an input, and
/// times come from `Timestamp` values (milliseconds since the epoch), never from encoded JSON.
public enum DashboardFormat {
    /// `2026-12-01 01:16:07 UTC`: UTC so that every viewer of a page sees the same time.
    public static func time(_ timestamp: Timestamp) -> String {
        let text = machineTime(timestamp)
        return String(text.dropLast().map { $0 == "T" ? " " : $0 }) + " UTC"
    }

    /// `RFC 3339` form for `<time datetime>`, which browsers and scripts read, to the second.
    public static func machineTime(_ timestamp: Timestamp) -> String {
        let millis = timestamp.milliseconds
        let (wholeSeconds, overflow) = millis.subtractingReportingOverflow(((millis % 1000) + 1000) % 1000)
        return Timestamp(milliseconds: overflow ? millis : wholeSeconds).rfc3339
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
}

extension String {
    fileprivate var trimmingTrailingZeros: String {
        var text = self
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}
