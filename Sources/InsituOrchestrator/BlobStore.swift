import Crypto
public import Foundation
public import InsituModel

/// Content-addressed files (modules, result files) under `<root>/sha256/<2 hex>/<64 hex>`.
/// Writes go to a temporary file that is flushed and renamed, so a blob is either whole or absent.
public struct BlobStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root + "/sha256", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
    }

    public static func digest(of bytes: some DataProtocol) -> ContentDigest {
        let hex = SHA256.hash(data: bytes).map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xf)]], as: UTF8.self)
        }.joined()
        return ContentDigest(rawValue: hex)!
    }

    public func path(for digest: ContentDigest) -> String {
        let hex = digest.rawValue
        return "\(root)/sha256/\(hex.prefix(2))/\(hex)"
    }

    public func contains(_ digest: ContentDigest) -> Bool {
        FileManager.default.fileExists(atPath: path(for: digest))
    }

    /// Stores `bytes` and returns their digest; storing the same content twice is a no-op.
    @discardableResult
    public func put(_ bytes: Data) throws -> ContentDigest {
        let digest = Self.digest(of: bytes)
        let final = path(for: digest)
        if FileManager.default.fileExists(atPath: final) { return digest }
        try FileManager.default.createDirectory(
            atPath: (final as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let temporary = "\(root)/tmp/\(digest.rawValue).\(UInt64.random(in: 0...UInt64.max))"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
        try handle.close()
        if rename(temporary, final) != 0 {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: final])
        }
        return digest
    }

    public func get(_ digest: ContentDigest) -> Data? {
        FileManager.default.contents(atPath: path(for: digest))
    }
}
