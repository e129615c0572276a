/// Decides when the agent gives up on its link to the orchestrator. A socket can stay open long
/// after the other side stopped answering (a NAT or firewall dropped the flow, the orchestrator's
/// host froze, its process was stopped), and TCP only notices after many minutes of
/// retransmissions, if ever. Meanwhile the node's reports wait and the orchestrator, which sees
/// the same silence, replaces its work. So the agent holds the orchestrator to the same rule the
/// orchestrator holds nodes to: a welcome must arrive within `handshakeTimeout` of the session
/// opening, and after it, something (a message or the acknowledgement every heartbeat is
/// answered with) at least every `silenceLimitFactor` heartbeat intervals.
///
/// Pure: time comes in as arguments, so the rule is tested without waiting.
struct LinkWatch: Sendable {
    enum Verdict: Equatable {
        /// Nothing to do before this instant.
        case alive(until: ContinuousClock.Instant)
        /// Give up on the link, for this reason.
        case dead(String)
    }

    /// Heartbeat intervals of silence after which the link counts as dead: the same TTL the
    /// orchestrator applies to nodes, so neither side outlives the other's patience by much.
    static let silenceLimitFactor = 4

    private var deadline: ContinuousClock.Instant
    private var silenceLimit: Duration?
    private let handshakeTimeout: Duration

    init(openedAt: ContinuousClock.Instant, handshakeTimeout: Duration) {
        self.handshakeTimeout = handshakeTimeout
        self.deadline = openedAt + handshakeTimeout
    }

    /// The orchestrator welcomed the node and asked for a heartbeat every `heartbeat`.
    mutating func welcomed(heartbeat: Duration, at now: ContinuousClock.Instant) {
        silenceLimit = heartbeat * Self.silenceLimitFactor
        heard(at: now)
    }

    /// A frame arrived. Before the welcome only the welcome itself counts: an orchestrator that
    /// accepts the socket but never registers the node is as useless as a silent one.
    mutating func heard(at now: ContinuousClock.Instant) {
        guard let silenceLimit else { return }
        deadline = now + silenceLimit
    }

    func verdict(at now: ContinuousClock.Instant) -> Verdict {
        guard now >= deadline else { return .alive(until: deadline) }
        if let silenceLimit {
            return .dead("the orchestrator has been silent for \(Self.describe(silenceLimit))")
        }
        return .dead("no welcome from the orchestrator within \(Self.describe(handshakeTimeout)) of connecting")
    }

    private static func describe(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(millis)ms"
    }
}
