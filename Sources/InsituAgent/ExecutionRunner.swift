import Crypto
import Foundation
import InsituAPI
import InsituAudit
import InsituAuditFile
import InsituExecutor
import InsituModel
import InsituProcess
import InsituSQL
import InsituWasm
import Logging
import Synchronization

/// Runs executions on this node: prepares the sandbox inputs (module, datasets, inline files,
/// output directories), runs the engine, and queues the result in the outbox.
actor ExecutionRunner {
    /// Results larger than this are refused on the node rather than sent.
    static let maxResultBytes = 16 << 20
    /// How often a running execution reports progress and output.
    static let reportInterval = Duration.milliseconds(100)

    let config: AgentConfig
    let outbox: Outbox
    let logger: Logger
    let executors: [EngineKind: any Executor]
    let moduleDirectory: String
    let fetcher: ModuleFetcher
    let workRoot: String
    /// The node's audit log (`audit.log` in its data directory).
    nonisolated let audit: AuditLog
    /// The runtime of the `wasm` engine (`wasmtime` or `wasmkit`), which the node advertises;
    /// nil when the engines were given (tests).
    nonisolated let wasmRuntime: String?
    /// Executions this node accepted and has not been told to forget: stored, running, or
    /// finished with a result not yet acknowledged (mirrors the store), so a repeated assignment
    /// after a reconnect or a restart does not run the same attempt twice.
    private var known: Set<ExecutionID> = []
    private var running: Set<ExecutionID> = []
    private var cancelled: [ExecutionID: CancellationSignal] = [:]
    var store: AgentStore { outbox.store }

    /// Why an execution that was running when the agent stopped ends as failed.
    static let interruptedReason =
        "interrupted: the agent restarted while it ran; the execution was not run again under the same ID "
        + "(the job's retry policy decides whether it runs again as a new attempt)"

    /// `executors` replaces the engines built from the config (tests script them). `recovered`
    /// is what the store held when the agent started (see `recover`).
    init(
        config: AgentConfig, outbox: Outbox, logger: Logger, executors: [EngineKind: any Executor]? = nil,
        recovered: [AgentStore.StoredExecution] = [], container: (any Executor)? = nil,
        credentials: @escaping @Sendable () -> NodeCredentials? = { nil }
    ) throws {
        self.config = config
        self.outbox = outbox
        self.logger = logger
        self.moduleDirectory = config.dataDirectory + "/modules"
        self.workRoot = config.dataDirectory + "/executions"
        self.fetcher = ModuleFetcher(
            allowedHosts: config.moduleAllowedHosts, crossHostRedirects: config.moduleCrossHostRedirects,
            orchestrators: config.orchestrators, trust: try OrchestratorTrust.load(config), credentials: credentials)
        try FileManager.default.createDirectory(atPath: moduleDirectory, withIntermediateDirectories: true)
        self.audit = try AuditLog.shared(path: config.dataDirectory + "/" + AuditLog.fileName, onFailure: { error in
            logger.error("could not write an audit entry", metadata: ["error": "\(error)"])
        })
        // Executions do not outlive the agent process, so whatever is here was left by one that
        // crashed or was killed (possibly by what it wrote): start clean.
        try? FileManager.default.removeItem(atPath: workRoot)
        try FileManager.default.createDirectory(atPath: workRoot, withIntermediateDirectories: true)
        if let executors {
            self.executors = executors
            self.wasmRuntime = nil
        } else {
            let wasm = try WasmEngineFactory.make(config: config, environment: ProcessInfo.processInfo.environment)
            if let reason = wasm.fallbackReason {
                logger.warning("engines.wasm.runtime is auto and wasmtime did not load: running WasmKit", metadata: ["reason": "\(reason)"])
            }
            logger.info("wasm runtime", metadata: ["runtime": "\(wasm.runtime)"])
            let process = try config.processEngine.makeExecutor(enabled: config.processEngineEnabled)
            if config.processEngineEnabled {
                logger.info("process engine", metadata: ["sandbox": "\(config.processEngine.sandbox.rawValue)"])
            }
            var executors: [EngineKind: any Executor] = [.wasm: wasm.executor, .process: process]
            // Present only when the node offers it (its socket answered at the agent's start).
            if let container { executors[.container] = container }
            if config.sqlEngineEnabled { executors[.sql] = try SQLEngineFactory.make(config: config) }
            self.executors = executors
            self.wasmRuntime = wasm.runtime
        }
        for execution in recovered {
            known.insert(execution.id)
            if execution.phase == .assigned {
                running.insert(execution.id)
                cancelled[execution.id] = CancellationSignal()
            }
        }
    }

    /// Opens the node's durable state in its data directory, as a (re)started agent does: the
    /// outbox with every unacknowledged message, the runner knowing every stored execution, and
    /// the stored assignments that never started, to be run.
    static func open(
        config: AgentConfig, logger: Logger, executors: [EngineKind: any Executor]? = nil, container: (any Executor)? = nil,
        credentials: @escaping @Sendable () -> NodeCredentials? = { nil }
    ) throws
        -> (outbox: Outbox, runner: ExecutionRunner, startable: [ExecutionAssignment])
    {
        let store = try AgentStore(directory: config.dataDirectory)
        let contents = try recover(store)
        for problem in contents.unreadable {
            logger.warning("dropped an unreadable message from the agent's store", metadata: ["problem": "\(problem)"])
        }
        let outbox = Outbox(store: store, stored: contents.outbox, logger: logger)
        let runner = try ExecutionRunner(
            config: config, outbox: outbox, logger: logger, executors: executors, recovered: contents.executions, container: container,
            credentials: credentials)
        let startable = contents.executions.compactMap { $0.phase == .assigned ? $0.assignment : nil }
        if !contents.executions.isEmpty || !contents.outbox.isEmpty {
            logger.info(
                "recovered the agent's state",
                metadata: ["executions": "\(contents.executions.count)", "messages": "\(contents.outbox.count)", "starting": "\(startable.count)"])
        }
        return (outbox, runner, startable)
    }

    /// Brings the store in line after a restart, before the outbox is loaded: executions that
    /// were started are interrupted (their engines died with the process) and get a failed
    /// result, so they are reported and never run again under their ID. Executions stored but
    /// never started may start: they never ran.
    static func recover(_ store: AgentStore) throws -> AgentStore.Contents {
        _ = try store.finishInterrupted(
            interrupted: { id in
                ExecutionResultMessage(executionID: id, state: .failed, exitCode: nil, reason: interruptedReason, files: [])
            },
            unreadable: { id in
                ExecutionResultMessage(
                    executionID: id, state: .failed, exitCode: nil,
                    reason: "the node could not read the assignment it had stored (written by another version of the agent); it did not run it",
                    files: [])
            })
        return try store.load()
    }

    /// Executions running here or finished with a report not yet acknowledged: what the hello
    /// lists, so the orchestrator does not count a finished execution as lost while its report
    /// waits in the outbox.
    func knownExecutions() -> [ExecutionID] { known.sorted() }

    func runningExecutions() -> [ExecutionID] { running.sorted() }

    /// Stores a new assignment and claims it. Returns false if this execution is already known
    /// here (a repeat). Throws if it cannot be stored: the frame carrying it must then not be
    /// acknowledged, and the orchestrator sends it again on the next connection.
    func accept(_ assignment: ExecutionAssignment) async throws -> Bool {
        guard let pending = claim(assignment) else { return false }
        do {
            let stored = try await pending.value()
            return confirm(assignment, stored: stored)
        } catch {
            unclaim(assignment)
            throw error
        }
    }

    /// The first half of `accept`, which does not wait for the store: nil for a repeat, else the
    /// pending write, whose value goes to `confirm`. Lets the link queue the next assignment
    /// while this one is being stored.
    func claim(_ assignment: ExecutionAssignment) -> Pending<Bool>? {
        let id = assignment.executionID
        guard !known.contains(id) else { return nil }
        known.insert(id)
        return store.queueAssign(assignment)
    }

    /// The second half of `accept`, once the assignment is stored (`stored` false: the store
    /// already held it). Returns whether to start it. If storing failed, call `unclaim`.
    func confirm(_ assignment: ExecutionAssignment, stored: Bool) -> Bool {
        guard stored else { return false }
        running.insert(assignment.executionID)
        cancelled[assignment.executionID] = CancellationSignal()
        return true
    }

    /// Forgets a claim whose assignment could not be stored, so the orchestrator's next send of
    /// it is not taken for a repeat.
    func unclaim(_ assignment: ExecutionAssignment) {
        known.remove(assignment.executionID)
    }

    /// The orchestrator has durably accepted these executions' results and will not send them
    /// again, so this node need not remember them any longer (the outbox deleted them from the
    /// store in the same transaction as the acknowledged messages).
    func forget(_ ids: [ExecutionID]) {
        for id in ids where !running.contains(id) { known.remove(id) }
    }

    func cancel(_ id: ExecutionID) {
        cancelled[id]?.fire()
    }

    private func finished(_ id: ExecutionID) {
        running.remove(id)
        cancelled[id] = nil
    }

    /// Returns the state the execution ended in, or nil when the agent's shutdown stopped it.
    @discardableResult
    func run(_ assignment: ExecutionAssignment) async -> ExecutionState? {
        let id = assignment.executionID
        do {
            // Before anything of it runs: after a crash from here on, it counts as interrupted.
            try await store.markStarted(id)
        } catch {
            logger.error("cannot record an execution's start", metadata: ["execution": "\(id)", "error": "\(error)"])
            let result = ExecutionResultMessage(
                executionID: id, state: .failed, exitCode: nil,
                reason: "the node cannot record the execution's start in its data directory (\(error)); it did not run it",
                files: [])
            audit.record(.orchestrator, "result.send", .failed, Self.auditDetails(result, assignment))
            await outbox.send(.executionResult(result))
            finished(id)
            return .failed
        }
        // The admission point: every reason this node refuses an assignment is thrown in here,
        // and every refusal leaves an audit entry.
        do {
            try AssignmentValidation.validate(assignment)
            try PolicyAdmission.admit(assignment, policy: config.policy, orchestrators: config.orchestrators)
        } catch {
            // Nothing was created for it, so there is nothing to clean up.
            logger.warning("refused an assignment", metadata: ["execution": "\(id)", "reason": "\(error.message)"])
            var details = Self.auditDetails(assignment)
            details["reason"] = .string(error.message)
            audit.record(.orchestrator, "execution.refuse", .refused, details)
            await outbox.send(
                .executionResult(ExecutionResultMessage(executionID: id, state: .failed, exitCode: nil, reason: error.message, files: [])))
            finished(id)
            return .failed
        }
        audit.record(.orchestrator, "execution.admit", .ok, Self.auditDetails(assignment))
        let signal = cancelled[id] ?? CancellationSignal()
        let workDirectory = "\(workRoot)/\(id.rawValue)"
        var result: ExecutionResultMessage
        do {
            let request = try await prepare(assignment, workDirectory: workDirectory)
            // What may not leave the node is never queued; live output stays within the policy's
            // byte limit too.
            let rules = config.policy.output
            let output = LiveOutput(limit: Int(clamping: min(Int64(LiveOutput.defaultLimit), rules.maxBytes ?? Int64.max)))
            let executor = self.executors[assignment.spec.engine.kind]
            let outcome = try await withThrowingTaskGroup(of: ExecutionOutcome?.self) { group in
                group.addTask {
                    try await signal.race {
                        guard let executor else {
                            throw ExecutorError("engine \(assignment.spec.engine.kind.rawValue) is not available on this node")
                        }
                        return try await executor.run(request) { stream, bytes in
                            if PolicyAdmission.mayLeave(stream, rules) { output.append(stream, bytes) }
                        }
                    }
                }
                // Every 100 ms while it runs: report it running (once), then ship what it printed.
                // A job that finishes within the first tick is reported by its result alone
                // (dispatched → succeeded), which saves the orchestrator one durable commit.
                // Each tick also checks the outputs' disk use: over the quota, this task throws,
                // which ends the group and so stops the engine.
                let quota = self.config.outputQuotaBytes
                group.addTask {
                    try await Task.sleep(for: Self.reportInterval)
                    try Self.checkOutputQuota(workDirectory, quota: quota)
                    await self.outbox.send(.executionUpdate(ExecutionUpdate(executionID: id, state: .running)))
                    while !Task.isCancelled {
                        await self.flush(output, id: id)
                        try await Task.sleep(for: Self.reportInterval)
                        try Self.checkOutputQuota(workDirectory, quota: quota)
                    }
                    return nil
                }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let next { return next }
                }
                throw CancellationError()
            }
            await flush(output, id: id, final: true)
            // A job may have written past the quota between the last check and its end.
            try Self.checkOutputQuota(workDirectory, quota: config.outputQuotaBytes)
            result = try collect(outcome, id: id, spec: assignment.spec, workDirectory: workDirectory)
        } catch let error as ExecutorError {
            result = ExecutionResultMessage(executionID: id, state: .failed, exitCode: nil, reason: error.message, files: [])
        } catch is CancellationError {
            result = ExecutionResultMessage(executionID: id, state: .cancelled, exitCode: nil, reason: "cancelled", files: [])
        } catch {
            result = ExecutionResultMessage(executionID: id, state: .failed, exitCode: nil, reason: "\(error)", files: [])
        }
        result.reason = result.reason.map(redaction(for: assignment, workDirectory: workDirectory).apply)
        if Task.isCancelled && result.state != .succeeded {
            // The agent is shutting down (an orchestrator's cancel fires `signal`, it does not
            // cancel this task): a `cancelled` result would end the work for good. Its store
            // entry stays `started`, so the next start reports it as interrupted and the job's
            // retry policy decides.
            finished(id)
            try? FileManager.default.removeItem(atPath: workDirectory)
            logger.info("execution stopped by the agent's shutdown", metadata: ["execution": "\(id)"])
            return nil
        }
        audit.record(.orchestrator, "result.send", result.state == .succeeded ? .ok : .failed, Self.auditDetails(result, assignment))
        await outbox.send(.executionResult(result))
        finished(id)
        try? FileManager.default.removeItem(atPath: workDirectory)
        logger.info("execution finished", metadata: ["execution": "\(id)", "state": "\(result.state)"])
        return result.state
    }

    private func flush(_ output: LiveOutput, id: ExecutionID, final: Bool = false) async {
        for message in output.drain(id, final: final) {
            await outbox.send(.executionOutput(message))
        }
    }

    /// Throws when the execution's output directories use more disk than `quota`. Checked while
    /// the job runs (every report interval) and before its outputs are read, not at write time:
    /// a job can exceed the quota by what it writes in one interval.
    static func checkOutputQuota(_ workDirectory: String, quota: Int64) throws(ExecutorError) {
        let used = OutputFiles.diskUsage(root: workDirectory + "/outputs")
        guard used <= quota else {
            throw ExecutorError(
                "the job's outputs use \(formatBytes(used)) of disk, over this node's quota of \(formatBytes(quota)) per execution "
                    + "(limits.outputs_disk in the node config): the execution was stopped; write less to the outputs")
        }
    }

    // MARK: Audit

    /// What the node was asked to run: job, execution, partition, engine, the code's digest and
    /// the datasets it mounts (`AuditDetails.job`: never env values or arguments).
    static func auditDetails(_ assignment: ExecutionAssignment) -> [String: AuditValue] {
        var details = AuditDetails.job(assignment.spec)
        details["job"] = .string(assignment.jobID.rawValue)
        details["execution"] = .string(assignment.executionID.rawValue)
        details["partition"] = .int(Int64(assignment.partition))
        return details
    }

    /// What leaves the node: each file's path, sha256 and size. A failure's reason is kept up to
    /// the stderr tail it carries for the job's author (the job's output, not an audit fact).
    static func auditDetails(_ result: ExecutionResultMessage, _ assignment: ExecutionAssignment) -> [String: AuditValue] {
        var details: [String: AuditValue] = [
            "job": .string(assignment.jobID.rawValue), "execution": .string(result.executionID.rawValue),
            "state": .string(result.state.rawValue),
        ]
        if let exitCode = result.exitCode { details["exit_code"] = .int(Int64(exitCode)) }
        if let reason = result.reason, result.state != .succeeded {
            details["reason"] = .string(reason.components(separatedBy: "; stderr: ").first ?? reason)
        }
        if !result.files.isEmpty {
            details["files"] = .list(
                result.files.map { AuditDetails.file(path: $0.path, sha256: $0.sha256, size: Int64(base64DecodedCount($0.base64))) })
        }
        return details
    }

    /// The length of what `text` (padded base64, as the node encodes it) decodes to.
    static func base64DecodedCount(_ text: String) -> Int {
        let utf8 = text.utf8
        let padding = utf8.reversed().prefix(2).prefix { $0 == UInt8(ascii: "=") }.count
        return utf8.count / 4 * 3 - padding
    }

    // MARK: Preparation

    private func prepare(_ assignment: ExecutionAssignment, workDirectory: String) async throws -> ExecutionRequest {
        let spec = assignment.spec
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: workDirectory)
        try fileManager.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        var mounts: [Mount] = []
        var inlineDirectories: [String: String] = [:]
        for (index, input) in spec.inputs.enumerated() {
            switch input.source {
            case .dataset(let name):
                guard let dataset = config.datasets.first(where: { $0.name == name }) else {
                    throw ExecutorError("dataset \"\(name)\" is not declared on node \(config.name); the orchestrator placed this job here by mistake or the node's config changed")
                }
                var isDirectory: ObjCBool = false
                guard fileManager.fileExists(atPath: dataset.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                    // The operator's log gets the path; the job's author gets the mount.
                    logger.error("a dataset's directory is missing", metadata: ["dataset": "\(name)", "path": "\(dataset.path)"])
                    throw ExecutorError(
                        "dataset \"\(name)\" (for \(input.target)) is not available on node \(config.name): its directory is missing "
                            + "or not a directory; the node's operator should check `datasets` in the node config")
                }
                mounts.append(Mount(hostPath: dataset.path, guestPath: input.target, readOnly: true))
            case .inline(let content):
                let guestDirectory = (input.target as NSString).deletingLastPathComponent
                let hostDirectory: String
                if let existing = inlineDirectories[guestDirectory] {
                    hostDirectory = existing
                } else {
                    hostDirectory = "\(workDirectory)/inline-\(index)"
                    try fileManager.createDirectory(atPath: hostDirectory, withIntermediateDirectories: true)
                    inlineDirectories[guestDirectory] = hostDirectory
                    mounts.append(Mount(hostPath: hostDirectory, guestPath: guestDirectory, readOnly: true))
                }
                let file = hostDirectory + "/" + (input.target as NSString).lastPathComponent
                try Data(content.utf8).write(to: URL(fileURLWithPath: file))
            }
        }
        for output in spec.outputs {
            let hostDirectory = "\(workDirectory)/outputs/\(output.name)"
            try fileManager.createDirectory(atPath: hostDirectory, withIntermediateDirectories: true)
            mounts.append(Mount(hostPath: hostDirectory, guestPath: output.path, readOnly: false))
        }
        var modulePath: String?
        if let wasm = spec.engine.wasm {
            modulePath = try await fetchModule(wasm.module)
        }
        let nodeVariables = ExecutionEnvironment.variables(for: assignment, nodeName: config.name, labels: config.labels)
        return ExecutionRequest(
            executionID: assignment.executionID, engine: spec.engine, modulePath: modulePath, args: spec.args,
            env: ExecutionEnvironment.merged(spec.env, with: nodeVariables), mounts: mounts, workDirectory: workDirectory,
            timeout: spec.timeoutMillis.map { .milliseconds($0) }, resources: spec.resources)
    }

    /// What rewrites this execution's host paths out of its failure reason: its datasets'
    /// directories become their sandbox paths (known from the assignment, so this works even
    /// when preparing the execution failed half way).
    private func redaction(for assignment: ExecutionAssignment, workDirectory: String) -> HostPathRedaction {
        var mounts: [Mount] = []
        for input in assignment.spec.inputs {
            if case .dataset(let name) = input.source, let dataset = config.datasets.first(where: { $0.name == name }) {
                mounts.append(Mount(hostPath: dataset.path, guestPath: input.target, readOnly: true))
            }
        }
        return HostPathRedaction(
            mounts: mounts, workDirectory: workDirectory, dataDirectory: config.dataDirectory,
            datasets: config.datasets.map { ($0.name, $0.path) })
    }

    /// Returns the local path of the module, downloading and verifying it on first use.
    private func fetchModule(_ reference: ModuleReference) async throws -> String {
        let path = "\(moduleDirectory)/\(reference.digest.rawValue).wasm"
        if FileManager.default.fileExists(atPath: path) { return path }
        let sources = reference.url.map { [$0] } ?? config.orchestrators.map { "\($0)/v1/modules/\(reference.digest.rawValue)" }
        var failure = ModuleFetcher.Failure.unreachable
        for source in sources {
            let bytes: [UInt8]
            do {
                bytes = try await fetcher.fetch(source, digest: reference.digest)
            } catch {
                failure = error.failure
                if failure == .digestMismatch { break }
                continue
            }
            let temporary = path + ".tmp"
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
            _ = rename(temporary, path)
            return path
        }
        throw ExecutorError(Self.describe(failure))
    }

    /// What a job's author is told. Deliberately no status code, error text or digest of what
    /// came back: a module URL must not turn the node into a probe of its own network.
    static func describe(_ failure: ModuleFetcher.Failure) -> String {
        let base = "module fetch failed (\(failure.rawValue))"
        switch failure {
        case .hostNotAllowed:
            return base + ": this node fetches modules only over http(s) from its orchestrators and the hosts in its policy.module_hosts"
        case .redirectRefused:
            return base + ": the URL redirects to another host (or more than 5 times), which this node does not follow (modules.cross_host_redirects)"
        case .digestMismatch:
            return base + ": the downloaded bytes do not match the job's sha256; refusing to run it"
        case .tooLarge:
            return base + ": modules are at most \(ModuleFetcher.maxModuleBytes >> 20) MiB"
        case .unreachable, .refusedByServer:
            return base
        }
    }

    // MARK: Results

    private func collect(_ outcome: ExecutionOutcome, id: ExecutionID, spec: JobSpec, workDirectory: String) throws
        -> ExecutionResultMessage
    {
        let state: ExecutionState
        switch outcome.status {
        case .succeeded: state = .succeeded
        case .cancelled: state = .cancelled
        case .failed, .timedOut, .outOfMemory: state = .failed
        }
        var files: [ResultFilePayload] = []
        var total = 0
        let rules = config.policy.output
        // The node's policy may set a lower limit than the protocol's; its refusal names it.
        let limit = Int(clamping: min(Int64(Self.maxResultBytes), rules.maxBytes ?? Int64.max))
        let policyLimit = limit < Self.maxResultBytes
        func overPolicy(_ what: String) -> ExecutorError {
            ExecutorError(
                "node policy: \(what), over this node's limit of \(formatBytes(Int64(limit))) per result (policy.output.max_bytes); "
                    + "the execution failed and none of its output left the node; write less output, or aggregate more on the node")
        }
        let overBudget: ((String, Int64) -> ExecutorError)? =
            policyLimit ? { path, size in overPolicy("output file \(path) is \(formatBytes(size))") } : nil
        func add(_ path: String, _ bytes: [UInt8]) throws(ExecutorError) {
            total += bytes.count
            guard total <= limit else {
                if policyLimit { throw overPolicy("the result would carry at least \(formatBytes(Int64(total)))") }
                throw ExecutorError("the execution's outputs exceed \(Self.maxResultBytes >> 20) MiB, the most a result may carry")
            }
            let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            files.append(ResultFilePayload(path: path, base64: Data(bytes).base64EncodedString(), sha256: ContentDigest(rawValue: digest)!))
        }
        var skipped: [String] = []
        if state == .succeeded {
            if rules.stdout { try add("stdout", outcome.stdout) }
            if rules.stderr { try add("stderr", outcome.stderr) }
            for output in spec.outputs {
                let label = "outputs/\(output.name)"
                let collected = try OutputFiles.collect(
                    root: "\(workDirectory)/\(label)", label: label, budget: limit - total,
                    overBudget: overBudget)
                for file in collected.files { try add("\(label)/\(file.path)", file.bytes) }
                skipped += collected.skipped.map { "\(label)/\($0.path) (\($0.kind))" }
            }
        }
        var reason = outcome.reason
        if state == .failed, reason == nil {
            reason = outcome.exitCode.map { "exited with status \($0)" } ?? "failed"
        }
        if state == .failed, rules.stderr, !outcome.stderr.isEmpty {
            let tail = String(decoding: outcome.stderr.suffix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !tail.isEmpty { reason = (reason ?? "failed") + "; stderr: \(tail)" }
        }
        if !skipped.isEmpty {
            // Only regular files leave the node; say what stayed behind so a job author notices.
            let shown = skipped.prefix(10).joined(separator: ", ") + (skipped.count > 10 ? " and \(skipped.count - 10) more" : "")
            let note = "not collected (only regular files are): \(shown)"
            reason = reason.map { "\($0); \(note)" } ?? note
        }
        return ExecutionResultMessage(executionID: id, state: state, exitCode: outcome.exitCode, reason: reason, files: files)
    }
}

/// Lets one execution be cancelled by ID without unstructured tasks: the run races the engine
/// against this signal and cancels the engine when the signal fires.
final class CancellationSignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream<Void>.makeStream()
    }

    func fire() {
        continuation.yield()
        continuation.finish()
    }

    func race<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                for await _ in self.stream { break }
                throw CancellationError()
            }
            defer { group.cancelAll() }
            while let value = try await group.next() {
                if let value { return value }
            }
            throw CancellationError()
        }
    }
}
