/// What a node may report as one execution's result. Nodes are not trusted: a path is later
/// joined to a download directory by the CLI, and every file is kept in the blob store, so both
/// the shape of each path and the size of the whole result are checked when a result arrives.
public enum ResultLimits {
    /// Files in one result (stdout, stderr and every output file).
    public static let maxFiles = 4096
    /// Total decoded bytes of one result's files; the same bound the agent applies.
    public static let maxTotalBytes: Int64 = 16 << 20
    public static let maxPathBytes = 1024
    public static let maxComponentBytes = 255
}

public enum ResultPath {
    /// Why `path` may not name a file in a result, or nil when it may.
    ///
    /// Accepted: `stdout`, `stderr`, and `outputs/<name>/<file>` with any number of further
    /// directories. Every component is non-empty, not `.` or `..`, at most
    /// `ResultLimits.maxComponentBytes` bytes, and free of control characters and backslashes;
    /// the whole path is relative and at most `ResultLimits.maxPathBytes` bytes.
    public static func problem(_ path: String) -> String? {
        if path.isEmpty { return "the path is empty" }
        if path.utf8.count > ResultLimits.maxPathBytes { return "the path is longer than \(ResultLimits.maxPathBytes) bytes" }
        if path.hasPrefix("/") { return "the path is absolute" }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return "the path contains a control character"
        }
        if path.contains("\\") { return "the path contains a backslash" }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        for component in components {
            if component.isEmpty { return "the path has an empty component" }
            if component == "." || component == ".." { return "the path has a \(component) component" }
            if component.utf8.count > ResultLimits.maxComponentBytes {
                return "a component is longer than \(ResultLimits.maxComponentBytes) bytes"
            }
        }
        if components.count == 1 && (path == "stdout" || path == "stderr") { return nil }
        if components.count >= 3 && components[0] == "outputs" { return nil }
        return "the path is neither stdout, stderr nor outputs/<name>/<file>"
    }
}
