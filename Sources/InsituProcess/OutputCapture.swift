#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import InsituExecutor
import Synchronization

/// Output of one stream, kept up to a cap.
public struct CapturedOutput: Hashable, Sendable {
    public var bytes: [UInt8] = []
    /// True when more bytes arrived than the cap allowed; the excess was passed to the output
    /// callback but not kept.
    public var truncated: Bool = false

    public init(bytes: [UInt8] = [], truncated: Bool = false) {
        self.bytes = bytes
        self.truncated = truncated
    }
}

/// Accumulates stdout and stderr up to `limit` bytes each, forwarding every chunk to a callback.
/// Thread-safe.
public final class OutputCollector: Sendable {
    /// Default cap per stream: 1 MiB.
    public static let defaultLimit = 1 << 20

    public let limit: Int
    private let onOutput: @Sendable (OutputStream, [UInt8]) -> Void
    private let streams = Mutex<(stdout: CapturedOutput, stderr: CapturedOutput)>((.init(), .init()))
    private let sealed = Atomic<Bool>(false)

    public init(limit: Int = OutputCollector.defaultLimit, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void) {
        self.limit = limit
        self.onOutput = onOutput
    }

    public func append(_ stream: OutputStream, _ chunk: [UInt8]) {
        guard !chunk.isEmpty, !sealed.load(ordering: .acquiring) else { return }
        streams.withLock { streams in
            func keep(_ output: inout CapturedOutput) {
                let room = max(0, limit - output.bytes.count)
                if chunk.count <= room {
                    output.bytes.append(contentsOf: chunk)
                } else {
                    output.bytes.append(contentsOf: chunk.prefix(room))
                    output.truncated = true
                }
            }
            switch stream {
            case .stdout: keep(&streams.stdout)
            case .stderr: keep(&streams.stderr)
            }
        }
        onOutput(stream, chunk)
    }

    /// Drops every later chunk: neither kept nor forwarded. For output of work that was given up
    /// on but may still be running.
    public func seal() { sealed.store(true, ordering: .releasing) }

    public var stdout: CapturedOutput { streams.withLock { $0.stdout } }
    public var stderr: CapturedOutput { streams.withLock { $0.stderr } }
}

/// Reads pipes on one dedicated thread with `poll(2)` and hands every chunk to an
/// ``OutputCollector``, so reading never occupies a thread of Swift's cooperative pool.
///
/// Reading ends when every pipe reaches end of file, or when ``abandon(after:)`` was called and
/// the grace period passed (a grandchild that escaped the process group may hold a pipe open
/// forever; the reader must not wait for it).
public final class PipeReader: Sendable {
    private let finished = OneShot<Void>()
    /// Monotonic nanoseconds after which the reader stops even without end of file; 0 = never.
    private let deadline = Atomic<UInt64>(0)

    /// Starts reading. Takes ownership of the read ends in `pipes` and closes them when done.
    public init(pipes: [(fd: Int32, stream: OutputStream)], into collector: OutputCollector) {
        DedicatedThread.start { [self] in
            var open = pipes
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while !open.isEmpty {
                var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
                let ready = poll(&fds, nfds_t(fds.count), 50)
                if ready < 0 && errno != EINTR { break }
                if ready > 0 {
                    var closed: [Int] = []
                    for (index, pfd) in fds.enumerated() where pfd.revents != 0 {
                        let count = buffer.withUnsafeMutableBytes { read(pfd.fd, $0.baseAddress, $0.count) }
                        if count > 0 {
                            collector.append(open[index].stream, Array(buffer[0..<count]))
                        } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                            closed.append(index)
                        }
                    }
                    for index in closed.reversed() {
                        close(open[index].fd)
                        open.remove(at: index)
                    }
                }
                let stopAt = self.deadline.load(ordering: .relaxed)
                if stopAt != 0 && monotonicNanoseconds() >= stopAt { break }
            }
            for pipe in open { close(pipe.fd) }
            self.finished.fulfill(())
        }
    }

    /// Stops reading `grace` after now even if a pipe is still open.
    public func abandon(after grace: Duration) {
        let (seconds, attoseconds) = grace.components
        let nanos = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000
        deadline.store(monotonicNanoseconds() + max(nanos, 1), ordering: .relaxed)
    }

    /// Suspends until reading has ended.
    public func wait() async { await finished.wait() }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Creates a pipe whose both ends are close-on-exec.
public func makePipe() throws(ExecutorError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard GNUExtensions.pipe2(&fds, O_CLOEXEC) == 0 else {
        throw ExecutorError("could not create a pipe: \(String(cString: strerror(errno)))")
    }
    return (fds[0], fds[1])
}

/// Formats a duration for people: "30s", "0.3s", "1.25s".
public func formatSeconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    if millis % 1000 == 0 { return "\(millis / 1000)s" }
    let fraction = millis % 1000
    var text = "\(millis / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    while text.hasSuffix("0") { text.removeLast() }
    return text + "s"
}

/// glibc functions that Swift's Glibc module hides (they need `_GNU_SOURCE`), looked up once with
/// `dlsym`. The first two exist in every glibc this runs on (2.29+ for the chdir action); the
/// closefrom action needs glibc 2.34.
enum GNUExtensions {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static let pipe2: Pipe2 = unsafeBitCast(lookup("pipe2"), to: Pipe2.self)
    static let addChdir: AddChdir = unsafeBitCast(lookup("posix_spawn_file_actions_addchdir_np"), to: AddChdir.self)
    /// Nil on a C library without it (glibc before 2.34).
    static let addCloseFrom: AddCloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    private static func lookup(_ name: String) -> UnsafeMutableRawPointer {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
            fatalError("this C library has no \(name)")
        }
        return symbol
    }
}
