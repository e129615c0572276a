@testable import InsituAgent
import InsituModel
import Testing

@Suite struct ReceivedQueueTests {
    /// The agent's link ends by cancelling its tasks, and the handler must still see every frame
    /// the reader queued (a claimed assignment must start or be released), in order, and stop
    /// only once the reader has closed the queue.
    @Test func aCancelledHandlerStillGetsEveryQueuedItemInOrderUntilTheQueueCloses() async {
        let queue = ReceivedQueue()
        let handler = Task {
            var seqs: [UInt64] = []
            while let item = await queue.next() { seqs.append(item.seq) }
            return seqs
        }
        handler.cancel()
        queue.append(ReceivedQueue.Item(seq: 1, work: .none))
        queue.append(ReceivedQueue.Item(seq: 2, work: .cancel(ExecutionID(rawValue: "e-1"))))
        queue.append(ReceivedQueue.Item(seq: 3, work: .none))
        queue.close()
        #expect(await handler.value == [1, 2, 3])
    }
}
