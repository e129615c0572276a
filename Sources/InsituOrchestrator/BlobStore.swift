import Crypto
public import Foundation
public import InsituModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Content-addressed files (modules, result files) under `<root>/sha256/<2 hex>/<64 hex>`.
/// Writes go to a temporary file that is flushed and renamed, so a blob is either whole or absent.
/// Blobs are written and served in chunks (`BlobWriter`, `path(for:)`), never held whole in memory
/// by the API.
public struct BlobStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root + "/sha256", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
    }

    public static func digest(of bytes: some DataProtocol) -> ContentDigest {
        ContentDigest(rawValue: hex(SHA256.hash(data: bytes)))!
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    public func path(for digest: ContentDigest) -> String {
        let hex = digest.rawValue
        return "\(root)/sha256/\(hex.prefix(2))/\(hex)"
    }

    public func contains(_ digest: ContentDigest) -> Bool {
        FileManager.default.fileExists(atPath: path(for: digest))
    }

    /// Whether any blob has ever been stored here (a data directory that has blobs but lost its
    /// database is damaged, not new).
    public var isEmpty: Bool {
        let shards = (try? FileManager.default.contentsOfDirectory(atPath: root + "/sha256")) ?? []
        return shards.allSatisfy { shard in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/sha256/\(shard)")) ?? []).isEmpty
        }
    }

    /// Stores `bytes` and returns their digest; storing the same content twice is a no-op.
    @discardableResult
    public func put(_ bytes: Data) throws -> ContentDigest {
        // Content already stored is not written and flushed again: most results repeat blobs
        // (an empty stdout or stderr above all), and each new file cost an fsync on the path of
        // every result.
        let digest = Self.digest(of: bytes)
        if contains(digest) { return digest }
        let writer = try BlobWriter(store: self, limit: Int64(bytes.count))
        do {
            try bytes.withUnsafeBytes { try writer.append($0) }
            return try writer.finish()
        } catch {
            writer.discard()
            throw error
        }
    }

    /// A new writer for one blob of at most `limit` bytes.
    public func writer(limit: Int64) throws(BlobStoreError) -> BlobWriter {
        try BlobWriter(store: self, limit: limit)
    }
}

/// Why a blob could not be stored. `isStorageFull` lets the API answer 503 rather than 500.
public struct BlobStoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case tooLarge, io }
    public var kind: Kind
    public var message: String
    /// The `errno` of a failed system call, if that was the cause.
    public var errno: Int32?

    init(_ kind: Kind, _ message: String, errno: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.errno = errno
    }

    static func io(_ what: String, _ path: String, _ code: Int32) -> BlobStoreError {
        BlobStoreError(.io, "\(what) \(path): \(String(cString: strerror(code)))", errno: code)
    }

    public var isStorageFull: Bool { errno == ENOSPC || errno == EDQUOT }
    public var description: String { message }
}

/// Streams one blob to a temporary file while hashing it, then moves it into place under its
/// digest. Memory use is one chunk, whatever the blob's size. Not thread-safe: one writer per
/// upload. Call `finish()` or `discard()` exactly once.
public final class BlobWriter {
    private let store: BlobStore
    private let limit: Int64
    private let temporaryPath: String
    private var descriptor: Int32
    private var hasher = SHA256()
    public private(set) var size: Int64 = 0
    /// The first bytes written, for callers that check a file's magic number.
    public private(set) var head: [UInt8] = []

    fileprivate init(store: BlobStore, limit: Int64) throws(BlobStoreError) {
        self.store = store
        self.limit = limit
        self.temporaryPath = "\(store.root)/tmp/upload.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw .io("cannot create", temporaryPath, errno) }
    }

    deinit {
        if descriptor >= 0 { discard() }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws(BlobStoreError) {
        guard Int64(bytes.count) <= limit - size else {
            throw BlobStoreError(.tooLarge, "the blob is larger than the limit of \(limit) bytes")
        }
        if head.count < 16 { head += bytes.prefix(16 - head.count) }
        hasher.update(bufferPointer: bytes)
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw .io("cannot write", temporaryPath, errno)
            }
            offset += written
        }
        size += Int64(bytes.count)
    }

    /// Makes the blob durable under its digest and returns the digest.
    public func finish() throws(BlobStoreError) -> ContentDigest {
        let digest = ContentDigest(rawValue: BlobStore.hex(hasher.finalize()))!
        defer { discard() }
        guard fsync(descriptor) == 0 else { throw .io("cannot flush", temporaryPath, errno) }
        let final = store.path(for: digest)
        if access(final, F_OK) == 0 { return digest }
        let directory = (final as NSString).deletingLastPathComponent
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw .io("cannot create", directory, errno) }
        guard rename(temporaryPath, final) == 0 else { throw .io("cannot move the blob to", final, errno) }
        return digest
    }

    /// Closes and removes the temporary file (a no-op after `finish()` moved it).
    public func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
    }
}
