/// An OCI image reference (`[registry/]path[:tag][@sha256:<hex>]`), parsed strictly and
/// normalised the way Docker does, so that a node's allow-list and a job's image are compared as
/// the same fully qualified name, and the engine is handed that name rather than a short one it
/// would resolve through its own search registries (podman's `registries.conf` may map
/// `busybox` somewhere other than Docker Hub).
///
/// Normalisation: no registry means `docker.io`, and a single path component on Docker Hub means
/// `library/`; no tag and no digest means `:latest`. A digest pins the content, so a reference
/// with one is named by its digest alone (`name:tag@sha256:…` is `name@sha256:…`).
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// Registry and path, e.g. `docker.io/library/busybox` or `localhost/insitu-test`.
    public var name: String
    public var tag: String?
    /// `sha256:<64 lowercase hex>`.
    public var digest: String?

    public static let maxLength = 512

    /// The normalised form handed to the engine and matched against the allow-list.
    public var canonical: String {
        if let digest { return name + "@" + digest }
        return name + ":" + (tag ?? "latest")
    }

    public var description: String { canonical }

    /// Nil when `text` is not a reference; `problem(in:)` says why.
    public init?(_ text: String) {
        guard case .success(let reference) = Self.parse(text) else { return nil }
        self = reference
    }

    private init(name: String, tag: String?, digest: String?) {
        self.name = name
        self.tag = tag
        self.digest = digest
    }

    /// What is wrong with `text` as an image reference, for an error message; nil when it is one.
    public static func problem(in text: String) -> String? {
        if case .failure(let problem) = parse(text) { return problem.message }
        return nil
    }

    struct Problem: Error {
        var message: String
    }

    static func parse(_ text: String) -> Result<ImageReference, Problem> {
        guard !text.isEmpty else { return .failure(Problem(message: "the image reference is empty")) }
        guard text.utf8.count <= maxLength else {
            return .failure(Problem(message: "the image reference is longer than \(maxLength) bytes"))
        }
        var rest = Substring(text)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let pinned = rest[rest.index(after: at)...]
            guard pinned.hasPrefix("sha256:"), isLowercaseHex(pinned.dropFirst(7), count: 64) else {
                return .failure(Problem(message: "the digest after '@' must be sha256: followed by 64 lowercase hex digits"))
            }
            digest = String(pinned)
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            let candidate = rest[rest.index(after: colon)...]
            guard isTag(candidate) else {
                return .failure(
                    Problem(message: "the tag \"\(candidate)\" is not a tag (letters, digits, '_', '.', '-'; at most 128, not starting with '.' or '-')"))
            }
            tag = String(candidate)
            rest = rest[..<colon]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.isEmpty else { return .failure(Problem(message: "the image reference has no name")) }
        var registry = "docker.io"
        if components.count > 1, isRegistry(components[0]) {
            registry = String(components.removeFirst())
        }
        for component in components where !isPathComponent(component) {
            return .failure(
                Problem(
                    message: "\"\(component)\" is not an image name component (lowercase letters and digits, separated by '.', '_' or '-')"
                ))
        }
        if registry == "docker.io" && components.count == 1 { components.insert("library", at: 0) }
        let name = registry + "/" + components.joined(separator: "/")
        return .success(ImageReference(name: name, tag: digest == nil ? tag ?? "latest" : nil, digest: digest))
    }

    /// Docker's rule: a first component is a registry when it holds a '.' or a ':' (a port), or
    /// is `localhost`.
    private static func isRegistry(_ component: Substring) -> Bool {
        guard component == "localhost" || component.contains(".") || component.contains(":") else { return false }
        let parts = component.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let host = parts[0]
        guard !host.isEmpty, host.utf8.count <= 253,
            host.utf8.allSatisfy({ isLowerAlphanumeric($0) || isUpper($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else { return false }
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65535).contains(port), parts[1].utf8.allSatisfy(isDigit) else { return false }
        }
        return true
    }

    private static func isPathComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 255,
            isLowerAlphanumeric(first), isLowerAlphanumeric(last)
        else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isTag(_ tag: Substring) -> Bool {
        let bytes = Array(tag.utf8)
        guard let first = bytes.first, bytes.count <= 128, first != UInt8(ascii: "."), first != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || isUpper($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowercaseHex(_ text: Substring, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    private static func isUpper(_ byte: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) }
    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }
}
