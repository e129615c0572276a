import Hummingbird
import HummingbirdWebSocket

// `floor-server PORT`: GET /health answers "ok"; /ws accepts a WebSocket and reads until it closes.
let port = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8090
let router = Router()
router.get("/health") { _, _ in "ok" }
let app = Application(
    router: router,
    server: .http1WebSocketUpgrade { request, _, _ in
        guard request.path == "/ws" else { return .dontUpgrade }
        return .upgrade([:]) { inbound, _, _ in
            for try await _ in inbound {}
        }
    },
    configuration: .init(address: .hostname("127.0.0.1", port: port))
)
try await app.runService()
