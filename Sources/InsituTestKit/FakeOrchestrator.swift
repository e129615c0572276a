public import Foundation
import Hummingbird
import HummingbirdWebSocket
public import InsituAPI
public import InsituModel
import Crypto
import Logging
import Synchronization

/// A stand-in orchestrator for node tests: it speaks the node protocol over a real WebSocket on
/// loopback, welcomes whatever node dials in, records everything the node sends, and sends the
/// node whatever the test says, including assignments no real orchestrator would produce.
/// It also serves modules registered with ``serveModule(_:)`` at `/v1/modules/{digest}`.
public final class FakeOrchestrator: Sendable {
    private struct State {
        var received: [AgentMessage] = []
        var modules: [String: Data] = [:]
        var connections = 0
    }
    /// Shared with the server's handlers (a Mutex cannot be captured by itself).
    private final class Shared: Sendable {
        let state = Mutex(State())
    }
    private final class Counter: Sendable {
        let value = Atomic<UInt64>(0)
    }
    private let shared = Shared()
    private let outgoing: AsyncStream<OrchestratorMessage>
    private let outgoingContinuation: AsyncStream<OrchestratorMessage>.Continuation
    private let task = Mutex<Task<Void, any Error>?>(nil)
    public let port: Int

    /// Starts listening on 127.0.0.1 at a free port.
    public init() async throws {
        (outgoing, outgoingContinuation) = AsyncStream<OrchestratorMessage>.makeStream()
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let shared = self.shared
        let outgoing = self.outgoing
        let router = Router(context: BasicRequestContext.self)
        router.get("/v1/modules/{digest}") { _, context -> Response in
            let digest = try context.parameters.require("digest")
            guard let bytes = shared.state.withLock({ $0.modules[digest] }) else { return Response(status: .notFound) }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: .init(maxFrameSize: 1 << 20)) { request, _, _ in
                guard request.path == NodeProtocol.path else { return .dontUpgrade }
                return .upgrade([:]) { inbound, outbound, _ in
                    try await Self.session(inbound: inbound, outbound: outbound, shared: shared, outgoing: outgoing)
                }
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-orchestrator"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-orchestrator") { _ in SwiftLogNoOpLogHandler() })
        let running = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port != 0 else {
            running.cancel()
            throw FakeOrchestratorError("the fake orchestrator did not start listening")
        }
        self.port = port
        task.withLock { $0 = running }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Everything nodes sent, in arrival order (the hello included).
    public var received: [AgentMessage] { shared.state.withLock { $0.received } }

    /// How many times a node has connected (and said hello).
    public var connectionCount: Int { shared.state.withLock { $0.connections } }

    /// How many heartbeats nodes have sent so far.
    public var heartbeatCount: Int {
        received.count { if case .heartbeat = $0 { true } else { false } }
    }

    /// The final results received so far.
    public var results: [ExecutionResultMessage] {
        received.compactMap { if case .executionResult(let result) = $0 { return result } else { return nil } }
    }

    /// Sends `message` to the connected node (or to the next one to connect).
    public func send(_ message: OrchestratorMessage) { outgoingContinuation.yield(message) }

    /// Serves `bytes` as a module and returns their digest.
    @discardableResult
    public func serveModule(_ bytes: Data) -> ContentDigest {
        let digest = ContentDigest(rawValue: SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined())!
        shared.state.withLock { $0.modules[digest.rawValue] = bytes }
        return digest
    }

    public func stop() {
        outgoingContinuation.finish()
        task.withLock { $0?.cancel() }
    }

    private static func session(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, shared: Shared,
        outgoing: AsyncStream<OrchestratorMessage>
    ) async throws {
        shared.state.withLock { $0.connections += 1 }
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        let acked = Counter()
        var messages = inbound.messages(maxSize: NodeProtocol.maxMessageBytes).makeAsyncIterator()
        guard let first = try await messages.next(), let hello = decode(first, decoder)?.body, case .hello(let body) = hello else {
            return
        }
        shared.state.withLock { $0.received.append(hello) }
        let welcome = Frame<OrchestratorMessage>(seq: 1, ack: 0, body: .welcome(Welcome(nodeID: body.node.id, heartbeatIntervalMillis: 1000)))
        try await outbound.writeTextMessage(String(decoding: try encoder.encode(welcome), as: UTF8.self))
        // One writer per connection, fed by the test's messages and by the answers to what the
        // node sends. Like the real orchestrator, every frame the node sends is answered with a
        // bare frame carrying the latest acknowledgement: an agent holds a link that stays
        // silent for four heartbeat intervals to be dead and dials again, and work written to
        // the old connection would be lost with it.
        let (writes, writeContinuation) = AsyncStream<OrchestratorMessage?>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in outgoing { writeContinuation.yield(message) }
            }
            group.addTask {
                var seq: UInt64 = 1
                for await message in writes {
                    if message != nil { seq += 1 }
                    let frame = Frame(seq: message == nil ? 0 : seq, ack: acked.value.load(ordering: .relaxed), body: message)
                    try await outbound.writeTextMessage(String(decoding: try encoder.encode(frame), as: UTF8.self))
                }
            }
            // Reader, in this task: the connection lasts as long as the node keeps it open.
            defer {
                writeContinuation.finish()
                group.cancelAll()
            }
            while let message = try await messages.next() {
                guard let frame = decode(message, decoder) else { continue }
                if frame.seq != 0 { acked.value.max(frame.seq, ordering: .relaxed) }
                if let body = frame.body { shared.state.withLock { $0.received.append(body) } }
                writeContinuation.yield(nil)
            }
        }
    }

    private static func decode(_ message: WebSocketMessage, _ decoder: JSONDecoder) -> Frame<AgentMessage>? {
        switch message {
        case .text(let text): try? decoder.decode(Frame<AgentMessage>.self, from: Data(text.utf8))
        case .binary(let buffer): try? decoder.decode(Frame<AgentMessage>.self, from: Data(buffer.readableBytesView))
        }
    }
}

public struct FakeOrchestratorError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
