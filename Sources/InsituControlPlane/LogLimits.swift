/// Bounds on the job output the orchestrator keeps and serves.
///
/// Per execution and stream it stores the first `maxBytesPerStream` bytes, then one marker line
/// saying the rest is dropped; when the execution's result arrives, a second marker line gives
/// the number of bytes dropped (counted since the orchestrator started; output dropped before a
/// restart is not counted again). So the stored log is the head of the output, never more than
/// the cap plus two short lines, and it says where it was cut.
///
/// The cap sits a little above the 1 MiB a node ships per stream, so a well-behaved node's own
/// closing note ("… more bytes of stdout were dropped") is kept rather than cut; only output a
/// node should never have sent reaches the orchestrator's markers.
public enum LogLimits {
    public static let maxBytesPerStream: Int64 = (1 << 20) + nodeNoteAllowance
    /// Room for the node's own marker lines beyond the 1 MiB of output it ships per stream.
    public static let nodeNoteAllowance: Int64 = 4 << 10
    /// Text bytes in one `GET /v1/jobs/{id}/logs` page (a single larger entry is still served
    /// alone; stored entries are never larger than `maxBytesPerStream`).
    public static let pageBytes = 1 << 20
    public static let pageEntries = 1000
    public static let streams: Set<String> = ["stdout", "stderr"]

    /// The longest prefix of `text` that fits in `maxBytes` bytes of UTF-8 without splitting a
    /// character.
    public static func prefix(_ text: String, maxBytes: Int64) -> Substring {
        var used: Int64 = 0
        var end = text.startIndex
        for index in text.indices {
            let size = Int64(text[index].utf8.count)
            guard used + size <= maxBytes else { break }
            used += size
            end = text.index(after: index)
        }
        return text[..<end]
    }
}
