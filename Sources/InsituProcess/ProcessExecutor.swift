#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import InsituExecutor
public import InsituModel

/// Runs a native command on the node (engine `process`), in one of two modes.
///
/// **Sandboxed** (`sandbox` set; the node config's default, `engines.process.sandbox: bubblewrap`):
/// - the command runs under bubblewrap (see ``Bubblewrap/arguments(command:arguments:mounts:settings:)``):
///   new mount, PID, network, IPC and UTS namespaces; it sees only a read-only `/usr` (and the
///   `/bin`, `/lib` links), `/proc`, a minimal `/dev`, a private `/tmp` (its working directory),
///   and its mounts **at their guest paths** (`/data`), datasets read-only, outputs writable;
/// - as root, the agent runs it as an unprivileged user (65534 unless configured), with no
///   capabilities; the outputs directories are handed to that user before it starts;
/// - with cgroups configured, it runs in a group of its own (``ExecutionCGroup``) limited to the
///   job's `resources` (memory, CPU) and ``ProcessSandbox/pidsLimit`` processes. It joins the group
///   race-free: a `/bin/sh` wrapper writes its own PID into the group and only then `exec`s bwrap,
///   so every process of the job is born inside. An out-of-memory kill ends as `outOfMemory`;
/// - a timeout or cancellation SIGKILLs bwrap, whose `--die-with-parent` takes down the PID
///   namespace's init and with it every process of the job; then the whole cgroup is killed and
///   removed.
///
/// **Unsandboxed** (`sandbox` nil, `engines.process.sandbox: none`): the command runs with the
/// agent's user and sees the whole host file system; for trusted operators' jobs only:
/// - it runs with `request.args` in `request.workDirectory`, as the leader of its own process group;
/// - **mounts become symlinks in the work directory**: a mount with guest path `/data` appears
///   as `<workDirectory>/data` → the mount's host path (nested guest paths such as `/in/a` create
///   the parent directories). Jobs written for this mode use these relative paths. Read-only is
///   NOT enforced (a symlink carries no permissions);
/// - a timeout or task cancellation SIGKILLs the whole process group (a process that called
///   `setsid` escapes it).
///
/// In both modes the environment is `request.env` plus a `PATH` when the request sets none
/// (the agent's own unsandboxed, ``BubblewrapSettings/defaultPATH`` sandboxed), nothing else.
///
/// Outcome: exit 0 → `succeeded`; non-zero → `failed` ("exited with status N"); killed by a signal
/// we did not send → `failed`; the cgroup's out-of-memory killer → `outOfMemory`; timeout →
/// `timedOut`; cancellation → `cancelled`.
public struct ProcessExecutor: Executor {
    public let engine: EngineKind = .process
    public let enabled: Bool
    /// Nil runs commands unsandboxed (`engines.process.sandbox: none`).
    public let sandbox: ProcessSandbox?
    public let outputLimit: Int

    public init(enabled: Bool, sandbox: ProcessSandbox?, outputLimit: Int = OutputCollector.defaultLimit) {
        self.enabled = enabled
        self.sandbox = sandbox
        self.outputLimit = outputLimit
    }

    public func run(
        _ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ExecutionOutcome {
        guard enabled else {
            throw ExecutorError(
                "the process engine is disabled on this node; an operator can enable it by setting "
                    + "`engines.process.enabled: true` in the node config (jobs then run under bubblewrap)")
        }
        guard let settings = request.engine.process else {
            throw ExecutorError("execution \(request.executionID) has no engine.process settings")
        }
        if let sandbox {
            return try await runSandboxed(request, command: settings.command, sandbox: sandbox, onOutput: onOutput)
        }
        try Self.linkMounts(request.mounts, into: request.workDirectory)

        var environment = request.env
        if environment["PATH"] == nil, let path = getenv("PATH") {
            environment["PATH"] = String(cString: path)
        }
        let result = try await ChildProcess.run(
            executable: settings.command, arguments: request.args, environment: environment,
            workingDirectory: request.workDirectory, timeout: request.timeout, outputLimit: outputLimit,
            onOutput: onOutput)
        return Self.outcome(result, timeout: request.timeout)
    }

    private func runSandboxed(
        _ request: ExecutionRequest, command: String, sandbox: ProcessSandbox,
        onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ExecutionOutcome {
        let bwrapArguments = try Bubblewrap.arguments(
            command: command, arguments: request.args, mounts: request.mounts, settings: sandbox.bubblewrap)
        if let user = sandbox.bubblewrap.user {
            // The agent made these directories for this execution; the job's user must write them.
            for mount in request.mounts where !mount.readOnly && lchown(mount.hostPath, user.uid, user.gid) != 0 {
                throw ExecutorError("could not hand the output directory for \(mount.guestPath) to the sandbox's user: \(errorText(errno))")
            }
        }
        var environment = request.env
        if environment["PATH"] == nil { environment["PATH"] = BubblewrapSettings.defaultPATH }

        var group: ExecutionCGroup?
        if let parent = sandbox.cgroups {
            let limits = CGroupLimits(
                memoryBytes: request.resources?.memoryBytes, cpuMillis: request.resources?.cpuMillis, pids: sandbox.pidsLimit)
            // Off the cooperative pool: a stale group of the same name is emptied first, which may wait.
            let execution = request.executionID.rawValue
            group = try await DedicatedThread.run {
                Result { () throws(ExecutorError) in try ExecutionCGroup.create(parent: parent, execution: execution, limits: limits) }
            }.get()
        }
        let executable: String
        let arguments: [String]
        if let group {
            executable = "/bin/sh"
            arguments = ["-c", Self.joinCGroupScript, "insitu-sandbox"] + group.procsFiles + ["--", sandbox.bubblewrap.bwrap] + bwrapArguments
        } else {
            executable = sandbox.bubblewrap.bwrap
            arguments = bwrapArguments
        }
        let process: ChildProcess
        do {
            process = try await Self.spawnOnOwnThread(
                executable: executable, arguments: arguments, environment: environment, outputLimit: outputLimit, onOutput: onOutput)
        } catch {
            if let group { _ = await DedicatedThread.run { group.destroy() } }
            throw error
        }
        let result = await process.run(timeout: request.timeout)
        let oomKills = group?.outOfMemoryKills() ?? 0
        if let group { _ = await DedicatedThread.run { group.destroy() } }
        var outcome = Self.outcome(result, timeout: request.timeout)
        if oomKills > 0 && result.stopReason == nil, let memory = request.resources?.memoryBytes {
            outcome.status = .outOfMemory
            outcome.exitCode = nil
            outcome.reason =
                "exceeded its memory limit of \(ByteCount.format(memory)) and was killed; ask for more with resources.memory"
        }
        return outcome
    }

    /// Starts the process on a dedicated thread that lives until the process has exited.
    ///
    /// bwrap's `--die-with-parent` is a parent-death signal, which the kernel ties to the
    /// *thread* that spawned it: spawned from a pool thread that later exits (Dispatch retires
    /// idle workers), a running job would be SIGKILLed at a random moment.
    static func spawnOnOwnThread(
        executable: String, arguments: [String], environment: [String: String], outputLimit: Int,
        onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ChildProcess {
        try await withCheckedThrowingContinuation { continuation in
            DedicatedThread.start {
                let process: ChildProcess
                do {
                    process = try ChildProcess(
                        executable: executable, arguments: arguments, environment: environment, workingDirectory: "/",
                        outputLimit: outputLimit, onOutput: onOutput)
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                continuation.resume(returning: process)
                // Without reaping (ChildProcess reaps); ECHILD once it has, which also means it exited.
                var info = siginfo_t()
                while waitid(P_PID, id_t(process.pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            }
        }
    }

    /// Run by `/bin/sh -c` with the group's `cgroup.procs` files, `--`, then bwrap's command line:
    /// the shell moves itself into the group before `exec`, so bwrap and everything it starts is
    /// inside from its first instruction (no window in which a job process runs unlimited).
    static let joinCGroupScript = """
        while [ "$1" != -- ]; do
          echo $$ > "$1" || { echo "insitu: could not join the execution's cgroup ($1)" >&2; exit 125; }
          shift
        done
        shift
        exec "$@"
        """

    static func outcome(_ result: ChildProcess.Result, timeout: Duration?) -> ExecutionOutcome {
        var outcome = ExecutionOutcome(status: .failed, stdout: result.stdout.bytes, stderr: result.stderr.bytes)
        switch (result.stopReason, result.termination) {
        case (.cancellation, _):
            outcome.status = .cancelled
            outcome.reason = "cancelled"
        case (.timeout, _):
            outcome.status = .timedOut
            outcome.reason = "exceeded its timeout of \(formatSeconds(timeout ?? .zero))"
        case (nil, .exited(0)):
            outcome.status = .succeeded
            outcome.exitCode = 0
        case (nil, .exited(let status)):
            outcome.exitCode = status
            outcome.reason = "exited with status \(status)"
        case (nil, .signaled(let signal)):
            outcome.reason = "killed by signal \(signal)"
        }
        return outcome
    }

    /// Creates `<workDirectory>/<guest path without its leading slash>` → host path for every mount.
    static func linkMounts(_ mounts: [Mount], into workDirectory: String) throws(ExecutorError) {
        for mount in mounts {
            let components = mount.guestPath.split(separator: "/").map(String.init)
            guard !components.isEmpty, !components.contains(".."), !components.contains(".") else {
                throw ExecutorError("mount guest path \(mount.guestPath) cannot be placed in the work directory")
            }
            var directory = workDirectory
            for component in components.dropLast() {
                directory += "/" + component
                if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                    throw ExecutorError("could not create \(directory): \(String(cString: strerror(errno)))")
                }
            }
            let link = directory + "/" + components.last!
            if symlink(mount.hostPath, link) != 0 {
                let error = errno
                // An identical link left by an earlier attempt is fine.
                var target = [CChar](repeating: 0, count: 4096)
                let length = readlink(link, &target, target.count - 1)
                if error == EEXIST, length >= 0,
                    String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) == mount.hostPath
                {
                    continue
                }
                throw ExecutorError(
                    "could not link mount \(mount.guestPath) at \(link): \(String(cString: strerror(error)))")
            }
        }
    }
}
