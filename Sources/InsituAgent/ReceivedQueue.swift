import InsituAPI
import InsituModel
import Synchronization

/// Frames from the orchestrator that the agent's link has read and handles in order. Unlike a
/// stream it keeps its items when the handling task is cancelled: every item is handed out until
/// the queue is closed and empty, because an assignment claimed by the runner must either start
/// or be released.
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
    }
    private let state = Mutex(State())
    private let wakeup = Wakeup()

    func append(_ item: Item) {
        state.withLock { $0.items.append(item) }
        wakeup.signal()
    }

    /// No more items will be appended.
    func close() {
        state.withLock { $0.closed = true }
        wakeup.signal()
    }

    /// The next item in order; nil once the queue is closed and empty.
    func next() async -> Item? {
        while true {
            let (item, closed) = state.withLock { state -> (Item?, Bool) in
                state.items.isEmpty ? (nil, state.closed) : (state.items.removeFirst(), false)
            }
            if let item { return item }
            if closed { return nil }
            await wakeup.wait()
        }
    }
}
