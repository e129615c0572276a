import Yams

/// Walks a composed YAML node tree, checking types and collecting problems as it goes. Each
/// accessor returns nil after recording a problem, so callers keep going and report everything.
struct DocumentReader {
    private(set) var problems: [SpecProblem] = []
    /// Problems found beyond `maxProblems`: counted, not kept, so a hostile document cannot make
    /// an answer (or the server's memory) grow with the number of its mistakes.
    private(set) var omittedProblems = 0

    /// The most problems one answer lists (docs/JOBSPEC.md, "Limits").
    static let maxProblems = 100

    mutating func report(_ path: String, _ message: String, hint: String? = nil) {
        guard problems.count < Self.maxProblems else {
            omittedProblems += 1
            return
        }
        problems.append(SpecProblem(path: path, message: message, hint: hint))
    }

    /// The problems to hand back: the first `maxProblems`, then one line counting the rest.
    var reportedProblems: [SpecProblem] {
        guard omittedProblems > 0 else { return problems }
        return problems + [
            SpecProblem(
                path: "", message: "\(omittedProblems) more problem\(omittedProblems == 1 ? "" : "s") not listed",
                hint: "fix the problems above and submit again to see the rest")
        ]
    }

    // MARK: Paths

    static func join(_ base: String, _ key: String) -> String { base.isEmpty ? key : "\(base).\(key)" }
    static func index(_ base: String, _ index: Int) -> String { "\(base)[\(index)]" }

    // MARK: Mappings

    /// The entries of a mapping, in document order, after checking that every key is a string.
    mutating func entries(of node: Node, at path: String) -> [(key: String, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            report(path, "expected a mapping, found \(Self.describe(node))")
            return nil
        }
        var result: [(key: String, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode, !Self.isNull(keyNode) else {
                report(path, "keys must be strings, found \(Self.describe(keyNode)) as a key")
                continue
            }
            result.append((scalar.string, value))
        }
        return result
    }

    /// The entries of a mapping whose keys must all be in `allowed`; unknown keys are reported at
    /// their own path with the allowed keys and, when one is close, a suggestion.
    mutating func fields(of node: Node, at path: String, allowed: [String]) -> Fields? {
        guard let entries = entries(of: node, at: path) else { return nil }
        var values: [String: Node] = [:]
        for (key, value) in entries {
            if allowed.contains(key) {
                values[key] = value
            } else {
                reportUnknownKey(key, at: path, allowed: allowed)
            }
        }
        return Fields(path: path, values: values)
    }

    mutating func reportUnknownKey(_ key: String, at path: String, allowed: [String]) {
        let list = "allowed keys: \(allowed.joined(separator: ", "))"
        let hint = Suggestion.closest(to: key, among: allowed).map { "did you mean `\($0)`? \(list)" } ?? list
        report(Self.join(path, key), "unknown key \"\(Self.quote(key))\"", hint: hint)
    }

    /// Reports a missing required field.
    mutating func missing(_ key: String, in fields: Fields, hint: String? = nil) {
        report(Self.join(fields.path, key), "missing required field \"\(key)\"", hint: hint)
    }

    // MARK: Values

    /// Any scalar except null, as written: numbers and booleans become their text.
    mutating func string(_ node: Node, at path: String) -> String? {
        guard case .scalar(let scalar) = node, !Self.isNull(node) else {
            report(path, "expected a string, found \(Self.describe(node))")
            return nil
        }
        // The node passes strings to C interfaces (argv, environ, paths), where a NUL ends them.
        guard !scalar.string.utf8.contains(0) else {
            report(path, "the value contains a NUL character, which would cut it short on the node", hint: "remove the \\0")
            return nil
        }
        return scalar.string
    }

    /// An integer scalar (quoted numbers are strings, not integers).
    mutating func integer(_ node: Node, at path: String) -> Int64? {
        guard case .scalar(let scalar) = node, Self.tagName(node) == Tag.Name.int.rawValue else {
            report(path, "expected an integer, found \(Self.describe(node))")
            return nil
        }
        guard let value = SpecValues.integer(scalar.string) else {
            report(path, "integer \(scalar.string) is out of range or not written in decimal")
            return nil
        }
        return value
    }

    /// The items of a list of at most `limit` entries. A longer list is one problem, not one per
    /// item: YAML aliases let a small document repeat an entry a hundred thousand times.
    mutating func list(_ node: Node, at path: String, limit: Int, hint: String? = nil) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            report(path, "expected a list, found \(Self.describe(node))", hint: hint)
            return nil
        }
        guard sequence.count <= limit else {
            report(path, "the list has \(sequence.count) entries; at most \(limit) are allowed", hint: "see the limits in docs/JOBSPEC.md")
            return nil
        }
        return Array(sequence)
    }

    // MARK: Describing nodes

    static func tagName(_ node: Node) -> String { node.tag.description }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar = node { return tagName(node) == Tag.Name.null.rawValue }
        return false
    }

    /// "a string \"x\"", "an integer 3", "a list", ... for "expected ..., found ..." messages.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            switch tagName(node) {
            case Tag.Name.null.rawValue: return "null"
            case Tag.Name.bool.rawValue: return "a boolean \(scalar.string)"
            case Tag.Name.int.rawValue: return "an integer \(scalar.string)"
            case Tag.Name.float.rawValue: return "a number \(scalar.string)"
            default: return "a string \"\(quote(scalar.string))\""
            }
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// A value shortened for a message, so a huge inline input does not flood the output.
    static func quote(_ text: String, limit: Int = 80) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }
}

/// The known keys of one mapping, with its path. Null values count as absent.
struct Fields {
    let path: String
    let values: [String: Node]

    subscript(_ key: String) -> Node? {
        guard let node = values[key], !DocumentReader.isNull(node) else { return nil }
        return node
    }

    func path(_ key: String) -> String { DocumentReader.join(path, key) }
}

enum Suggestion {
    /// The allowed word within edit distance 2 of `word` (ignoring case), the closest first.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let lowered = Array(word.lowercased())
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, Array(candidate.lowercased()))
            if distance <= 2, distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
        }
        return best?.0
    }

    /// Levenshtein distance.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
