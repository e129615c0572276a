import InsituAPI

/// Messages from the agent to the orchestrator that must arrive at least once. Each gets a
/// number when queued and stays until the orchestrator acknowledges it, so a message queued
/// while disconnected, or sent just before a link dropped, is sent again on the next connection.
/// Unnumbered messages (heartbeats, acknowledgements) are sent once, only while connected.
actor Outbox {
    private var nextSeq: UInt64 = 1
    private var pending: [(seq: UInt64, message: AgentMessage)] = []
    private var ephemeral: [AgentMessage?] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private(set) var lastReceivedSeq: UInt64 = 0

    func send(_ message: AgentMessage) {
        pending.append((nextSeq, message))
        nextSeq += 1
        wake()
    }

    /// Queues an unnumbered message; nil queues a bare acknowledgement.
    func sendOnce(_ message: AgentMessage?) {
        ephemeral.append(message)
        wake()
    }

    func acknowledge(upTo seq: UInt64) {
        pending.removeAll { $0.seq <= seq }
    }

    func received(_ seq: UInt64) {
        lastReceivedSeq = max(lastReceivedSeq, seq)
    }

    var unacknowledgedCount: Int { pending.count }

    /// Waits for frames to send after `sentUpTo` (numbered ones still unacknowledged, plus
    /// unnumbered ones), or returns an empty list if the task is cancelled.
    func next(after sentUpTo: UInt64) async -> [Frame<AgentMessage>] {
        while !Task.isCancelled {
            let numbered = pending.filter { $0.seq > sentUpTo }
            if !numbered.isEmpty || !ephemeral.isEmpty {
                let once = ephemeral
                ephemeral.removeAll()
                let ack = lastReceivedSeq
                return once.map { Frame(seq: 0, ack: ack, body: $0) } + numbered.map { Frame(seq: $0.seq, ack: ack, body: $0.message) }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    if Task.isCancelled { continuation.resume() } else { waiter = continuation }
                }
            } onCancel: {
                Task { await self.wake() }
            }
        }
        return []
    }

    /// Drops queued unnumbered messages when a connection ends: they are not worth replaying.
    func connectionEnded() {
        ephemeral.removeAll()
    }

    private func wake() {
        waiter?.resume()
        waiter = nil
    }
}
