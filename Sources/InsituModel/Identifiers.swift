/// Identifiers are opaque strings chosen by the shell (random in production, seeded in tests)
/// and passed into the core, so the core never invents one itself.

public struct JobID: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

public struct NodeID: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An execution is one attempt at one partition of one job. Its ID is derived from that key, so a
/// retried partition gets a new ID (a new attempt) and a late report from an old attempt can be
/// recognised as superseded rather than overwriting the new one.
public struct ExecutionID: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(job: JobID, partition: Int, attempt: Int) {
        self.rawValue = "\(job.rawValue)-p\(partition)-a\(attempt)"
    }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A point in time, in milliseconds since the Unix epoch. The core only ever receives these from
/// its caller; it never reads a clock.
public struct Timestamp: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(milliseconds: Int64) { self.rawValue = milliseconds }
    /// Epoch milliseconds (stored state, the node protocol) or RFC 3339 text (the REST API).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let millis = try? container.decode(Int64.self) {
            rawValue = millis
            return
        }
        let text = try container.decode(String.self)
        guard let parsed = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an RFC 3339 time such as 2026-12-01T09:30:00Z, or epoch milliseconds; got \(text)")
        }
        rawValue = parsed.rawValue
    }

    /// Epoch milliseconds, unless the encoder's `userInfo` asks for RFC 3339 (`rfc3339UserInfoKey`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if encoder.userInfo[Self.rfc3339UserInfoKey] as? Bool == true {
            try container.encode(rfc3339)
        } else {
            try container.encode(rawValue)
        }
    }
    public var milliseconds: Int64 { rawValue }
    public var description: String { "\(rawValue)ms" }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public static func + (lhs: Self, rhs: Duration) -> Self {
        let (seconds, attoseconds) = rhs.components
        return Timestamp(milliseconds: lhs.rawValue + seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
    public static func - (lhs: Self, rhs: Self) -> Duration { .milliseconds(lhs.rawValue - rhs.rawValue) }
}

/// The lowercase hex SHA-256 of some content (a module, an output file). Modules are identified by
/// this everywhere, so a node can verify what it was asked to run.
public struct ContentDigest: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    /// Returns nil unless `hex` is exactly 64 lowercase hex digits.
    public init?(rawValue hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            return nil
        }
        self.rawValue = hex
    }
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = ContentDigest(rawValue: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a sha256 hex digest: \(text)"))
        }
        self = digest
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { "sha256:\(rawValue)" }
}
