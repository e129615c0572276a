/// Bounds how many entries of one kind an unauthenticated peer can make the audit log write:
/// at most `perWindow` in each window of `windowMillis`; the rest are counted, and the next entry
/// admitted carries the count of those suppressed before it. A flood of refused TLS handshakes then
/// costs a few entries a second, not a disk.
public struct AuditRateLimit: Sendable {
    public let perWindow: Int
    public let windowMillis: Int64
    private var windowStart: Int64 = .min
    private var admitted = 0
    private var suppressed = 0

    public init(perWindow: Int, windowMillis: Int64) {
        self.perWindow = max(1, perWindow)
        self.windowMillis = max(1, windowMillis)
    }

    /// nil when this entry is suppressed; otherwise how many were suppressed since the last one
    /// admitted. `now` is in milliseconds.
    public mutating func admit(now: Int64) -> Int? {
        if windowStart == .min || now >= windowStart &+ windowMillis || now < windowStart {
            windowStart = now
            admitted = 0
        }
        guard admitted < perWindow else {
            suppressed += 1
            return nil
        }
        admitted += 1
        defer { suppressed = 0 }
        return suppressed
    }
}
