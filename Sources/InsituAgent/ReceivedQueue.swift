import InsituAPI
import InsituModel
import Synchronization

/// Frames from the orchestrator that the agent's link has read and handles in order. Unlike a
/// stream it keeps handing out its items when the handling task is cancelled, until the queue is
/// closed and empty, because an assignment claimed by the runner must either start or be
/// released.
final class ReceivedQueue: Sendable {
    enum Work: Sendable {
        /// An assignment the runner claimed, being stored.
        case run(ExecutionAssignment, Pending<Bool>)
        case cancel(ExecutionID)
        case none
    }

    struct Item: Sendable {
        var seq: UInt64
        var work: Work
    }

    private struct State {
        var items: [Item] = []
        var closed = false
        /// The handler, while it waits for an item (there is one handler).
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func append(_ item: Item) {
        state.withLock { state in
            state.items.append(item)
            return state.waiter.take()
        }?.resume()
    }

    /// No more items will be appended. The reader calls it whenever it stops, cancelled or not.
    func close() {
        state.withLock { state in
            state.closed = true
            return state.waiter.take()
        }?.resume()
    }

    /// The next item in order; nil once the queue is closed and empty. Deliberately not ended by
    /// cancellation: the handler must see every item, and the reader's `close` ends it.
    func next() async -> Item? {
        while true {
            let (item, closed) = state.withLock { state -> (Item?, Bool) in
                state.items.isEmpty ? (nil, state.closed) : (state.items.removeFirst(), false)
            }
            if let item { return item }
            if closed { return nil }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    guard state.items.isEmpty, !state.closed else { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}
