/// Ages and durations in tables, as kubectl prints them (`HumanDuration` of k8s.io/apimachinery):
/// two significant units while they matter (`90s`, `3m20s`, `5h10m`, `3d4h`), one after
/// (`45m`, `20h`, `12d`), years beyond two years.
enum HumanDuration {
    static func text(milliseconds: Int64) -> String {
        // A time slightly in the future is clock skew between client and server, not an error.
        let seconds = max(0, milliseconds / 1000)
        if seconds < 60 * 2 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 60 * 3 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        let days = hours / 24
        if hours < 24 * 365 * 8 { return days % 365 == 0 ? "\(days / 365)y" : "\(days / 365)y\(days % 365)d" }
        return "\(days / 365)y"
    }
}
