#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import InsituExecutor
public import InsituModel

/// Runs a native command on the node (engine `process`).
///
/// **No sandbox.** A native process runs with the agent's user and sees the whole host file
/// system; this engine exists for trusted operators' jobs and is off unless the node config says
/// `engines.process.enabled: true`. What it does provide:
/// - the command (`engine.process.command`, looked up on the agent's `PATH` if not absolute)
///   runs with `request.args`, in `request.workDirectory`, as the leader of its own process group;
/// - its environment is `request.env` plus `PATH` from the agent when the request does not set it
///   (nothing else is inherited);
/// - **mounts become symlinks in the work directory**: a mount with guest path `/data` appears
///   as `<workDirectory>/data` → the mount's host path (nested guest paths such as `/in/a` create
///   the parent directories). Jobs written for the process engine must use these relative paths.
///   Read-only is NOT enforced for native processes (a symlink carries no permissions);
/// - a timeout or task cancellation SIGKILLs the whole process group.
///
/// Outcome: exit 0 → `succeeded`; non-zero → `failed` ("exited with status N"); killed by a signal
/// we did not send → `failed`; timeout → `timedOut`; cancellation → `cancelled`.
public struct ProcessExecutor: Executor {
    public let engine: EngineKind = .process
    public let enabled: Bool
    public let outputLimit: Int

    public init(enabled: Bool, outputLimit: Int = OutputCollector.defaultLimit) {
        self.enabled = enabled
        self.outputLimit = outputLimit
    }

    public func run(
        _ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void
    ) async throws -> ExecutionOutcome {
        guard enabled else {
            throw ExecutorError(
                "the process engine is disabled on this node; an operator can enable it by setting "
                    + "`engines.process.enabled: true` in the node config (native processes run unsandboxed)")
        }
        guard let settings = request.engine.process else {
            throw ExecutorError("execution \(request.executionID) has no engine.process settings")
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

        var outcome = ExecutionOutcome(status: .failed, stdout: result.stdout.bytes, stderr: result.stderr.bytes)
        switch (result.stopReason, result.termination) {
        case (.cancellation, _):
            outcome.status = .cancelled
            outcome.reason = "cancelled"
        case (.timeout, _):
            outcome.status = .timedOut
            outcome.reason = "exceeded its timeout of \(formatSeconds(request.timeout ?? .zero))"
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
