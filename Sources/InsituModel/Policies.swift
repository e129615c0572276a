/// How a batch job's failed or lost partitions are tried again. Every attempt is a new execution
/// with its own ID, so a report from an earlier attempt can never be mistaken for the current one.
public struct RetryPolicy: Hashable, Codable, Sendable {
    /// Executions a partition may have in total, the first one included (1 means no retry).
    public var attempts: Int
    /// Wait before the second attempt; each later wait is `backoff` times the previous one.
    public var delayMillis: Int64
    public var backoff: Double
    /// Upper bound for one wait, jitter included.
    public var maxDelayMillis: Int64

    public init(attempts: Int, delayMillis: Int64, backoff: Double = 2, maxDelayMillis: Int64 = 60_000) {
        self.attempts = attempts
        self.delayMillis = delayMillis
        self.backoff = backoff
        self.maxDelayMillis = maxDelayMillis
    }

    /// Batch partitions are independent and usually fail for transient reasons (a node went away,
    /// a disk filled up), so they are tried three times. Ops jobs run a command on a chosen node;
    /// running it again there is rarely what an operator wants, so they are not retried.
    public static func `default`(for type: JobType) -> RetryPolicy {
        switch type {
        case .batch: return RetryPolicy(attempts: 3, delayMillis: 1_000)
        case .ops: return RetryPolicy(attempts: 1, delayMillis: 0)
        }
    }

    public static let maxAttempts = 100

    /// The wait before attempt `next` (2 or more), with up to a quarter of it added as jitter so
    /// partitions that failed together do not all return at once. `jitter` is in 0..<1 and comes
    /// from the caller: the core takes randomness as an input.
    public func delay(beforeAttempt next: Int, jitter: Double) -> Int64 {
        guard next > 1, delayMillis > 0 else { return 0 }
        var wait = Double(delayMillis)
        for _ in 2..<next {
            wait *= max(1, backoff)
            if wait >= Double(maxDelayMillis) { break }
        }
        wait = min(wait, Double(maxDelayMillis))
        let jittered = wait + wait * 0.25 * min(max(jitter, 0), 1)
        return Int64(min(jittered, Double(maxDelayMillis)))
    }
}

/// What happens to an execution whose node stops answering (disconnected, or silent past its
/// heartbeat TTL).
public struct NodeLossPolicy: Hashable, Codable, Sendable {
    public enum Action: String, Hashable, Codable, Sendable, CaseIterable {
        /// After `graceMillis`, the execution is lost and its partition is placed on another node
        /// as a new attempt (counted against the retry policy's attempts).
        case replace
        /// The execution waits up to `graceMillis` for its node to return and deliver; after
        /// that it is lost and not run elsewhere.
        case wait
    }
    public var action: Action
    public var graceMillis: Int64

    public init(action: Action, graceMillis: Int64) {
        self.action = action
        self.graceMillis = graceMillis
    }

    /// Batch work can run anywhere its data is, so it is replaced after two minutes (Bacalhau
    /// fails such work after one). Ops work belongs to its node, so it waits fifteen minutes.
    public static func `default`(for type: JobType) -> NodeLossPolicy {
        switch type {
        case .batch: return NodeLossPolicy(action: .replace, graceMillis: 120_000)
        case .ops: return NodeLossPolicy(action: .wait, graceMillis: 900_000)
        }
    }
}
