/// A node policy's answer for one execution.
public enum PolicyDecision: Hashable, Sendable {
    case allow
    case refuse(PolicyRefusal)

    public var refusal: PolicyRefusal? {
        if case .refuse(let refusal) = self { return refusal }
        return nil
    }
}

/// Why a node's policy refuses an execution.
public struct PolicyRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was refused, without what is particular to one node (its allow-lists): the same for
    /// every node that refuses for the same reason, so the scheduler can count nodes per rule.
    public var rule: String
    /// For the job's author: what was refused, why, and how to fix it where they can.
    public var message: String

    public init(rule: String, message: String) {
        self.rule = rule
        self.message = message
    }

    public var description: String { message }
}
