public import InsituModel

/// How long a node may stay silent before the control plane stops trusting it.
public struct LivenessSettings: Sendable, Hashable {
    /// How often agents are asked to send a heartbeat.
    public var heartbeatMillis: Int64
    /// Silence after which a node gets no new work (it is `suspect`).
    public var suspectAfterMillis: Int64
    /// Silence after which the link counts as dead even though the socket is open (heartbeat
    /// TTL): the node is `disconnected` and its connection is closed.
    public var deadAfterMillis: Int64
    /// Time disconnected after which the node is shown as `lost`.
    public var lostAfterMillis: Int64

    public init(heartbeatMillis: Int64 = 5_000, suspectAfterMillis: Int64? = nil, deadAfterMillis: Int64? = nil, lostAfterMillis: Int64 = 600_000) {
        self.heartbeatMillis = heartbeatMillis
        // Two missed heartbeats make a node suspect, four a dead link: one late heartbeat on a
        // slow edge link must not cost a node its work.
        self.suspectAfterMillis = suspectAfterMillis ?? heartbeatMillis * 2
        self.deadAfterMillis = deadAfterMillis ?? heartbeatMillis * 4
        self.lostAfterMillis = lostAfterMillis
    }
}

/// One node's liveness as a pure state machine, fed by hellos, messages, closed sockets and ticks.
///
/// The node's incarnation is the agent's epoch: a new epoch is the same node in a new life (the
/// agent restarted), so work the previous life had in memory may be gone.
public struct NodeHealth: Sendable, Hashable {
    public private(set) var liveness: NodeLiveness
    public private(set) var incarnation: UInt64
    /// The connection the node currently talks on; messages from any other are stale.
    public private(set) var connection: UInt64?
    public private(set) var lastHeard: Timestamp
    /// When the node stopped being reachable (disconnected or lost), else nil.
    public private(set) var downSince: Timestamp?

    /// A node known from the store after a restart: it counts as down from `now`, so every grace
    /// period starts afresh when the orchestrator starts.
    public init(recoveredAt now: Timestamp) {
        liveness = .disconnected
        incarnation = 0
        connection = nil
        lastHeard = now
        downSince = now
    }

    public enum Change: Sendable, Hashable {
        case becameSuspect
        /// Silent past the heartbeat TTL: the shell closes `connection`.
        case linkDead(connection: UInt64)
        case becameLost
    }

    /// A hello on `connection`. Returns whether it starts a new incarnation.
    public mutating func hello(epoch: UInt64, connection: UInt64, at now: Timestamp) -> Bool {
        let restarted = epoch != incarnation
        incarnation = epoch
        self.connection = connection
        liveness = .connected
        lastHeard = now
        downSince = nil
        return restarted
    }

    /// Any message on the current connection: the node is alive.
    public mutating func heard(at now: Timestamp) {
        lastHeard = max(lastHeard, now)
        if liveness == .suspect { liveness = .connected }
    }

    /// The socket of `connection` closed. Returns whether it was the current one (a replaced
    /// connection closing later changes nothing).
    public mutating func closed(connection closed: UInt64, at now: Timestamp) -> Bool {
        guard connection == closed else { return false }
        connection = nil
        liveness = .disconnected
        downSince = now
        return true
    }

    public mutating func tick(at now: Timestamp, settings: LivenessSettings) -> Change? {
        switch liveness {
        case .connected:
            guard now.milliseconds - lastHeard.milliseconds >= settings.suspectAfterMillis else { return nil }
            liveness = .suspect
            return .becameSuspect
        case .suspect:
            guard now.milliseconds - lastHeard.milliseconds >= settings.deadAfterMillis, let current = connection else { return nil }
            connection = nil
            liveness = .disconnected
            downSince = now
            return .linkDead(connection: current)
        case .disconnected:
            guard let downSince, now.milliseconds - downSince.milliseconds >= settings.lostAfterMillis else { return nil }
            liveness = .lost
            return .becameLost
        case .lost:
            return nil
        }
    }

    /// Whether the node can be given work now.
    public var isReachable: Bool { liveness == .connected || liveness == .suspect }
}
