import Crypto
public import InsituModel

/// Who did something: a caller of the API (anonymous until API tokens exist, then the token's
/// ID and namespace), a node (its ID), the orchestrator (on a node: whoever sent it an
/// assignment), or the process itself (`system`).
public struct AuditActor: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case anonymous, token, node, orchestrator, system
    }

    public var kind: Kind
    public var id: String?
    public var namespace: String?

    public init(kind: Kind, id: String? = nil, namespace: String? = nil) {
        self.kind = kind
        self.id = id
        self.namespace = namespace
    }

    public static let anonymous = AuditActor(kind: .anonymous)
    public static let system = AuditActor(kind: .system)
    public static let orchestrator = AuditActor(kind: .orchestrator)
    public static func node(_ id: NodeID) -> AuditActor { AuditActor(kind: .node, id: id.rawValue) }

    var value: AuditValue {
        var members: [String: AuditValue] = ["kind": .string(kind.rawValue)]
        if let id { members["id"] = .string(id) }
        if let namespace { members["namespace"] = .string(namespace) }
        return .object(members)
    }

    init?(_ value: AuditValue) {
        guard case .object(let members) = value, case .string(let kindText)? = members["kind"],
            let kind = Kind(rawValue: kindText), Set(members.keys).isSubset(of: ["kind", "id", "namespace"])
        else { return nil }
        self.kind = kind
        switch members["id"] {
        case nil: id = nil
        case .string(let text)?: id = text
        default: return nil
        }
        switch members["namespace"] {
        case nil: namespace = nil
        case .string(let text)?: namespace = text
        default: return nil
        }
    }
}

/// How an audited action ended.
public enum AuditOutcome: String, Hashable, Sendable, CaseIterable {
    /// Done as asked.
    case ok
    /// Refused: authentication, authorisation, policy or validation said no.
    case refused
    /// Attempted and failed.
    case failed
    /// Something an operator must look at (a node's audit log was rewritten).
    case alert
}

/// What happened, before it is chained: what the shells hand to the audit log.
public struct AuditEvent: Hashable, Sendable {
    public var time: Timestamp
    public var actor: AuditActor
    /// A dotted name such as `job.submit`, `request.refused`, `execution.admit`.
    public var action: String
    public var outcome: AuditOutcome
    /// What it was about: IDs, digests, sizes, names, a reason. Never secret values.
    public var details: [String: AuditValue]

    public init(time: Timestamp, actor: AuditActor, action: String, outcome: AuditOutcome = .ok, details: [String: AuditValue] = [:]) {
        self.time = time
        self.actor = actor
        self.action = action
        self.outcome = outcome
        self.details = details
    }
}

/// An entry of the log: an event with its place in the chain.
///
/// `hash` is `SHA-256(prev's 32 bytes || canonical body)`, where the body is the entry's canonical
/// JSON without its `hash` member (so it holds `seq` and `prev` too). Line N of a log holds the
/// entry with `seq` N, and its `prev` is the hash of line N-1 (64 zeros for line 1).
public struct AuditEntry: Hashable, Sendable {
    public var seq: UInt64
    public var prev: String
    public var event: AuditEvent
    public var hash: String

    public var head: AuditHead { AuditHead(seq: seq, hash: hash) }

    /// The chain's start: the `prev` of the first entry.
    public static let genesis = String(repeating: "0", count: 64)

    /// Chains `event` after `head` (nil: the first entry), bounding every field first
    /// (`AuditLimits`).
    public init(after head: AuditHead?, event: AuditEvent) {
        self.seq = (head?.seq ?? 0) &+ 1
        self.prev = head?.hash ?? Self.genesis
        self.event = AuditLimits.bounded(event)
        self.hash = ""
        self.hash = computedHash()
    }

    init(seq: UInt64, prev: String, event: AuditEvent, hash: String) {
        self.seq = seq
        self.prev = prev
        self.event = event
        self.hash = hash
    }

    /// The hash this entry's content and `prev` call for (which `hash` holds unless edited).
    public func computedHash() -> String {
        var input = Hex.decode(prev) ?? []
        input += body.canonicalJSON()
        return Hex.encode(Array(SHA256.hash(data: input)))
    }

    /// The entry's line, newline included: what the log file holds.
    public var line: [UInt8] {
        guard case .object(var members) = body else { return [] }
        members["hash"] = .string(hash)
        return AuditValue.object(members).canonicalJSON() + [UInt8(ascii: "\n")]
    }

    var body: AuditValue {
        var members: [String: AuditValue] = [
            "seq": .int(Int64(clamping: seq)), "prev": .string(prev), "time": .int(event.time.milliseconds),
            "actor": event.actor.value, "action": .string(event.action), "outcome": .string(event.outcome.rawValue),
        ]
        if !event.details.isEmpty { members["details"] = .object(event.details) }
        return .object(members)
    }

    /// Reads an entry back from a decoded line; nil when it does not have the entry's shape.
    init?(_ value: AuditValue) {
        guard case .object(let members) = value,
            Set(members.keys).isSubset(of: ["seq", "prev", "time", "actor", "action", "outcome", "details", "hash"]),
            case .int(let seq)? = members["seq"], seq > 0, case .string(let prev)? = members["prev"],
            case .int(let time)? = members["time"], let actor = members["actor"].flatMap(AuditActor.init),
            case .string(let action)? = members["action"], case .string(let outcomeText)? = members["outcome"],
            let outcome = AuditOutcome(rawValue: outcomeText), case .string(let hash)? = members["hash"]
        else { return nil }
        var details: [String: AuditValue] = [:]
        switch members["details"] {
        case nil: break
        case .object(let object)?: details = object
        default: return nil
        }
        self.init(
            seq: UInt64(seq), prev: prev,
            event: AuditEvent(time: Timestamp(milliseconds: time), actor: actor, action: action, outcome: outcome, details: details),
            hash: hash)
    }
}

/// Lowercase hex, both ways.
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil unless `text` is an even number of lowercase hex digits.
    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    static func isDigest(_ text: String) -> Bool { text.utf8.count == 64 && decode(text) != nil }
}
