import Foundation
public import InsituExecutor
public import InsituModel
public import InsituProcess

/// Runs an OCI image through a Docker Engine API server on a unix socket (engine `container`).
///
/// A run: the image must be on the node's allow-list; the container is created with the
/// isolation of `ContainerCreateRequest` (no network, read-only inputs, limits from the job's
/// resources, no capabilities), started, its log stream followed live into `onOutput`, and
/// waited for. The job's timeout counts from the start. On the timeout or on cancellation
/// (`job stop`, the agent's shutdown) the container is removed with force, which SIGKILLs it at
/// once; in every case it is removed before `run` returns. The node never pulls: images come
/// only from what the operator put in the engine's store.
///
/// Outcome: exit 0 → `succeeded`; killed by the OOM killer → `outOfMemory`; non-zero →
/// `failed`; the timeout → `timedOut`; cancellation → `cancelled`.
public struct ContainerExecutor: Executor {
    public let engine: EngineKind = .container
    public let client: DockerEngineClient
    public let allowList: ImageAllowList
    public let policy: ContainerPolicy
    public let outputLimit: Int
    /// How long the log stream may trail the container's exit before the node stops reading.
    static let logDrainGrace = Duration.seconds(2)

    public init(
        client: DockerEngineClient, allowList: ImageAllowList, policy: ContainerPolicy = ContainerPolicy(),
        outputLimit: Int = OutputCollector.defaultLimit
    ) {
        self.client = client
        self.allowList = allowList
        self.policy = policy
        self.outputLimit = outputLimit
    }

    public func run(_ request: ExecutionRequest, onOutput: @escaping @Sendable (InsituExecutor.OutputStream, [UInt8]) -> Void) async throws
        -> ExecutionOutcome
    {
        guard let settings = request.engine.container else {
            throw ExecutorError("execution \(request.executionID) has no engine.container settings")
        }
        let image = try admit(settings.image)
        let create = try ContainerCreateRequest(request, image: image, policy: policy)
        let id: String
        do {
            id = try await client.createContainer(name: ContainerCreateRequest.containerName(request.executionID), create)
        } catch {
            throw ExecutorError(Self.describeCreateFailure(error, image: image, request: request))
        }
        let collector = OutputCollector(limit: outputLimit, onOutput: onOutput)
        var outcome: ExecutionOutcome
        do {
            outcome = try await supervise(id, request, collector)
        } catch {
            guard Task.isCancelled else {
                await remove(id)
                if let error = error as? ExecutorError { throw error }
                throw ExecutorError("the container engine failed while the job ran: \(Self.redact("\(error)", request))")
            }
            outcome = ExecutionOutcome(status: .cancelled, reason: "cancelled")
        }
        if let failure = await remove(id) {
            // Reported rather than hidden: a container the node could not remove may still run.
            outcome.status = .failed
            outcome.reason = (outcome.reason.map { $0 + "; " } ?? "")
                + "the node could not remove the container (\(Self.redact(failure.message, request))); its operator should remove containers labelled \(ContainerCreateRequest.executionLabel)=\(request.executionID)"
        }
        collector.seal()
        outcome.stdout = collector.stdout.bytes
        outcome.stderr = collector.stderr.bytes
        return outcome
    }

    /// The normalised image when the allow-list admits it; a reason for the job's author otherwise.
    func admit(_ image: String) throws(ExecutorError) -> ImageReference {
        switch allowList.decide(image) {
        case .admitted(let reference):
            return reference
        case .notAnImage(let problem):
            throw ExecutorError("engine.image is not an image reference: \(problem)")
        case .notAllowed(let canonical):
            throw ExecutorError(
                "image \(canonical) is not allowed on this node: it is not in the node config's engines.container.allowed_images; "
                    + "use an image the node's operator allows, or ask them to add (and pull) this one")
        }
    }

    private enum Event: Sendable {
        case exited(Int32)
        case logsEnded
        case deadline
        case drained
    }

    private func supervise(_ id: String, _ request: ExecutionRequest, _ collector: OutputCollector) async throws -> ExecutionOutcome {
        do {
            try await client.startContainer(id)
        } catch {
            throw ExecutorError("the container did not start: \(Self.redact(error.message, request))")
        }
        let client = self.client
        let exit: Int32? = try await withThrowingTaskGroup(of: Event.self) { group in
            group.addTask {
                var frames = LogFrameDemultiplexer()
                try await client.followLogs(id) { buffer in
                    for chunk in try frames.feed(buffer.readableBytesView) {
                        switch chunk {
                        case .output(let stream, let bytes): collector.append(stream, bytes)
                        case .engineError(let bytes): collector.append(.stderr, Array("container engine: ".utf8) + bytes)
                        }
                    }
                }
                return .logsEnded
            }
            group.addTask { .exited(try await client.waitContainer(id)) }
            if let timeout = request.timeout {
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .deadline
                }
            }
            defer { group.cancelAll() }
            var exit: Int32?
            var logsEnded = false
            while let event = try await group.next() {
                switch event {
                case .deadline:
                    // Past the deadline only if the job had not ended by then.
                    if exit == nil { return nil }
                case .exited(let status):
                    exit = status
                    if logsEnded { return status }
                    group.addTask {
                        try await Task.sleep(for: Self.logDrainGrace)
                        return .drained
                    }
                case .logsEnded:
                    logsEnded = true
                    if let exit { return exit }
                case .drained:
                    return exit
                }
            }
            throw ExecutorError("the container engine stopped answering while the job ran")
        }
        guard let exit else {
            return ExecutionOutcome(
                status: .timedOut, reason: "exceeded its timeout of \(formatSeconds(request.timeout ?? .zero))")
        }
        let oomKilled = exit == 0 ? false : ((try? await client.wasOOMKilled(id)) ?? false)
        return Self.outcome(exitStatus: exit, oomKilled: oomKilled, memoryLimit: (request.resources ?? JobSpec.defaultResources).memoryBytes)
    }

    /// What an exit means. The node stopped the container itself only on a timeout or a
    /// cancellation, which never get here, so a SIGKILL (status 137) came from elsewhere: on a
    /// container nobody else touches, the kernel's OOM killer at the memory limit. Docker reports
    /// that as `OOMKilled`; podman with runc on cgroup v1 does not, hence the status as well.
    static func outcome(exitStatus: Int32, oomKilled: Bool, memoryLimit: Int64) -> ExecutionOutcome {
        let limit = "the job's memory limit of \(ByteCount.format(memoryLimit)) (resources.memory); ask for more memory or use less"
        if exitStatus == 0 && !oomKilled { return ExecutionOutcome(status: .succeeded, exitCode: 0) }
        if oomKilled {
            return ExecutionOutcome(status: .outOfMemory, exitCode: exitStatus, reason: "ran out of memory: the container exceeded \(limit)")
        }
        if exitStatus == 128 + 9 {
            return ExecutionOutcome(
                status: .outOfMemory, exitCode: exitStatus,
                reason: "killed by SIGKILL, which the node did not send: out of memory, the kernel's answer to a container over \(limit)")
        }
        return ExecutionOutcome(status: .failed, exitCode: exitStatus, reason: "exited with status \(exitStatus)")
    }

    /// Removes the container even when the calling task is cancelled (a task of its own, which
    /// cancellation does not reach). Returns the failure, if any.
    @discardableResult
    private func remove(_ id: String) async -> DockerEngineError? {
        let client = self.client
        return await Task { () -> DockerEngineError? in
            do {
                try await client.removeContainer(id)
                return nil
            } catch {
                return error as? DockerEngineError ?? DockerEngineError(status: nil, message: "\(error)")
            }
        }.value
    }

    static func describeCreateFailure(_ error: DockerEngineError, image: ImageReference, request: ExecutionRequest) -> String {
        if error.status == 404 {
            return "image \(image.canonical) is not in this node's container engine: the node never pulls images; ask its operator to pull it"
        }
        return "the container engine refused to create the container: \(redact(error.message, request))"
    }

    /// Engine messages name host paths (a bind mount's source); the job's author learns the
    /// mount's sandbox path instead, never where the data lives on the node.
    static func redact(_ text: String, _ request: ExecutionRequest) -> String {
        var text = text
        for mount in request.mounts.sorted(by: { $0.hostPath.count > $1.hostPath.count }) where !mount.hostPath.isEmpty {
            text = text.replacingOccurrences(of: mount.hostPath, with: "<mount \(mount.guestPath)>")
        }
        if !request.workDirectory.isEmpty {
            text = text.replacingOccurrences(of: request.workDirectory, with: "<work directory>")
        }
        return text
    }
}
