public import Foundation
import HummingbirdWSClient
public import InsituAPI
public import InsituModel
import Logging
import NIOWebSocket
public import NIOSSL

/// A compute node played by a test: a real WebSocket client that speaks the node protocol to a
/// real orchestrator, and can also send what no honest agent would (crafted hellos, malformed
/// frames, reports for other nodes' executions).
public enum FakeNode {
    /// A node info that passes validation; tests change the fields they are about.
    public static func info(id: NodeID, cpuMillis: Int = 4000, memoryBytes: Int64 = 8 << 30) -> NodeInfo {
        NodeInfo(id: id, name: id.rawValue, resources: Resources(cpuMillis: cpuMillis, memoryBytes: memoryBytes))
    }

    /// How a connection ended: the WebSocket close code (1008 policy violation, 1002 protocol
    /// error, ...) and reason, when a close frame was exchanged.
    public struct Close: Sendable {
        public var code: Int
        public var reason: String?
    }

    /// Dials `api` (the orchestrator's `http://` or `https://` address, with `tls` for the
    /// latter: the trusted CA and the client certificate the fake node presents, if any, and the
    /// `serverName` to verify when `api` names an IP address), sends
    /// `hello` as the first frame and runs `script` on the open link. Returns how the connection
    /// was closed.
    @discardableResult
    public static func connect(
        api: String, hello: AgentHello, tls: TLSConfiguration? = nil, serverName: String? = nil,
        script: @escaping @Sendable (FakeNodeLink) async throws -> Void
    ) async throws -> Close? {
        let url = api.replacingOccurrences(of: "http", with: "ws", options: .anchored) + NodeProtocol.path
        let frame = try await WebSocketClient.connect(
            url: url, configuration: .init(maxFrameSize: NodeProtocol.maxMessageBytes, sniHostname: serverName), tlsConfiguration: tls,
            logger: Logger(label: "fake-node") { _ in SwiftLogNoOpLogHandler() }
        ) { inbound, outbound, _ in
            let link = FakeNodeLink(inbound: inbound, outbound: outbound)
            try await link.sendFrame(Frame(seq: 0, ack: 0, body: .hello(hello)))
            try await script(link)
        }
        return frame.map { Close(code: Int(UInt16(webSocketErrorCode: $0.closeCode)), reason: $0.reason) }
    }
}

/// One open connection of a `FakeNode`. Unchecked Sendable because the script is handed it
/// across a `@Sendable` boundary; it is only ever used from the script's own task.
public final class FakeNodeLink: @unchecked Sendable {
    private var messages: WebSocketInboundMessageStream.AsyncIterator
    private let outbound: WebSocketOutboundWriter
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()
    private var nextSeq: UInt64 = 1
    /// Everything the orchestrator sent, in order (acknowledgement-only frames excluded).
    public private(set) var received: [OrchestratorMessage] = []
    /// The highest of this node's message numbers the orchestrator acknowledged.
    public private(set) var acknowledged: UInt64 = 0
    /// Frames that carried only an acknowledgement (no message).
    public private(set) var bareAcknowledgements = 0
    /// Whether the orchestrator ended the connection.
    public private(set) var closed = false

    init(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) {
        self.messages = inbound.messages(maxSize: NodeProtocol.maxMessageBytes).makeAsyncIterator()
        self.outbound = outbound
    }

    public var welcome: Welcome? {
        received.lazy.compactMap { if case .welcome(let welcome) = $0 { welcome } else { nil } }.first
    }

    public var assignments: [ExecutionAssignment] {
        received.compactMap { if case .runExecution(let assignment) = $0 { assignment } else { nil } }
    }

    /// Sends `body` as the next numbered message and returns its number.
    @discardableResult
    public func send(_ body: AgentMessage) async throws -> UInt64 {
        let seq = nextSeq
        nextSeq += 1
        try await sendFrame(Frame(seq: seq, ack: 0, body: body))
        return seq
    }

    public func sendFrame(_ frame: Frame<AgentMessage>) async throws {
        try await sendText(String(decoding: try encoder.encode(frame), as: UTF8.self))
    }

    /// Sends raw text, which need not be a frame at all.
    public func sendText(_ text: String) async throws {
        try await outbound.writeTextMessage(text)
    }

    /// Reads from the orchestrator until `condition` holds. Returns false if the orchestrator
    /// closed the connection first.
    @discardableResult
    public func read(until condition: (FakeNodeLink) -> Bool) async throws -> Bool {
        while !condition(self) {
            guard let message = try await messages.next() else {
                closed = true
                return false
            }
            let data: Data
            switch message {
            case .text(let text): data = Data(text.utf8)
            case .binary(let buffer): data = Data(buffer.readableBytesView)
            }
            let frame = try decoder.decode(Frame<OrchestratorMessage>.self, from: data)
            acknowledged = max(acknowledged, frame.ack)
            if let body = frame.body { received.append(body) } else { bareAcknowledgements += 1 }
        }
        return true
    }

    /// Reads until the orchestrator closes the connection.
    public func readUntilClosed() async throws {
        _ = try await read { _ in false }
    }
}
