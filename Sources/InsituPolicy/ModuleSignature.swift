public import Crypto
import Foundation
public import InsituModel

/// Ed25519 signatures of modules: a data owner trusts a key (`ed25519:<base64 of the 32-byte
/// public key>`), and a job carries `engine.signature: ed25519:<base64 of the 64-byte
/// signature>` made with the private key over the module's 32-byte SHA-256 digest.
public enum ModuleSignature {
    static let prefix = "ed25519:"

    /// The public key in `text`, or nil when it is not `ed25519:` and the base64 of 32 bytes.
    public static func publicKey(_ text: String) -> Curve25519.Signing.PublicKey? {
        guard text.hasPrefix(prefix), text.utf8.count <= NodePolicyLimits.maxKeyBytes,
            let bytes = Data(base64Encoded: String(text.dropFirst(prefix.count))), bytes.count == 32
        else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)
    }

    /// The signature bytes in `text`, or nil when it is not `ed25519:` and the base64 of 64 bytes.
    static func signatureBytes(_ text: String) -> Data? {
        guard text.hasPrefix(prefix), text.utf8.count <= 128, let bytes = Data(base64Encoded: String(text.dropFirst(prefix.count))),
            bytes.count == 64
        else { return nil }
        return bytes
    }

    /// Whether `signature` is `key`'s signature of `module`'s digest. False for anything malformed.
    public static func verify(_ signature: String, of module: ContentDigest, key: String) -> Bool {
        guard let publicKey = publicKey(key), let bytes = signatureBytes(signature) else { return false }
        return publicKey.isValidSignature(bytes, for: digestBytes(module))
    }

    /// `ed25519:<base64>` signature of `module`'s digest (for tests and tooling).
    public static func sign(_ module: ContentDigest, with key: Curve25519.Signing.PrivateKey) throws -> String {
        prefix + (try key.signature(for: digestBytes(module))).base64EncodedString()
    }

    /// `ed25519:<base64>` form of a public key.
    public static func text(of key: Curve25519.Signing.PublicKey) -> String {
        prefix + key.rawRepresentation.base64EncodedString()
    }

    static func digestBytes(_ digest: ContentDigest) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var iterator = digest.rawValue.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(nibble(high) << 4 | nibble(low))
        }
        return bytes
    }

    /// `ContentDigest` guarantees lowercase hex digits.
    private static func nibble(_ byte: UInt8) -> UInt8 {
        byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : byte - UInt8(ascii: "a") + 10
    }
}
