import Foundation
import InsituAPI
import InsituModel
import InsituStore

/// The paging token of a list answer (`X-Insitu-Next-Token`, taken back as `?next_token=`).
///
/// Opaque to clients (base64url text), but not trusted: it is the position of the last item of
/// the previous page, and a token that does not decode to one is a 400 naming the parameter,
/// never a crash or a silently restarted list. It carries a position, not an offset, so an item
/// created between two pages shifts nothing.
enum PageToken {
    static let header = ListPaging.nextTokenHeader
    static let parameter = "next_token"
    /// Far more than any token this orchestrator issues (an ID or a node name, a prefix and a time).
    static let maxLength = 1024

    static func encode(_ cursor: JobCursor) -> String {
        encode(["j1", String(cursor.createdAt.milliseconds), cursor.id.rawValue])
    }

    static func encode(_ cursor: NodeCursor) -> String {
        encode(["n1", cursor.name, cursor.id.rawValue])
    }

    static func jobCursor(_ token: String) throws -> JobCursor {
        let fields = try decode(token, kind: "j1", what: "jobs")
        guard let millis = Int64(fields[1]), millis >= 0 else { throw malformed(token, what: "jobs") }
        return JobCursor(createdAt: Timestamp(milliseconds: millis), id: JobID(fields[2]))
    }

    static func nodeCursor(_ token: String) throws -> NodeCursor {
        let fields = try decode(token, kind: "n1", what: "nodes")
        return NodeCursor(name: fields[1], id: NodeID(fields[2]))
    }

    /// Fields joined by newlines, which neither an ID nor a node name contains.
    private static func encode(_ fields: [String]) -> String {
        Data(fields.joined(separator: "\n").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    private static func decode(_ token: String, kind: String, what: String) throws -> [String] {
        guard (1...maxLength).contains(token.utf8.count),
            token.utf8.allSatisfy({ byte in
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            })
        else { throw malformed(token, what: what) }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
            throw malformed(token, what: what)
        }
        let fields = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 3, fields[0] == kind, !fields[2].isEmpty,
            fields.allSatisfy({ !$0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } })
        else { throw malformed(token, what: what) }
        return fields
    }

    private static func malformed(_ token: String, what: String) -> APIError {
        let shown = token.count <= 40 ? token : String(token.prefix(40)) + "…"
        return APIError.badRequest(
            "query parameter \(parameter)=\(shown) is not a paging token for \(what) from this orchestrator: "
                + "pass the \(header) header of the previous page unchanged, or leave \(parameter) out to start from the first page",
            problems: [APIProblem(path: parameter, message: "not a paging token for \(what)")])
    }
}

/// A position in the node list, which is ordered by name, then ID.
struct NodeCursor: Hashable, Sendable {
    var name: String
    var id: NodeID

    init(name: String, id: NodeID) {
        self.name = name
        self.id = id
    }

    init(_ node: NodeSummary) {
        self.init(name: node.name, id: node.id)
    }

    /// Whether `node` comes after this position.
    func precedes(_ node: NodeSummary) -> Bool {
        node.name > name || (node.name == name && node.id.rawValue > id.rawValue)
    }
}
