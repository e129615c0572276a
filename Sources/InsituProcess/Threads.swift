#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Starts blocking work on a dedicated OS thread, never on Swift's cooperative pool.
///
/// Engines use this for anything that blocks (a WebAssembly guest running, `waitid`, `poll` on
/// pipes): the cooperative pool has one thread per core, and a blocked pool thread stalls every
/// task in the process.
public enum DedicatedThread {
    /// Runs `body` on a new detached thread. The thread ends when `body` returns.
    public static func start(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // 8 MiB: WebAssembly host calls can nest deeply in the interpreter.
        pthread_attr_setstacksize(&attributes, 8 << 20)
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed with \(rc)")
    }

    /// Runs `body` on a dedicated thread and suspends the calling task (without blocking a pool
    /// thread) until it returns.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            start { continuation.resume(returning: body()) }
        }
    }
}

/// A value that is set once and can be awaited by any number of tasks, from any thread.
public final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [CheckedContinuation<Value, Never>] = []
    }
    private let state = Mutex(State())

    public init() {}

    /// Sets the value and wakes every waiter. Later calls are ignored.
    public func fulfill(_ value: Value) {
        let waiters: [CheckedContinuation<Value, Never>] = state.withLock { state in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    public var value: Value? { state.withLock { $0.value } }

    /// Suspends until the value is set. Not cancellable on purpose: callers arrange for the
    /// value to arrive (by killing what produces it) when they are cancelled.
    public func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready: Value? = state.withLock { state in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
