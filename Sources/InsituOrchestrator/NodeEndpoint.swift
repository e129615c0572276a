import Foundation
import HummingbirdWebSocket
import InsituAPI
import InsituAudit
import InsituAuth
import InsituControlPlane
import InsituModel
import Logging
import Synchronization

/// The WebSocket shell of the node protocol: decodes frames, hands messages to the orchestrator
/// one at a time in arrival order, and acknowledges each once its effects are durable.
final class NodeEndpoint: Sendable {
    let orchestrator: Orchestrator
    let admission: NodeAdmission
    let logger: Logger
    let connectionIDs = Atomic<UInt64>(0)

    /// Frames a connection may send that do not decode before it is closed. A few are tolerated
    /// (a newer agent may send a message this orchestrator does not know); a stream of them is
    /// a broken or hostile node.
    static let maxUndecodableFrames = 16

    init(orchestrator: Orchestrator, admission: NodeAdmission, logger: Logger) {
        self.orchestrator = orchestrator
        self.admission = admission
        self.logger = logger
    }

    /// Serves one node link. `node` is who the connection's certificate says it is (nil in
    /// `--dev`, where nodes name themselves in their hello).
    func handle(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, node: AuthenticatedNode?) async throws {
        let decoder = JSONDecoder()
        var messages = inbound.messages(maxSize: NodeProtocol.maxMessageBytes).makeAsyncIterator()
        guard let first = try await messages.next(), let hello = Self.decodeFrame(first, decoder)?.body,
            case .hello(var helloBody) = hello
        else {
            orchestrator.audit?.record(
                AuditActor(kind: .node), "node.connect", .refused, ["reason": "the first message was not a hello"])
            try await outbound.close(.protocolError, reason: "the first message must be a hello")
            return
        }
        let orchestrator = self.orchestrator
        let audit = orchestrator.audit
        let metrics = orchestrator.metrics
        metrics.nodeMessage("in", "hello")
        if let node {
            // The certificate is the node's identity; a hello that names another node is a node
            // trying to act as one it is not.
            guard helloBody.node.id == node.id else {
                let claimed = String(helloBody.node.id.rawValue.prefix(NodeInfoLimits.maxIdentifierBytes))
                audit?.record(
                    .node(node.id), "node.connect", .refused,
                    ["reason": .string("the hello names node \(claimed) but the certificate is node \(node.id)")])
                try await outbound.close(
                    .policyViolation, reason: Self.closeReason("this connection's certificate is node \(node.id), not \(claimed)"))
                return
            }
            helloBody.node.labels = NodeJoining.labels(advertised: helloBody.node.labels, pinned: node.pinnedLabels)
        }
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
            id: connectionID, enqueue: { continuation.yield(.message($0)) }, close: { continuation.yield(.close($0, failed: false)) })
        let welcome: Welcome
        do {
            welcome = try await orchestrator.nodeConnected(helloBody, connection: connection)
        } catch let problem as NodeInfoProblem {
            logger.warning("refused a node's hello", metadata: ["problem": "\(problem)"])
            audit?.record(.node(nodeID), "node.connect", .refused, ["reason": .string("invalid hello: \(problem)")])
            try await outbound.close(.policyViolation, reason: Self.closeReason("invalid hello: \(problem)"))
            return
        }

        // Revoked while this link was being set up: the revocation's own sweep may have missed it.
        if let node, case .failure(let failure) = await admission.admit(node.id) {
            audit?.record(.node(nodeID), "node.connect", .refused, ["reason": .string(failure.message)])
            try await outbound.close(.policyViolation, reason: Self.closeReason(failure.message))
            await orchestrator.nodeDisconnected(nodeID, connectionID: connectionID)
            return
        }
        audit?.record(.node(nodeID), "node.connect", .ok, Self.auditDetails(helloBody))
        audit?.observe(helloBody.auditHead, from: nodeID)

        // Messages queued in the orchestrator's mailbox, in arrival order, with their numbers.
        let (queued, queuedContinuation) = AsyncStream<(seq: UInt64, pending: Orchestrator.PendingMessage, report: NodeReport)>
            .makeStream()
        await withTaskGroup(of: Void.self) { group in
            // Writer: numbers every outgoing frame and piggybacks the latest acknowledgement.
            group.addTask {
                let encoder = JSONEncoder()
                var seq: UInt64 = 0
                var sentAck: UInt64 = 0
                do {
                    seq += 1
                    try await outbound.writeTextMessage(
                        Self.encodeFrame(Frame(seq: seq, ack: acked.value, body: OrchestratorMessage.welcome(welcome)), encoder))
                    metrics.nodeMessage("out", "welcome")
                    for await item in outgoing {
                        let message: OrchestratorMessage?
                        switch item {
                        case .message(let body):
                            seq += 1
                            message = body
                        case .ack:
                            // Acknowledgements queued in a burst: the first frame carries them all.
                            guard acked.value != sentAck else { continue }
                            message = nil
                        case .heartbeatAnswer:
                            message = nil
                        case .close(let reason, let failed):
                            // The control plane gave up on this link (replaced, or silent past
                            // its heartbeat TTL), or a message was not applied; closing ends the
                            // reader too.
                            try await outbound.close(failed ? .unexpectedServerError : .goingAway, reason: Self.closeReason(reason))
                            return
                        }
                        let frame = Frame(seq: message == nil ? 0 : seq, ack: acked.value, body: message)
                        sentAck = frame.ack
                        try await outbound.writeTextMessage(Self.encodeFrame(frame, encoder))
                        metrics.nodeMessage("out", message?.typeName ?? "ack")
                    }
                } catch {
                    logger.debug("node writer stopped", metadata: ["error": "\(error)"])
                }
            }
            // Acknowledger: collects the queued messages' outcomes in order and acknowledges
            // each once its effects are durable. It stops acknowledging at the first message
            // that was not applied: that one and everything after it are sent again.
            group.addTask {
                var failed = false
                for await (seq, pending, report) in queued {
                    do {
                        let fresh = try await orchestrator.applied(pending)
                        if fresh, case .result(let result) = report { audit?.record(.node(nodeID), result.auditAction, result.auditOutcome, result.auditDetails) }
                    } catch {
                        if !failed {
                            failed = true
                            logger.error(
                                "could not apply a message from the node; closing the connection so it is sent again",
                                metadata: ["seq": "\(seq)", "error": "\(error)"])
                            continuation.yield(.close("message \(seq) was not applied: \(error)", failed: true))
                        }
                        continue
                    }
                    guard !failed else { continue }
                    // Unnumbered frames (heartbeats) are not replayed, so they need no
                    // acknowledgement; each is answered with a bare frame all the same, which is
                    // how the agent tells a live orchestrator from a dead link (`LinkWatch`).
                    guard seq != 0 else {
                        continuation.yield(.heartbeatAnswer)
                        continue
                    }
                    acked.advance(to: seq)
                    continuation.yield(.ack)
                }
                continuation.finish()
            }
            // Reader (in this task): queues messages in arrival order without waiting for their
            // commits, so one drain (one commit) covers every message that arrived meanwhile and
            // the link never lags behind the node.
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
                    metrics.nodeMessage("in", frame.body?.typeName ?? "ack")
                    guard let body = frame.body else { continue }
                    if case .heartbeat(let beat) = body { audit?.observe(beat.auditHead, from: nodeID) }
                    let report: NodeReport
                    do {
                        guard let verified = try orchestrator.report(from: body) else { continue }
                        report = verified
                    } catch {
                        // Not applied, so not acknowledged: closing makes the agent reconnect
                        // and send it again.
                        logger.error(
                            "could not accept a message from the node; closing the connection so it is sent again",
                            metadata: ["seq": "\(frame.seq)", "error": "\(error)"])
                        try await outbound.close(
                            .unexpectedServerError, reason: Self.closeReason("message \(frame.seq) was not applied: \(error)"))
                        break
                    }
                    let pending = await orchestrator.enqueue(report, seq: frame.seq, from: nodeID, connection: connectionID)
                    queuedContinuation.yield((frame.seq, pending, report))
                }
            } catch {
                logger.info("node reader stopped", metadata: ["error": "\(error)"])
            }
            // The acknowledger still collects every queued message, then ends the writer.
            queuedContinuation.finish()
            await group.waitForAll()
        }
        await orchestrator.nodeDisconnected(nodeID, connectionID: connectionID)
        audit?.record(.node(nodeID), "node.disconnect")
    }

    /// What a node said about itself when it connected (validated by then, so bounded).
    static func auditDetails(_ hello: AgentHello) -> [String: AuditValue] {
        var details: [String: AuditValue] = [
            "node": .string(hello.node.id.rawValue), "name": .string(hello.node.name), "version": .string(hello.node.version),
            "datasets": .list(hello.node.datasets.map { .string($0.name) }),
            "engines": .list(hello.node.engines.map { .string($0.rawValue) }),
            "cpu_millis": .int(Int64(hello.node.resources.cpuMillis)), "memory_bytes": .int(hello.node.resources.memoryBytes),
            "labels": .list(hello.node.labels.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") }),
        ]
        if let head = hello.auditHead { details["audit_head"] = AuditTrail.value(head) }
        return details
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
    /// A frame that only carries the latest acknowledgement; skipped if that was sent already.
    case ack
    /// A frame that only carries the latest acknowledgement, always sent: a heartbeat's answer.
    case heartbeatAnswer
    /// Ends the connection: `failed` when a message was not applied (1011, the agent sends it
    /// again), else because the control plane gave up on the link (1001).
    case close(String, failed: Bool)
}

/// The highest agent message number processed on one connection, shared by its reader and writer.
final class AckCounter: Sendable {
    private let highest = Atomic<UInt64>(0)
    var value: UInt64 { highest.load(ordering: .acquiring) }
    func advance(to seq: UInt64) { highest.max(seq, ordering: .acquiringAndReleasing) }
}
