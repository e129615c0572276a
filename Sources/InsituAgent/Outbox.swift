import Foundation
import InsituAPI
import InsituModel
import Logging
import Synchronization

/// Messages from the agent to the orchestrator that must arrive at least once. Each is stored in
/// the agent's store, then numbered and queued, and stays until the orchestrator acknowledges it,
/// so a message queued while disconnected, sent just before a link dropped, or queued before the
/// agent was killed, is sent again on the next connection. Unnumbered messages (heartbeats,
/// acknowledgements) are sent once, only while connected, and never stored.
///
/// Numbering across a restart: the agent draws a new random epoch every time it starts, and the
/// stored messages are numbered again from 1 in the order they were queued. The orchestrator
/// keeps its duplicate filter (`lastAppliedSeq`) per incarnation and resets it when the epoch
/// changes, so every stored message is applied again, including ones it had applied before the
/// agent died but whose acknowledgement was lost. That replay is harmless because each message is
/// idempotent on the orchestrator: a state change that already happened is ignored, a result for
/// an execution that is already terminal is never accepted twice, and output carries its byte
/// offset so a chunk already stored is dropped. The orchestrator relies on the same idempotence
/// after its own restart (its filter lives in memory). Persisting the epoch and the counter
/// instead would make the filter itself skip those replays, but a counter that ever went back (a
/// data directory restored from a backup or copied to a new machine) would make fresh messages
/// look like repeats and be dropped silently: a lost result. A new epoch can only cause replays,
/// which are safe.
actor Outbox {
    private struct Entry {
        var seq: UInt64
        var message: AgentMessage
        /// Where the message is stored; nil if storing it failed (it is still sent, once).
        var position: Int64?
    }

    nonisolated let store: AgentStore
    private let logger: Logger
    private var nextSeq: UInt64 = 1
    private var pending: [Entry] = []
    private var ephemeral: [AgentMessage?] = []
    private let wakeup = Wakeup()
    private(set) var lastReceivedSeq: UInt64 = 0

    /// An outbox holding what `store` kept from before the restart, numbered from 1.
    init(store: AgentStore, stored: [AgentStore.StoredMessage] = [], logger: Logger = Logger(label: "insitu.agent.outbox")) {
        self.store = store
        self.logger = logger
        for entry in stored {
            pending.append(Entry(seq: nextSeq, message: entry.message, position: entry.position))
            nextSeq += 1
        }
    }

    /// Stores `message`, then queues it for sending: a report is durable before the orchestrator
    /// can see it. If the store fails (disk full) the message is still sent rather than lost,
    /// and the failure is logged: it would then not survive a restart of the agent.
    func send(_ message: AgentMessage) async {
        guard let message = Self.fitting(message) else { return }
        var position: Int64?
        do {
            // Numbered once stored. Sends stored in one group commit may be numbered in either
            // order; they are about different executions, since one execution's messages are sent
            // one after the other.
            position = try await store.append(message)
        } catch {
            logger.error(
                "cannot store a message for the orchestrator; it is sent but will not survive a restart of this agent",
                metadata: ["error": "\(error)"])
        }
        pending.append(Entry(seq: nextSeq, message: message, position: position))
        nextSeq += 1
        wakeup.signal()
    }

    /// `message`, or what replaces it when its frame would exceed `limit`: the orchestrator
    /// closes a link on such a frame, and since the message stays unacknowledged it would be
    /// sent again after every reconnect, cutting the node off for good. A result too large
    /// becomes a failed result that says so; anything else too large is dropped (live output is
    /// already cut into small messages, so this only guards against a bug).
    static func fitting(_ message: AgentMessage, limit: Int = NodeProtocol.maxMessageBytes) -> AgentMessage? {
        let size = (try? JSONEncoder().encode(Frame(seq: .max, ack: .max, body: message)).count) ?? Int.max
        guard size > limit else { return message }
        guard case .executionResult(let result) = message else { return nil }
        let reason =
            "the result's encoding is \(size >> 20) MiB, over the \(limit >> 20) MiB one node-protocol message may carry: "
            + "write less to stdout, stderr and the outputs"
        return .executionResult(
            ExecutionResultMessage(executionID: result.executionID, state: .failed, exitCode: result.exitCode, reason: reason, files: []))
    }

    /// Queues an unnumbered message; nil queues a bare acknowledgement.
    func sendOnce(_ message: AgentMessage?) {
        ephemeral.append(message)
        wakeup.signal()
    }

    /// Drops every message up to `seq`, here and in the store, and returns the executions whose
    /// final results were among them: the orchestrator has durably accepted those, so the store
    /// forgets them too.
    func acknowledge(upTo seq: UInt64) -> [ExecutionID] {
        var settled: [ExecutionID] = []
        var positions: [Int64] = []
        while let first = pending.first, first.seq <= seq {
            if case .executionResult(let result) = first.message { settled.append(result.executionID) }
            if let position = first.position { positions.append(position) }
            pending.removeFirst()
        }
        let logger = self.logger
        store.acknowledge(positions: positions, settled: settled) { error in
            // Harmless: what stays stored is sent again after a restart and ignored as a repeat.
            logger.warning("cannot delete acknowledged messages from the agent's store", metadata: ["error": "\(error)"])
        }
        return settled
    }

    func received(_ seq: UInt64) {
        lastReceivedSeq = max(lastReceivedSeq, seq)
    }

    var unacknowledgedCount: Int { pending.count }

    /// Waits for frames to send after `sentUpTo` (numbered ones still unacknowledged, plus
    /// unnumbered ones), or returns an empty list if the task is cancelled.
    func next(after sentUpTo: UInt64) async -> [Frame<AgentMessage>] {
        while !Task.isCancelled {
            // `pending` is ordered by number, so the unsent ones are a suffix.
            let start = pending.firstIndex { $0.seq > sentUpTo } ?? pending.endIndex
            if start < pending.endIndex || !ephemeral.isEmpty {
                let once = ephemeral
                ephemeral.removeAll()
                let ack = lastReceivedSeq
                return once.map { Frame(seq: 0, ack: ack, body: $0) }
                    + pending[start...].map { Frame(seq: $0.seq, ack: ack, body: $0.message) }
            }
            await wakeup.wait()
        }
        return []
    }

    /// Drops queued unnumbered messages when a connection ends: they are not worth replaying.
    func connectionEnded() {
        ephemeral.removeAll()
    }
}

/// A one-slot wake-up signal: `signal` resumes the current waiter, or makes the next `wait`
/// return at once. Cancellation of the waiting task also resumes it.
final class Wakeup: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.signalled = true
            return nil
        }
        waiter?.resume()
    }

    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
    }
}
