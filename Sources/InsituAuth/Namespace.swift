/// A namespace isolates jobs, their logs and results: a token sees only its own namespace's.
public enum Namespace {
    public static let `default` = "default"
    /// Held only by tokens that may act in every namespace (the bootstrap admin token).
    public static let all = "*"
    public static let maxLength = 63

    /// Why `name` is not a namespace name, or nil when it is one: 1 to 63 lowercase letters,
    /// digits and `-`, starting with a letter or digit (a DNS label, as Kubernetes namespaces).
    public static func problem(with name: String) -> String? {
        let bytes = Array(name.utf8)
        guard (1...maxLength).contains(bytes.count) else {
            return "a namespace is 1 to \(maxLength) characters long"
        }
        func allowed(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard allowed(bytes[0]), bytes.allSatisfy({ allowed($0) || $0 == UInt8(ascii: "-") }) else {
            return "a namespace has only lowercase letters, digits and '-', and starts with a letter or digit"
        }
        return nil
    }
}
