import InsituAPI
import InsituExecutor
import InsituModel
import Synchronization

/// What a running execution prints, on its way to the orchestrator as live log messages.
///
/// Engines hand chunks over from their own threads, as fast as a job can print. What is shipped
/// is bounded twice: at most ``limit`` bytes per stream per execution (the documented 1 MiB; the
/// rest is counted, dropped and announced by a marker line at the end), and at most
/// ``chunkBytes`` per message, cut at a UTF-8 boundary, so no single message comes near the node
/// protocol's frame limit however the job's bytes encode.
final class LiveOutput: Sendable {
    static let defaultLimit = 1 << 20
    static let chunkBytes = 64 << 10

    private struct State {
        /// Kept chunks in arrival order, consecutive ones of one stream coalesced.
        var chunks: [(InsituExecutor.OutputStream, [UInt8])] = []
        var accepted: [InsituExecutor.OutputStream: Int] = [:]
        var dropped: [InsituExecutor.OutputStream: Int] = [:]
        /// UTF-8 bytes of text shipped so far per stream: the offset of the next message, so the
        /// orchestrator can drop a replayed chunk it already stored.
        var shipped: [InsituExecutor.OutputStream: Int64] = [:]
    }
    private let state = Mutex(State())
    let limit: Int

    init(limit: Int = LiveOutput.defaultLimit) { self.limit = limit }

    func append(_ stream: InsituExecutor.OutputStream, _ bytes: [UInt8]) {
        state.withLock { state in
            let kept = min(max(0, limit - state.accepted[stream, default: 0]), bytes.count)
            state.accepted[stream, default: 0] += kept
            state.dropped[stream, default: 0] += bytes.count - kept
            guard kept > 0 else { return }
            if let last = state.chunks.last, last.0 == stream {
                state.chunks[state.chunks.count - 1].1 += bytes.prefix(kept)
            } else {
                state.chunks.append((stream, Array(bytes.prefix(kept))))
            }
        }
    }

    /// The messages for everything appended since the last call. With `final`, ends each stream
    /// that lost bytes with a marker saying how many.
    func drain(_ id: ExecutionID, final: Bool = false) -> [ExecutionOutput] {
        let limit = self.limit
        return state.withLock { state in
            defer { state.chunks.removeAll() }
            var messages: [ExecutionOutput] = []
            func ship(_ stream: InsituExecutor.OutputStream, _ text: String) {
                let offset = state.shipped[stream, default: 0]
                messages.append(ExecutionOutput(executionID: id, stream: stream.rawValue, text: text, offset: offset))
                state.shipped[stream] = offset + Int64(text.utf8.count)
            }
            for (stream, bytes) in state.chunks {
                for piece in Self.split(bytes) { ship(stream, String(decoding: piece, as: UTF8.self)) }
            }
            if final {
                for stream in [InsituExecutor.OutputStream.stdout, .stderr] where state.dropped[stream, default: 0] > 0 {
                    let count = state.dropped[stream, default: 0]
                    state.dropped[stream] = 0
                    ship(
                        stream,
                        "\n[insitu: \(count) more bytes of \(stream.rawValue) were dropped: a node ships at most "
                            + "\(formatBytes(Int64(limit))) of live output per stream and execution]\n")
                }
            }
            return messages
        }
    }

    /// Cuts `bytes` into pieces of at most ``chunkBytes``, not inside a UTF-8 sequence.
    static func split(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var pieces: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            var end = min(bytes.endIndex, start + chunkBytes)
            if end < bytes.endIndex {
                // Continuation bytes are 0b10xxxxxx: back up to the byte that starts the sequence.
                var cut = end
                while cut > start && end - cut < 4 && bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
                if cut > start { end = cut }
            }
            pieces.append(bytes[start..<end])
            start = end
        }
        return pieces
    }
}
