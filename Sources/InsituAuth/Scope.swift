/// What a token may do. Each REST route requires exactly one scope; a token carries an explicit
/// list of them and nothing is implied (`job:submit` does not grant `job:read`).
public enum Scope: String, CaseIterable, Hashable, Codable, Sendable, Comparable {
    /// Submit and stop jobs, upload modules.
    case jobSubmit = "job:submit"
    /// Read jobs, their history, logs and results.
    case jobRead = "job:read"
    case nodeRead = "node:read"
    /// Approve, revoke and drain nodes; create join tokens.
    case nodeAdmin = "node:admin"
    /// Create, list and revoke API tokens.
    case tokenAdmin = "token:admin"
    case auditRead = "audit:read"

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses a comma-separated list such as `job:submit,job:read`; `*` means every scope.
    /// Returns the unknown names instead when there are any.
    public static func parseList(_ text: String) -> Result<Set<Scope>, UnknownScopes> {
        var scopes: Set<Scope> = []
        var unknown: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let name = String(item.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            if name == "*" {
                scopes.formUnion(Scope.allCases)
            } else if let scope = Scope(rawValue: name) {
                scopes.insert(scope)
            } else {
                unknown.append(String(name.prefix(64)))
            }
        }
        return unknown.isEmpty ? .success(scopes) : .failure(UnknownScopes(names: unknown))
    }

    public struct UnknownScopes: Error, Sendable, CustomStringConvertible {
        public var names: [String]
        public var description: String {
            "unknown scope\(names.count == 1 ? "" : "s") \(names.map { "\"\($0)\"" }.joined(separator: ", ")); "
                + "known: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")) (or * for all)"
        }
    }
}
