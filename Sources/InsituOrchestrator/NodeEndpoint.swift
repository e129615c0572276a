import Foundation
import HummingbirdWebSocket
import InsituAPI
import InsituModel
import Logging
import Synchronization

/// The WebSocket shell of the node protocol: decodes frames, hands messages to the orchestrator
/// one at a time in arrival order, and acknowledges each once its effects are durable.
final class NodeEndpoint: Sendable {
    let orchestrator: Orchestrator
    let logger: Logger
    let connectionIDs = Atomic<UInt64>(0)

    /// Frames a connection may send that do not decode before it is closed. A few are tolerated
    /// (a newer agent may send a message this orchestrator does not know); a stream of them is
    /// a broken or hostile node.
    static let maxUndecodableFrames = 16

    init(orchestrator: Orchestrator, logger: Logger) {
        self.orchestrator = orchestrator
        self.logger = logger
    }

    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let decoder = JSONDecoder()
        var messages = inbound.messages(maxSize: NodeProtocol.maxMessageBytes).makeAsyncIterator()
        guard let first = try await messages.next(), let hello = Self.decodeFrame(first, decoder)?.body,
            case .hello(let helloBody) = hello
        else {
            try await outbound.close(.protocolError, reason: "the first message must be a hello")
            return
        }
        let orchestrator = self.orchestrator
        let nodeID = helloBody.node.id
        let logger: Logger = {
            var logger = self.logger
            logger[metadataKey: "node"] = "\(nodeID.rawValue.prefix(NodeInfoLimits.maxIdentifierBytes))"
            return logger
        }()
        let connectionID = connectionIDs.add(1, ordering: .relaxed).newValue
        let (outgoing, continuation) = AsyncStream<Outgoing>.makeStream()
        let acked = AckCounter()
        let connection = NodeConnection(
            id: connectionID, enqueue: { continuation.yield(.message($0)) }, close: { continuation.yield(.close($0)) })
        let welcome: Welcome
        do {
            welcome = try await orchestrator.nodeConnected(helloBody, connection: connection)
        } catch let problem as NodeInfoProblem {
            logger.warning("refused a node's hello", metadata: ["problem": "\(problem)"])
            try await outbound.close(.policyViolation, reason: Self.closeReason("invalid hello: \(problem)"))
            return
        }

        await withTaskGroup(of: Void.self) { group in
            // Writer: numbers every outgoing frame and piggybacks the latest acknowledgement.
            group.addTask {
                let encoder = JSONEncoder()
                var seq: UInt64 = 0
                do {
                    seq += 1
                    try await outbound.writeTextMessage(
                        Self.encodeFrame(Frame(seq: seq, ack: acked.value, body: OrchestratorMessage.welcome(welcome)), encoder))
                    for await item in outgoing {
                        let message: OrchestratorMessage?
                        switch item {
                        case .message(let body):
                            seq += 1
                            message = body
                        case .ack:
                            message = nil
                        case .close(let reason):
                            // The control plane gave up on this link (replaced, or silent past
                            // its heartbeat TTL); closing ends the reader too.
                            try await outbound.close(.goingAway, reason: Self.closeReason(reason))
                            return
                        }
                        let frame = Frame(seq: message == nil ? 0 : seq, ack: acked.value, body: message)
                        try await outbound.writeTextMessage(Self.encodeFrame(frame, encoder))
                    }
                } catch {
                    logger.debug("node writer stopped", metadata: ["error": "\(error)"])
                }
            }
            // Reader (in this task): applies messages in order; acknowledges each once durable.
            var undecodable = 0
            do {
                while let message = try await messages.next() {
                    guard let frame = Self.decodeFrame(message, decoder) else {
                        undecodable += 1
                        logger.warning("undecodable frame from node", metadata: ["count": "\(undecodable)"])
                        if undecodable >= Self.maxUndecodableFrames {
                            try await outbound.close(
                                .protocolError,
                                reason: "\(undecodable) undecodable frames on this connection; closing it")
                            break
                        }
                        continue
                    }
                    guard let body = frame.body else { continue }
                    do {
                        try await orchestrator.receive(body, seq: frame.seq, from: nodeID, connection: connectionID)
                        // Unnumbered frames (heartbeats) are not replayed, so they need no
                        // duplicate filter; each is answered with a bare acknowledgement, which
                        // is how the agent tells a live orchestrator from a dead link (`LinkWatch`).
                        guard frame.seq != 0 else {
                            continuation.yield(.ack)
                            continue
                        }
                    } catch {
                        // Not applied, so not acknowledged: closing makes the agent reconnect
                        // and send it again.
                        logger.error(
                            "could not apply a message from the node; closing the connection so it is sent again",
                            metadata: ["seq": "\(frame.seq)", "error": "\(error)"])
                        try await outbound.close(
                            .unexpectedServerError, reason: Self.closeReason("message \(frame.seq) was not applied: \(error)"))
                        break
                    }
                    acked.advance(to: frame.seq)
                    continuation.yield(.ack)
                }
            } catch {
                logger.info("node reader stopped", metadata: ["error": "\(error)"])
            }
            continuation.finish()
            await group.waitForAll()
        }
        await orchestrator.nodeDisconnected(nodeID, connectionID: connectionID)
    }

    static func decodeFrame(_ message: WebSocketMessage, _ decoder: JSONDecoder) -> Frame<AgentMessage>? {
        switch message {
        case .text(let text): return try? decoder.decode(Frame<AgentMessage>.self, from: Data(text.utf8))
        case .binary(let buffer): return try? decoder.decode(Frame<AgentMessage>.self, from: Data(buffer.readableBytesView))
        }
    }

    /// A close frame's reason is limited to 123 bytes of UTF-8; longer ones are cut at a
    /// character boundary.
    static func closeReason(_ text: String) -> String {
        guard text.utf8.count > 123 else { return text }
        var reason = ""
        for character in text {
            guard reason.utf8.count + String(character).utf8.count <= 123 else { break }
            reason.append(character)
        }
        return reason
    }

    static func encodeFrame(_ frame: Frame<OrchestratorMessage>, _ encoder: JSONEncoder) throws -> String {
        String(decoding: try encoder.encode(frame), as: UTF8.self)
    }
}

/// What the writer of one node connection sends next.
enum Outgoing: Sendable {
    case message(OrchestratorMessage)
    /// A frame that only carries the latest acknowledgement.
    case ack
    case close(String)
}

/// The highest agent message number processed on one connection, shared by its reader and writer.
final class AckCounter: Sendable {
    private let highest = Atomic<UInt64>(0)
    var value: UInt64 { highest.load(ordering: .acquiring) }
    func advance(to seq: UInt64) { highest.max(seq, ordering: .acquiringAndReleasing) }
}
