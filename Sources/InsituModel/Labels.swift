/// Labels are free-form key/value pairs a node advertises (`region=eu`, `site=hospital-a`);
/// jobs select nodes with constraints over them, Kubernetes label-selector style.
public typealias Labels = [String: String]

public enum ConstraintOperator: String, Codable, Sendable, CaseIterable {
    case equals = "="
    case notEquals = "!="
    case `in` = "in"
    case notIn = "notin"
    case exists = "exists"
    case doesNotExist = "!exists"
}

/// One label selector term. A node matches a job when it matches every term.
public struct LabelConstraint: Hashable, Codable, Sendable, CustomStringConvertible {
    public var key: String
    public var `operator`: ConstraintOperator
    public var values: [String]

    public init(key: String, operator: ConstraintOperator, values: [String] = []) {
        self.key = key
        self.operator = `operator`
        self.values = values
    }

    /// Kubernetes semantics: `!=` and `notin` match a node that lacks the key.
    public func matches(_ labels: Labels) -> Bool {
        let value = labels[key]
        switch self.operator {
        case .equals: return value == values.first
        case .notEquals: return value != values.first
        case .in: return value.map { values.contains($0) } ?? false
        case .notIn: return value.map { !values.contains($0) } ?? true
        case .exists: return value != nil
        case .doesNotExist: return value == nil
        }
    }

    public var description: String {
        switch self.operator {
        case .equals, .notEquals: return "\(key) \(self.operator.rawValue) \(values.first ?? "")"
        case .in, .notIn: return "\(key) \(self.operator.rawValue) (\(values.joined(separator: ",")))"
        case .exists: return key
        case .doesNotExist: return "!\(key)"
        }
    }
}
