import Foundation
import InsituAPI
import InsituModel
import Synchronization

/// Messages from the agent to the orchestrator that must arrive at least once. Each gets a
/// number when queued and stays until the orchestrator acknowledges it, so a message queued
/// while disconnected, or sent just before a link dropped, is sent again on the next connection.
/// Unnumbered messages (heartbeats, acknowledgements) are sent once, only while connected.
actor Outbox {
    private var nextSeq: UInt64 = 1
    private var pending: [(seq: UInt64, message: AgentMessage)] = []
    private var ephemeral: [AgentMessage?] = []
    private let wakeup = Wakeup()
    private(set) var lastReceivedSeq: UInt64 = 0

    func send(_ message: AgentMessage) {
        guard let message = Self.fitting(message) else { return }
        pending.append((nextSeq, message))
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

    /// Drops every message up to `seq` and returns the executions whose final results were
    /// among them: the orchestrator has durably accepted those.
    func acknowledge(upTo seq: UInt64) -> [ExecutionID] {
        var settled: [ExecutionID] = []
        while let first = pending.first, first.seq <= seq {
            if case .executionResult(let result) = first.message { settled.append(result.executionID) }
            pending.removeFirst()
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
