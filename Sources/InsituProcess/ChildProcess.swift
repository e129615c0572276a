#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import InsituExecutor
import Synchronization

/// A child process started with `posix_spawn` as the leader of its own process group.
///
/// - stdin is `/dev/null`; stdout and stderr go to pipes read on a dedicated thread (see
///   ``PipeReader``), passed chunk by chunk to `onOutput` and kept up to `outputLimit` bytes.
///   Every other descriptor is closed in the child, close-on-exec or not.
/// - Waiting for exit happens on a dedicated thread (`waitid`), never on Swift's cooperative pool.
/// - ``terminate()`` sends SIGKILL to the whole process group. When the leader exits, the rest
///   of its group is killed too, so a job cannot leave background processes behind (a process
///   that moved itself to another group or session with `setsid` escapes this; cgroups are the
///   tool for that and are not used in this version).
/// - The leader is reaped only while holding the same lock ``terminate()`` takes, and is first
///   waited for with `WNOWAIT`, so the group ID cannot be recycled under a late `terminate()`.
public final class ChildProcess: Sendable {
    public enum Termination: Hashable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public var description: String {
            switch self {
            case .exited(let status): "exited with status \(status)"
            case .signaled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// Why the process was stopped by us, if it was.
    public enum StopReason: Hashable, Sendable {
        case timeout
        case cancellation
    }

    public struct Result: Hashable, Sendable {
        public var termination: Termination
        public var stdout: CapturedOutput
        public var stderr: CapturedOutput
        /// Set when ``ChildProcess/run(timeout:)`` killed the process.
        public var stopReason: StopReason?
    }

    /// Process ID of the leader, which is also the process group ID.
    public let pid: Int32
    private let reaped = Mutex(false)
    private let stopReason = Mutex<StopReason?>(nil)
    private let exit = OneShot<Termination>()
    private let reader: PipeReader
    private let collector: OutputCollector

    /// Spawns `executable` with `arguments` (argv[0] is added: the executable as given).
    ///
    /// - Parameters:
    ///   - executable: an absolute path, or a name looked up on this process's `PATH`.
    ///   - environment: the child's entire environment (nothing is inherited).
    ///   - workingDirectory: the child's current directory, if not this process's.
    /// - Throws: `ExecutorError` when the process could not be started.
    public init(
        executable: String, arguments: [String] = [], environment: [String: String] = [:],
        workingDirectory: String? = nil, outputLimit: Int = OutputCollector.defaultLimit,
        onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void = { _, _ in }
    ) throws(ExecutorError) {
        let stdoutPipe = try makePipe()
        let stderrPipe: (read: Int32, write: Int32)
        do { stderrPipe = try makePipe() } catch {
            close(stdoutPipe.read)
            close(stdoutPipe.write)
            throw error
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe.write, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe.write, 2)
        if let workingDirectory {
            _ = GNUExtensions.addChdir(&actions, workingDirectory)
        }
        // Descriptors opened without close-on-exec elsewhere in the agent (the orchestrator's
        // WebSocket, HTTP connections) must not leak into jobs: a runner holding the agent's
        // socket kept a dead node "connected". Close everything above stderr in the child.
        guard let addCloseFrom = GNUExtensions.addCloseFrom, addCloseFrom(&actions, 3) == 0 else {
            close(stdoutPipe.read)
            close(stdoutPipe.write)
            close(stderrPipe.read)
            close(stderrPipe.write)
            throw ExecutorError(
                "cannot start \(executable): this C library cannot close inherited descriptors in a child "
                    + "(posix_spawn_file_actions_addclosefrom_np needs glibc 2.34 or later)")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (pgid = pid), default signal dispositions, empty signal mask.
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        sigdelset(&defaultSignals, SIGKILL)
        sigdelset(&defaultSignals, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid = pid_t()
        let rc =
            executable.contains("/")
            ? posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            : posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        close(stdoutPipe.write)
        close(stderrPipe.write)
        guard rc == 0 else {
            close(stdoutPipe.read)
            close(stderrPipe.read)
            let where_ = workingDirectory.map { " in \($0)" } ?? ""
            throw ExecutorError("could not start \(executable)\(where_): \(String(cString: strerror(rc)))")
        }
        let leader = pid
        self.pid = leader
        self.collector = OutputCollector(limit: outputLimit, onOutput: onOutput)
        self.reader = PipeReader(pipes: [(stdoutPipe.read, .stdout), (stderrPipe.read, .stderr)], into: collector)

        DedicatedThread.start { [self] in
            // Wait without reaping: the zombie keeps the group ID reserved until we reap it below.
            var info = siginfo_t()
            while waitid(P_PID, id_t(leader), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            let termination: Termination = self.reaped.withLock { reaped in
                // Take down anything the leader left running in its group.
                kill(-leader, SIGKILL)
                var status: Int32 = 0
                while waitpid(leader, &status, 0) < 0 && errno == EINTR {}
                reaped = true
                return status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
            }
            // Everything in the group is dead; a process that escaped it must not hold us up.
            self.reader.abandon(after: .seconds(2))
            self.exit.fulfill(termination)
        }
    }

    /// Sends SIGKILL to the process group. Safe to call at any time, from any thread, repeatedly.
    public func terminate() {
        reaped.withLock { reaped in
            if !reaped { kill(-pid, SIGKILL) }
        }
    }

    /// Suspends until the process has exited and its output has been read.
    public func waitForExit() async -> Termination {
        let termination = await exit.wait()
        await reader.wait()
        return termination
    }

    public var stdout: CapturedOutput { collector.stdout }
    public var stderr: CapturedOutput { collector.stderr }

    /// Waits for the process, killing its process group when `timeout` passes or the calling task
    /// is cancelled. Always returns once the process is gone; never throws.
    public func run(timeout: Duration? = nil) async -> Result {
        let termination = await withTaskCancellationHandler {
            await withTaskGroup(of: Termination?.self) { group in
                group.addTask { await self.waitForExit() }
                if let timeout {
                    group.addTask {
                        try? await Task.sleep(for: timeout)
                        if !Task.isCancelled { self.stop(.timeout) }
                        return nil
                    }
                }
                var termination: Termination? = nil
                while termination == nil, let next = await group.next() {
                    termination = next
                }
                group.cancelAll()
                return termination!
            }
        } onCancel: {
            self.stop(.cancellation)
        }
        return Result(termination: termination, stdout: stdout, stderr: stderr, stopReason: stopReason.withLock { $0 })
    }

    private func stop(_ reason: StopReason) {
        stopReason.withLock { if $0 == nil { $0 = reason } }
        terminate()
    }

    /// Spawns and runs a process to completion. See ``init(executable:arguments:environment:workingDirectory:outputLimit:onOutput:)``
    /// and ``run(timeout:)``.
    public static func run(
        executable: String, arguments: [String] = [], environment: [String: String] = [:],
        workingDirectory: String? = nil, timeout: Duration? = nil, outputLimit: Int = OutputCollector.defaultLimit,
        onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void = { _, _ in }
    ) async throws(ExecutorError) -> Result {
        let process = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment,
            workingDirectory: workingDirectory, outputLimit: outputLimit, onOutput: onOutput)
        if Task.isCancelled { process.stop(.cancellation) }
        return await process.run(timeout: timeout)
    }
}
