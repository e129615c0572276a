/// Namespaces group jobs by who owns them; a node's policy names the namespaces that may read
/// each of its datasets. A namespace is a DNS label: 1 to 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit.
public enum Namespace {
    public static let maxBytes = 63

    /// What is wrong with `text` as a namespace, or nil when it is one.
    public static func problem(in text: String) -> String? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last else { return "a namespace must not be empty" }
        guard bytes.count <= maxBytes else { return "a namespace is at most \(maxBytes) characters, found \(bytes.count)" }
        func lowerOrDigit(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard bytes.allSatisfy({ lowerOrDigit($0) || $0 == UInt8(ascii: "-") }) else {
            return "a namespace has only lowercase letters, digits and '-'"
        }
        guard lowerOrDigit(first), lowerOrDigit(last) else { return "a namespace starts and ends with a letter or digit" }
        return nil
    }
}
