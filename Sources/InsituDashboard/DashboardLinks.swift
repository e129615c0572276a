public import InsituModel

/// The dashboard's URLs. Every ID in a path is percent-encoded, so an ID with `/`, `?` or `#`
/// stays one segment (the routes decode it, as the API's do).
public enum DashboardLinks {
    public static let root = "/ui"
    public static let jobs = "/ui/jobs"
    public static let nodes = "/ui/nodes"
    public static let login = "/ui/login"
    public static let logout = "/ui/logout"
    public static let script = "/ui/app.js"
    public static let stylesheet = "/ui/app.css"
    /// The query that asks a page for its live section alone (what the script re-fetches).
    public static let liveQuery = "part=live"

    public static func job(_ id: JobID) -> String { jobs + "/" + segment(id.rawValue) }
    public static func jobLogs(_ id: JobID) -> String { job(id) + "/logs" }
    public static func jobFile(_ id: JobID, digest: ContentDigest) -> String { job(id) + "/files/" + digest.rawValue }
    public static func node(_ id: NodeID) -> String { nodes + "/" + segment(id.rawValue) }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    public static func segment(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                encoded.unicodeScalars.append("%")
                encoded.unicodeScalars.append(hex[Int(byte >> 4)])
                encoded.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return encoded
    }
}
