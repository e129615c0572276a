public import InsituModel
internal import Synchronization

/// A clock that moves only when told to, for driving time as an input in tests: hours of cluster
/// time pass in microseconds of test time. Safe to share between tasks.
public final class ManualClock: Sendable {
    private let current: Mutex<Timestamp>

    /// Starts at `start`; by default a fixed, realistic instant (2023-11-14T22:13:20Z).
    public init(start: Timestamp = Timestamp(milliseconds: 1_700_000_000_000)) {
        self.current = Mutex(start)
    }

    public var now: Timestamp { current.withLock { $0 } }

    /// Moves the clock forward by `duration` (truncated to whole milliseconds) and returns the new time.
    /// A negative duration is a test bug and traps.
    @discardableResult
    public func advance(by duration: Duration) -> Timestamp {
        precondition(duration >= .zero, "ManualClock cannot go backwards (advance by \(duration))")
        return current.withLock {
            $0 = $0 + duration
            return $0
        }
    }

    /// Moves the clock to `time`, which must not be earlier than now.
    public func advance(to time: Timestamp) {
        current.withLock {
            precondition(time >= $0, "ManualClock cannot go backwards (from \($0) to \(time))")
            $0 = time
        }
    }
}
