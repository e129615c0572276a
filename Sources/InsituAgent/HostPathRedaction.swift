import Foundation
import InsituExecutor

/// Rewrites the node's own paths out of a text that leaves the node (a failure's reason).
///
/// A job's author knows its sandbox (`/data`, `/outputs/counts`), not the node's disk; the
/// dataset directories, the agent's data directory and its layout are the node owner's business
/// and help an attacker aim. Engines and the file system name host paths in their errors
/// ("Failed to open preopen path '/srv/patients': ENOENT"), so every reason passes through here:
/// a mount's host path becomes its sandbox path, and any other path of the node a placeholder.
/// Paths are matched whole (a match must end at a path boundary), longest first, both as
/// configured and with symbolic links resolved.
struct HostPathRedaction: Sendable {
    /// Host path → what is shown instead, longest host path first.
    private(set) var replacements: [(host: String, shown: String)] = []

    init(mounts: [Mount], workDirectory: String, dataDirectory: String, datasets: [(name: String, path: String)]) {
        var table: [String: String] = [:]
        func add(_ host: String, _ shown: String) {
            for form in Self.forms(of: host) where table[form] == nil { table[form] = shown }
        }
        for mount in mounts { add(mount.hostPath, mount.guestPath) }
        for dataset in datasets { add(dataset.path, "<dataset \(dataset.name)>") }
        add(workDirectory, "<execution directory>")
        add(dataDirectory, "<node data directory>")
        replacements = table.map { (host: $0.key, shown: $0.value) }.sorted { ($0.host.utf8.count, $0.host) > ($1.host.utf8.count, $1.host) }
    }

    func apply(_ text: String) -> String {
        var result = text
        for (host, shown) in replacements where result.contains(host) {
            result = Self.replace(host, with: shown, in: result)
        }
        return result
    }

    /// `host` as written without a trailing slash, and with links resolved when that differs.
    private static func forms(of host: String) -> [String] {
        var trimmed = host
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard trimmed.count > 1 else { return [] }
        let resolved = URL(fileURLWithPath: trimmed).resolvingSymlinksInPath().path
        return resolved != trimmed && resolved.count > 1 ? [trimmed, resolved] : [trimmed]
    }

    /// Replaces each occurrence of `host` that ends at a path boundary (the end, `/`, or a byte
    /// that cannot continue a file name in a message: quotes, space, `:` and so on), so that
    /// `/srv/x` does not rewrite part of `/srv/xy`.
    static func replace(_ host: String, with shown: String, in text: String) -> String {
        let bytes = Array(text.utf8)
        let needle = Array(host.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == needle[0], index + needle.count <= bytes.count,
                bytes[index..<(index + needle.count)].elementsEqual(needle),
                endsAtBoundary(bytes, index + needle.count)
            {
                output.append(contentsOf: shown.utf8)
                index += needle.count
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func endsAtBoundary(_ bytes: [UInt8], _ position: Int) -> Bool {
        guard position < bytes.count else { return true }
        // A `.` stays part of a name (`/srv/x.csv`) unless it ends the text or a sentence.
        if bytes[position] == UInt8(ascii: ".") {
            return position + 1 == bytes.count || !continuesName(bytes[position + 1])
        }
        return !continuesName(bytes[position])
    }

    private static func continuesName(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "+"), 0x80...0xff:
            return true
        default:
            return false
        }
    }
}
