/// One thing wrong with a job spec document, addressed by the field it is about.
///
/// `path` uses dots for keys and brackets for list items (`engine.memory`, `inputs[1].target`,
/// `constraints[0]`); the empty path means the document as a whole.
public struct SpecProblem: Hashable, Codable, Sendable, CustomStringConvertible {
    /// Field path like `engine.memory`, `inputs[1].target`, `constraints[0]`; empty for the document.
    public var path: String
    /// What is wrong, quoting the bad value.
    public var message: String
    /// How to fix it, when there is something useful to say.
    public var hint: String?

    public init(path: String, message: String, hint: String? = nil) {
        self.path = path
        self.message = message
        self.hint = hint
    }

    /// `path: message (hint: ...)`, with `(document)` standing for the empty path.
    public var description: String {
        let location = path.isEmpty ? "(document)" : path
        if let hint { return "\(location): \(message) (hint: \(hint))" }
        return "\(location): \(message)"
    }
}

/// Every problem found in a job spec document. Parsing never stops at the first one, so a user can
/// fix them all in one go.
public struct SpecValidationError: Error, Sendable, CustomStringConvertible {
    public var problems: [SpecProblem]

    public init(problems: [SpecProblem]) {
        self.problems = problems
    }

    /// One problem per line, in the order they were found (unknown keys of a mapping first, then
    /// its fields in the order the format lists them).
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
