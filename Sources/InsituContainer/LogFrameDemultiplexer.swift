public import InsituExecutor

/// Splits the Docker Engine API's multiplexed log stream (a container without a TTY) into
/// stdout and stderr chunks. Every frame is an 8-byte header, `[stream, 0, 0, 0, size as a
/// big-endian UInt32]`, followed by `size` bytes; stream 1 is stdout, 2 is stderr (0, stdin, is
/// written to stdout as Docker documents), 3 is an error the engine reports on the stream.
///
/// The engine is a trust boundary: a header with another stream number or non-zero padding, or a
/// frame longer than `maxFrameBytes`, is malformed, and nothing after it is trusted. Chunks may
/// split frames anywhere; only complete frames are returned, so memory held is at most one frame.
public struct LogFrameDemultiplexer: Sendable {
    public enum Chunk: Hashable, Sendable {
        case output(OutputStream, [UInt8])
        /// Stream 3: the engine's own error text (for example, the log file vanished).
        case engineError([UInt8])
    }

    public struct Malformed: Error, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// Docker splits lines at 16 KiB and podman at 8 KiB; 1 MiB leaves room for any engine while
    /// bounding what one frame can make the node buffer.
    public static let defaultMaxFrameBytes = 1 << 20
    static let headerBytes = 8

    public let maxFrameBytes: Int
    private var pending: [UInt8] = []
    private var failed: Malformed?

    public init(maxFrameBytes: Int = LogFrameDemultiplexer.defaultMaxFrameBytes) {
        self.maxFrameBytes = maxFrameBytes
    }

    /// Bytes received but not yet a whole frame.
    public var bufferedBytes: Int { pending.count }

    /// Adds received bytes and returns the frames they complete, in order. Throws once a header
    /// is malformed, and again on every later call.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(Malformed) -> [Chunk] {
        if let failed { throw failed }
        pending.append(contentsOf: bytes)
        var chunks: [Chunk] = []
        var offset = 0
        while pending.count - offset >= Self.headerBytes {
            let kind = pending[offset]
            guard pending[offset + 1] == 0, pending[offset + 2] == 0, pending[offset + 3] == 0 else {
                try fail("a log frame header has non-zero padding bytes")
            }
            var size = 0
            for index in 4..<8 { size = size << 8 | Int(pending[offset + index]) }
            guard size <= maxFrameBytes else {
                try fail("a log frame of \(size) bytes is over the limit of \(maxFrameBytes)")
            }
            guard pending.count - offset - Self.headerBytes >= size else { break }
            let start = offset + Self.headerBytes
            let payload = Array(pending[start..<(start + size)])
            offset = start + size
            switch kind {
            case 0, 1: if !payload.isEmpty { chunks.append(.output(.stdout, payload)) }
            case 2: if !payload.isEmpty { chunks.append(.output(.stderr, payload)) }
            case 3: chunks.append(.engineError(payload))
            default: try fail("a log frame names stream \(kind), which is not stdin, stdout, stderr or the engine's error stream")
            }
        }
        pending.removeFirst(offset)
        return chunks
    }

    /// True when the stream ended between frames; false when it stopped inside one.
    public var endedCleanly: Bool { pending.isEmpty && failed == nil }

    private mutating func fail(_ message: String) throws(Malformed) -> Never {
        let error = Malformed(description: "the container engine sent a malformed log stream: " + message)
        failed = error
        pending = []
        throw error
    }
}
