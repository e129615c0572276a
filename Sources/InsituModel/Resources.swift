/// CPU in millicores and memory in bytes, as a node advertises capacity and a job requests it.
public struct Resources: Hashable, Codable, Sendable, CustomStringConvertible {
    public var cpuMillis: Int
    public var memoryBytes: Int64

    public init(cpuMillis: Int, memoryBytes: Int64) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
    }

    public static let zero = Resources(cpuMillis: 0, memoryBytes: 0)

    // Saturating: capacities come from nodes and requests from users, so a sum must clamp
    // rather than trap on overflow. Validation keeps real values far from the limits.
    public static func + (lhs: Self, rhs: Self) -> Self {
        Resources(
            cpuMillis: lhs.cpuMillis.saturatingAdding(rhs.cpuMillis),
            memoryBytes: lhs.memoryBytes.saturatingAdding(rhs.memoryBytes))
    }
    public static func - (lhs: Self, rhs: Self) -> Self {
        Resources(
            cpuMillis: lhs.cpuMillis.saturatingSubtracting(rhs.cpuMillis),
            memoryBytes: lhs.memoryBytes.saturatingSubtracting(rhs.memoryBytes))
    }
    public static func += (lhs: inout Self, rhs: Self) { lhs = lhs + rhs }
    public static func -= (lhs: inout Self, rhs: Self) { lhs = lhs - rhs }

    /// True when `request` fits inside `self` in every dimension.
    public func fits(_ request: Resources) -> Bool {
        request.cpuMillis <= cpuMillis && request.memoryBytes <= memoryBytes
    }

    public var description: String { "cpu=\(cpuMillis)m memory=\(ByteCount.format(memoryBytes))" }
}

public enum ByteCount {
    /// Formats a byte count with binary units (`64Mi`), the same notation the job spec accepts.
    public static func format(_ bytes: Int64) -> String {
        let units: [(String, Int64)] = [("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        for (suffix, size) in units where bytes >= size && bytes % size == 0 {
            return "\(bytes / size)\(suffix)"
        }
        return "\(bytes)"
    }
}

extension FixedWidthInteger where Self: SignedInteger {
    /// `self + other`, clamped to `min...max` instead of trapping.
    public func saturatingAdding(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }

    /// `self - other`, clamped to `min...max` instead of trapping.
    public func saturatingSubtracting(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        guard overflow else { return difference }
        return other > 0 ? .min : .max
    }
}
