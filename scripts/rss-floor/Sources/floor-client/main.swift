import AsyncHTTPClient
import Glibc
import HummingbirdWSClient
import Logging

// `floor-client PORT`: GET /health from floor-server, then hold a WebSocket to it open, idle. Says
// it is ready (unbuffered) once the WebSocket is open.
let port = CommandLine.arguments.dropFirst().first ?? "8090"
_ = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/health").get()
_ = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/ws", logger: Logger(label: "floor-client")) { inbound, _, _ in
    _ = write(1, "ready\n", 6)
    for try await _ in inbound {}
}
