public import InsituModel
import Crypto

/// What the orchestrator stores about an API token. The secret itself is never stored: only its
/// SHA-256, so a copy of the database grants nothing. (The secret has 256 random bits, so a plain
/// hash is enough: there is nothing to brute-force as with passwords.)
public struct TokenRecord: Hashable, Codable, Sendable {
    /// Public, safe to log and to show in lists and audit entries.
    public var id: String
    /// A label for people (`ci-pipeline`, `alice`).
    public var name: String
    /// The namespace the token acts in, or `Namespace.all`.
    public var namespace: String
    public var scopes: Set<Scope>
    public var createdAt: Timestamp
    /// nil only when the token was created explicitly without expiry.
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?
    /// Lowercase hex SHA-256 of the secret part.
    public var secretHash: String

    public init(
        id: String, name: String, namespace: String, scopes: Set<Scope>, createdAt: Timestamp, expiresAt: Timestamp?,
        revokedAt: Timestamp? = nil, secretHash: String
    ) {
        self.id = id
        self.name = name
        self.namespace = namespace
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.secretHash = secretHash
    }
}

/// The text a caller presents: `insitu_<id>_<secret>` (a node's join token:
/// `insitu_join_<id>_<secret>`), the ID 16 lowercase hex digits and the secret 43 characters of
/// unpadded base64url (32 random bytes). The prefix lets secret scanners recognise a leaked token
/// and keeps one kind from being taken for the other.
public struct PresentedToken: Hashable, Sendable {
    public static let prefix = "insitu_"
    public static let joinPrefix = "insitu_join_"
    public static let idLength = 16
    public static let secretLength = 43

    public var prefix: String
    public var id: String
    public var secret: String

    /// Splits a presented token, or nil when it is not one (any length, any bytes: this parses
    /// untrusted header values).
    public init?(_ text: String, prefix: String = PresentedToken.prefix) {
        let bytes = Array(text.utf8)
        let expected = prefix.utf8.count + Self.idLength + 1 + Self.secretLength
        guard bytes.count == expected, text.hasPrefix(prefix) else { return nil }
        let idBytes = bytes[prefix.utf8.count..<(prefix.utf8.count + Self.idLength)]
        let separator = bytes[prefix.utf8.count + Self.idLength]
        let secretBytes = bytes[(prefix.utf8.count + Self.idLength + 1)...]
        guard separator == UInt8(ascii: "_"), idBytes.allSatisfy(Self.isLowerHex), secretBytes.allSatisfy(Self.isBase64URL) else {
            return nil
        }
        self.prefix = prefix
        self.id = String(decoding: idBytes, as: UTF8.self)
        self.secret = String(decoding: secretBytes, as: UTF8.self)
    }

    /// A new token from random bytes the caller drew (the core takes randomness as an input).
    public init(idBytes: [UInt8], secretBytes: [UInt8], prefix: String = PresentedToken.prefix) {
        precondition(idBytes.count == Self.idLength / 2 && secretBytes.count == 32, "8 ID bytes and 32 secret bytes")
        self.prefix = prefix
        self.id = idBytes.map { byte in String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16) }.joined()
        self.secret = Self.base64URL(secretBytes)
    }

    public var text: String { prefix + id + "_" + secret }

    public var secretHash: String { Self.hash(secret) }

    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Array(secret.utf8)).map { byte in String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16) }.joined()
    }

    /// Compares in time that depends only on the lengths, so a timing side channel does not tell
    /// an attacker how much of a guessed hash matched.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8), right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * UInt32(offset)) }
            let characters = chunk.count + 1
            for position in 0..<characters { output.append(alphabet[Int((value >> (18 - 6 * UInt32(position))) & 0x3F)]) }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
