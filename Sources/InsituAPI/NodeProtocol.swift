import Foundation
public import InsituModel

/// The node protocol: compute nodes dial out to the orchestrator over one WebSocket
/// (`/v1/node/connect`) and exchange JSON `Frame`s.
///
/// Delivery: each side numbers the messages it sends (`seq`, from 1, per sender and per
/// connection epoch) and acknowledges the highest number it has processed from the other side
/// (`ack`). An agent keeps every unacknowledged message and sends it again after reconnecting;
/// the orchestrator treats repeats idempotently (state transitions that already happened are
/// ignored, a partition's result is accepted once). What the orchestrator wants a node to run is
/// re-sent from its durable state after every reconnect, so it needs no outbox of its own.
public struct Frame<Body: Codable & Sendable>: Codable, Sendable {
    public var seq: UInt64
    public var ack: UInt64
    /// Nil for a frame that only carries an acknowledgement.
    public var body: Body?

    public init(seq: UInt64, ack: UInt64, body: Body?) {
        self.seq = seq
        self.ack = ack
        self.body = body
    }
}

public enum AgentMessage: Codable, Sendable {
    /// First message on every connection.
    case hello(AgentHello)
    case heartbeat(Heartbeat)
    case executionUpdate(ExecutionUpdate)
    case executionOutput(ExecutionOutput)
    case executionResult(ExecutionResultMessage)
}

public enum OrchestratorMessage: Codable, Sendable {
    case welcome(Welcome)
    case runExecution(ExecutionAssignment)
    case cancelExecution(CancelExecution)
}

public struct AgentHello: Codable, Sendable {
    public var node: NodeInfo
    /// Identifies one run of the agent process. Message numbers restart when it changes, so the
    /// orchestrator resets its duplicate filter for the node.
    public var epoch: UInt64
    /// Executions the node is running or holds unreported results for, so the orchestrator can
    /// reconcile after either side restarted.
    public var knownExecutions: [ExecutionID]
    /// The newest entry of the node's audit log, so the orchestrator can tell when that log was
    /// rewritten. Nil from agents that predate the audit log.
    public var auditHead: AuditHead?
    public init(node: NodeInfo, epoch: UInt64, knownExecutions: [ExecutionID], auditHead: AuditHead? = nil) {
        self.node = node
        self.epoch = epoch
        self.knownExecutions = knownExecutions
        self.auditHead = auditHead
    }
}

public struct Welcome: Codable, Sendable {
    public var nodeID: NodeID
    public var heartbeatIntervalMillis: Int64
    public init(nodeID: NodeID, heartbeatIntervalMillis: Int64) {
        self.nodeID = nodeID
        self.heartbeatIntervalMillis = heartbeatIntervalMillis
    }
}

public struct Heartbeat: Codable, Sendable {
    public var runningExecutions: [ExecutionID]
    /// As in `AgentHello`: the node's audit head now. Nil from agents that predate it.
    public var auditHead: AuditHead?
    public init(runningExecutions: [ExecutionID], auditHead: AuditHead? = nil) {
        self.runningExecutions = runningExecutions
        self.auditHead = auditHead
    }
}

/// Work for a node: everything it needs except the module bytes, which it fetches by digest
/// (`GET /v1/modules/{digest}`) or from the spec's URL, and verifies.
public struct ExecutionAssignment: Codable, Sendable {
    public var executionID: ExecutionID
    public var jobID: JobID
    public var partition: Int
    public var spec: JobSpec
    public init(executionID: ExecutionID, jobID: JobID, partition: Int, spec: JobSpec) {
        self.executionID = executionID
        self.jobID = jobID
        self.partition = partition
        self.spec = spec
    }
}

public struct CancelExecution: Codable, Sendable {
    public var executionID: ExecutionID
    public var reason: String
    public init(executionID: ExecutionID, reason: String) {
        self.executionID = executionID
        self.reason = reason
    }
}

/// A non-final state change observed on the node (e.g. started running).
public struct ExecutionUpdate: Codable, Sendable {
    public var executionID: ExecutionID
    public var state: ExecutionState
    public var reason: String?
    public init(executionID: ExecutionID, state: ExecutionState, reason: String? = nil) {
        self.executionID = executionID
        self.state = state
        self.reason = reason
    }
}

public struct ExecutionOutput: Codable, Sendable {
    public var executionID: ExecutionID
    public var stream: String
    public var text: String
    /// Where `text` starts in the execution's stream, in UTF-8 bytes of text shipped before it.
    /// A replay of a chunk the orchestrator already stored (its acknowledgement was lost) is then
    /// dropped instead of appearing twice in the log. Nil from agents that predate it.
    public var offset: Int64?
    public init(executionID: ExecutionID, stream: String, text: String, offset: Int64? = nil) {
        self.executionID = executionID
        self.stream = stream
        self.text = text
        self.offset = offset
    }

    private enum CodingKeys: String, CodingKey {
        case executionID, stream, text, base64, offset
    }

    /// The text travels as `text`, or as `base64` of its UTF-8 when that is shorter: JSON escapes
    /// each control character as six bytes, so output of raw bytes would otherwise grow sixfold.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(executionID, forKey: .executionID)
        try container.encode(stream, forKey: .stream)
        try container.encodeIfPresent(offset, forKey: .offset)
        let utf8 = Array(text.utf8)
        if Self.escapedLength(utf8) > (utf8.count + 2) / 3 * 4 {
            try container.encode(Data(utf8).base64EncodedString(), forKey: .base64)
        } else {
            try container.encode(text, forKey: .text)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        executionID = try container.decode(ExecutionID.self, forKey: .executionID)
        stream = try container.decode(String.self, forKey: .stream)
        offset = try container.decodeIfPresent(Int64.self, forKey: .offset)
        if let encoded = try container.decodeIfPresent(String.self, forKey: .base64) {
            guard let bytes = Data(base64Encoded: encoded) else {
                throw DecodingError.dataCorruptedError(forKey: .base64, in: container, debugDescription: "not valid base64")
            }
            text = String(decoding: bytes, as: UTF8.self)
        } else {
            text = try container.decode(String.self, forKey: .text)
        }
    }

    /// Bytes JSON needs for `utf8` inside a string, escapes included.
    static func escapedLength(_ utf8: [UInt8]) -> Int {
        utf8.reduce(0) { total, byte in
            switch byte {
            case 0x08, 0x09, 0x0A, 0x0C, 0x0D, UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): total + 2
            case 0x00..<0x20: total + 6
            default: total + 1
            }
        }
    }
}

/// A file carried in a result, base64 in JSON.
public struct ResultFilePayload: Codable, Sendable {
    /// Relative path in the result: `stdout`, `stderr` or `outputs/<name>/<file>`.
    public var path: String
    public var base64: String
    /// Lowercase hex SHA-256 of the file. Plain text on purpose: a malformed digest must fail
    /// the execution it belongs to, so the frame carrying it has to decode (see `digest`).
    public var sha256: String
    public init(path: String, base64: String, sha256: ContentDigest) {
        self.init(path: path, base64: base64, sha256Text: sha256.rawValue)
    }
    /// For tests that send a malformed digest.
    public init(path: String, base64: String, sha256Text: String) {
        self.path = path
        self.base64 = base64
        self.sha256 = sha256Text
    }
    /// The digest, or nil when `sha256` is not 64 lowercase hex digits.
    public var digest: ContentDigest? { ContentDigest(rawValue: sha256) }
}

/// The final report of an execution: its state and everything it produced.
public struct ExecutionResultMessage: Codable, Sendable {
    public var executionID: ExecutionID
    /// One of the terminal execution states.
    public var state: ExecutionState
    public var exitCode: Int32?
    public var reason: String?
    public var files: [ResultFilePayload]
    public init(executionID: ExecutionID, state: ExecutionState, exitCode: Int32?, reason: String?, files: [ResultFilePayload]) {
        self.executionID = executionID
        self.state = state
        self.exitCode = exitCode
        self.reason = reason
        self.files = files
    }
}

public enum NodeProtocol {
    public static let path = "/v1/node/connect"
    /// Largest message either side accepts; results above it are refused by the agent itself.
    public static let maxMessageBytes = 32 << 20
}
