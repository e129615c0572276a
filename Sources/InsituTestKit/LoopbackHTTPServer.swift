public import Foundation
import Hummingbird
import Logging
import Synchronization

/// A plain HTTP server on 127.0.0.1 for tests: every GET is answered by `respond`, which gets the
/// request path and returns a status, an optional `Location` and a body. Counts the requests it got.
public final class LoopbackHTTPServer: Sendable {
    public struct Reply: Sendable {
        public var status: Int
        /// The `Location` header, for redirects.
        public var location: String?
        public var body: Data
        public init(status: Int, location: String? = nil, body: Data = Data()) {
            self.status = status
            self.location = location
            self.body = body
        }
    }

    public let port: Int
    private let task: Task<Void, any Error>
    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }
    private let hits = Counter()

    public init(_ respond: @escaping @Sendable (String) -> Reply) async throws {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let router = Router(context: BasicRequestContext.self)
        let hits = self.hits
        router.get("**") { request, _ -> Response in
            hits.value.add(1, ordering: .relaxed)
            let reply = respond(request.uri.path)
            var headers = HTTPFields()
            if let location = reply.location { headers[.location] = location }
            return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "loopback"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "loopback-http") { _ in SwiftLogNoOpLogHandler() })
        task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port != 0 else {
            task.cancel()
            throw FakeOrchestratorError("the loopback HTTP server did not start listening")
        }
        self.port = port
    }

    public var url: String { "http://127.0.0.1:\(port)" }
    public var requestCount: Int { hits.value.load(ordering: .relaxed) }

    public func stop() { task.cancel() }
}
