/// A `HOST:PORT` a daemon listens on (`--metrics-listen`, `metrics_listen`): an IPv4 address, a
/// host name, or an IPv6 address in brackets (`[::1]:9100`); port 0 picks a free one.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }), port.allSatisfy(\.isASCII),
            let number = Int(port), (0...65_535).contains(number)
        else { return nil }
        self.host = String(host)
        self.port = number
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// What to say about a value that is not an address.
    public static func problem(_ text: String) -> String {
        "\"\(text)\" is not HOST:PORT with a port from 0 to 65535, like 127.0.0.1:9100 or [::1]:9100"
    }
}
