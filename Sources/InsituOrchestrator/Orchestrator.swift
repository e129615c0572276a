import Foundation
public import InsituAPI
public import InsituModel
import InsituScheduler
public import InsituStore
public import Logging

/// Where the orchestrator sends messages for one connected node. The WebSocket shell owns the
/// socket; this only enqueues.
public struct NodeConnection: Sendable {
    public let id: UInt64
    let enqueue: @Sendable (OrchestratorMessage) -> Void

    public init(id: UInt64, enqueue: @escaping @Sendable (OrchestratorMessage) -> Void) {
        self.id = id
        self.enqueue = enqueue
    }
}

/// A node's message that is already being applied on another of its connections; the node
/// should send it again once that connection has settled.
public struct MessageInFlight: Error, CustomStringConvertible {
    public var seq: UInt64
    public var node: NodeID
    public var description: String { "message \(seq) from node \(node) is still being applied; send it again" }
}

/// The single, serialized applier of all orchestrator state changes.
///
/// Every change follows the same order: compute the new state in memory (pure model and
/// scheduler), persist it in one store commit, and only then send messages to nodes or answer
/// callers ("persist first, then send"). Because an actor may interleave at every `await`, every
/// method re-reads its state after a commit instead of trusting values read before it.
public actor Orchestrator {
    public struct Settings: Sendable {
        public var heartbeatInterval: Duration
        /// The wall-clock limit of an execution whose spec sets no `timeout`. Written into the
        /// job's spec at submission, so `job describe` shows it and every node enforces it.
        public var defaultExecutionTimeout: Duration
        public init(heartbeatInterval: Duration = .seconds(5), defaultExecutionTimeout: Duration = .seconds(3600)) {
            self.heartbeatInterval = heartbeatInterval
            self.defaultExecutionTimeout = defaultExecutionTimeout
        }
    }

    struct StreamUsage {
        var stored: Int64 = 0
        var dropped: Int64 = 0
        /// Whether the line saying the rest is dropped was stored.
        var marked = false
    }

    struct NodeEntry {
        var record: NodeRecord
        var connection: NodeConnection?
        var epoch: UInt64 = 0
        /// Highest agent message number applied (durably) in the current epoch; repeats are skipped.
        var lastProcessedSeq: UInt64 = 0
        /// Message numbers of the current epoch being applied right now.
        var inFlight: Set<UInt64> = []
    }

    let store: any OrchestratorStore
    let blobs: BlobStore
    let scheduler = Scheduler()
    let clock: @Sendable () -> Timestamp
    let newJobID: @Sendable () -> JobID
    let settings: Settings
    let logger: Logger

    /// Non-terminal jobs. Terminal jobs live only in the store.
    var jobs: [JobID: Job] = [:]
    var executions: [JobID: [ExecutionID: Execution]] = [:]
    var executionOwners: [ExecutionID: JobID] = [:]
    var nodes: [NodeID: NodeEntry] = [:]
    /// Jobs with partitions (or, for ops jobs, nodes) still to place, oldest first.
    var unplaced: [JobID] = []
    var placementFailures: [JobID: [String: [String]]] = [:]
    /// Per running execution and stream, how much output is stored and dropped (see `LogLimits`).
    var logUsage: [ExecutionID: [String: StreamUsage]] = [:]
    var waiters: [JobID: [UInt64: CheckedContinuation<Void, Never>]] = [:]
    var nextWaiterID: UInt64 = 0
    /// Waiters released before they suspended (see `suspend`).
    var releasedWaiters: Set<UInt64> = []

    public init(
        store: any OrchestratorStore, blobs: BlobStore, settings: Settings = Settings(),
        clock: @escaping @Sendable () -> Timestamp, newJobID: @escaping @Sendable () -> JobID, logger: Logger
    ) {
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.clock = clock
        self.newJobID = newJobID
        self.logger = logger
    }

    // MARK: Recovery

    /// Reloads unfinished work after a (re)start. Nodes count as disconnected until they dial in.
    public func recover() async throws {
        let state = try await store.recover()
        for job in state.activeJobs {
            jobs[job.id] = job
            unplaced.append(job.id)
        }
        unplaced.sort { (jobs[$0]?.createdAt ?? Timestamp(milliseconds: 0), $0) < (jobs[$1]?.createdAt ?? Timestamp(milliseconds: 0), $1) }
        for execution in state.executions where jobs[execution.jobID] != nil {
            executions[execution.jobID, default: [:]][execution.id] = execution
            executionOwners[execution.id] = execution.jobID
        }
        for var record in state.nodes {
            // Stored before nodes were validated, or written by hand: such a record must not
            // reach the scheduler, or one poisoned row would crash every restart.
            if let problem = record.info.validationProblem() {
                logger.error(
                    "ignoring a stored node whose info is invalid; it must say hello again with valid info",
                    metadata: ["node": "\(record.info.id.rawValue.prefix(NodeInfoLimits.maxIdentifierBytes))", "problem": "\(problem)"])
                continue
            }
            record.liveness = .disconnected
            nodes[record.info.id] = NodeEntry(record: record)
        }
        logger.info("recovered state", metadata: ["jobs": "\(jobs.count)", "nodes": "\(nodes.count)"])
    }

    // MARK: Jobs

    /// Accepts a validated spec. The job, and its first placement if any node fits, are durable
    /// in one commit before this returns.
    public func submit(_ requested: JobSpec) async throws -> Job {
        try await submit(requested, idempotencyKey: nil).job
    }

    /// Accepts a validated spec, once per idempotency key: a submission whose key already names a
    /// job returns that job (`created` false) and stores nothing, so a client may retry a submit
    /// whose answer it never received. The key is claimed in the same commit as the job, so two
    /// concurrent submissions with one key create one job.
    ///
    /// A new ID that is already taken (in memory, or in the store for a finished job) is never
    /// used: another one is drawn, a few times at most.
    public func submit(_ requested: JobSpec, idempotencyKey: String?) async throws -> (job: Job, created: Bool) {
        if let existing = try await job(idempotencyKey: idempotencyKey) { return (existing, false) }
        var spec = requested
        if spec.timeoutMillis == nil {
            let (seconds, attoseconds) = settings.defaultExecutionTimeout.components
            spec.timeoutMillis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        }
        for attempt in 1...Self.idAttempts {
            let id = newJobID()
            let last = attempt == Self.idAttempts
            guard jobs[id] == nil else {
                logger.warning("new job ID is in use; drawing another", metadata: ["job": "\(id)"])
                continue
            }
            do {
                return (try await create(id: id, spec: spec, idempotencyKey: idempotencyKey), true)
            } catch let error as StoreError where error.kind == .conflict {
                // Another submission with the same key committed first.
                if let existing = try await job(idempotencyKey: idempotencyKey) { return (existing, false) }
                if last { throw error }
                logger.warning("new job ID is taken; drawing another", metadata: ["job": "\(id)"])
            }
        }
        throw StoreError("no unused job ID in \(Self.idAttempts) attempts; nothing was stored", kind: .conflict)
    }

    /// The job an idempotency key names, as this orchestrator currently sees it.
    private func job(idempotencyKey: String?) async throws -> Job? {
        guard let idempotencyKey, let stored = try await store.job(idempotencyKey: idempotencyKey) else { return nil }
        return jobs[stored.id] ?? stored
    }

    static let idAttempts = 3

    private func create(id: JobID, spec: JobSpec, idempotencyKey: String?) async throws -> Job {
        let now = clock()
        let job = Job(id: id, spec: spec, createdAt: now)
        let submitted = JobEvent(
            jobID: job.id, at: now, kind: .submitted, executionID: nil,
            message: "job \(spec.name) submitted (\(spec.type.rawValue)\(spec.type == .batch ? ", count \(spec.count)" : ""))")
        var evaluation = try evaluate(job, now: now)
        evaluation.batch.events.insert(submitted, at: 0)
        if evaluation.batch.jobs.isEmpty { evaluation.batch.jobs = [evaluation.job] }
        evaluation.batch.createdJobs = [job.id]
        if let idempotencyKey { evaluation.batch.idempotencyKeys = [idempotencyKey: job.id] }
        try await apply(evaluation, isNew: true)
        return jobs[job.id] ?? evaluation.job
    }

    public func stop(_ id: JobID) async throws -> Job {
        guard var job = jobs[id], !job.state.isTerminal else {
            if let stored = try await store.job(id) { return stored }
            throw APIError.notFound("job \(id)")
        }
        let now = clock()
        var batch = StoreBatch()
        var cancels: [(NodeID, ExecutionID)] = []
        for var execution in executions[id]?.values.sorted(by: { $0.id < $1.id }) ?? [] where !execution.state.isTerminal {
            execution.desiredState = .stop
            batch.events.append(try execution.transition(to: .cancelled, reason: "job stopped by user", at: now))
            batch.executions.append(execution)
            cancels.append((execution.nodeID, execution.id))
        }
        batch.events.append(try job.transition(to: .stopped, reason: "stopped by user", at: now))
        batch.jobs.append(job)
        try await commitAhead(batch, of: id)
        finish(job)
        for (node, execution) in cancels {
            nodes[node]?.connection?.enqueue(.cancelExecution(CancelExecution(executionID: execution, reason: "job stopped")))
        }
        return job
    }

    /// Applies a batch's jobs and executions to memory, then commits it. Updating memory before
    /// the commit's `await` means every other method that runs during the commit already sees
    /// the change (two results finishing at once must not both see the other still running). If
    /// the commit fails, the job's previous in-memory state is restored.
    private func commitAhead(_ batch: StoreBatch, of id: JobID) async throws {
        let savedJob = jobs[id]
        let savedExecutions = executions[id]
        for job in batch.jobs where job.id == id { jobs[id] = job }
        for execution in batch.executions where execution.jobID == id {
            executions[id, default: [:]][execution.id] = execution
            executionOwners[execution.id] = id
        }
        do {
            try await store.commit(batch)
        } catch {
            jobs[id] = savedJob
            executions[id] = savedExecutions
            throw error
        }
    }

    /// Current per-node reasons why the job is not (fully) placed.
    public func placementFailures(of id: JobID) -> [String: [String]] {
        placementFailures[id] ?? [:]
    }

    /// Suspends until the job is terminal or `timeout` passes; returns whether it is terminal.
    public func waitUntilTerminal(_ id: JobID, timeout: Duration) async -> Bool {
        guard jobs[id] != nil else { return true }
        let waiterID = nextWaiterID
        nextWaiterID += 1
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.suspend(id, waiterID: waiterID)
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.resumeWaiter(id, waiterID: waiterID)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            await self.resumeWaiter(id, waiterID: waiterID)
            let terminal = await self.jobs[id] == nil
            await self.forgetWaiter(waiterID)
            return first && terminal
        }
    }

    private func suspend(_ id: JobID, waiterID: UInt64) async {
        // The timer may have fired before this child got to run.
        guard jobs[id] != nil, releasedWaiters.remove(waiterID) == nil else { return }
        await withCheckedContinuation { continuation in
            waiters[id, default: [:]][waiterID] = continuation
        }
    }

    private func resumeWaiter(_ id: JobID, waiterID: UInt64) {
        if let continuation = waiters[id]?.removeValue(forKey: waiterID) {
            continuation.resume()
        } else if jobs[id] != nil {
            releasedWaiters.insert(waiterID)
        }
    }

    private func forgetWaiter(_ waiterID: UInt64) {
        // Left over only when the suspending child never ran; it cannot run any more now.
        releasedWaiters.remove(waiterID)
    }

    /// Drops a terminal job from memory and wakes everyone waiting for it.
    private func finish(_ job: Job) {
        jobs[job.id] = nil
        for id in executions[job.id]?.keys ?? [:].keys {
            executionOwners[id] = nil
            logUsage[id] = nil
        }
        executions[job.id] = nil
        placementFailures[job.id] = nil
        unplaced.removeAll { $0 == job.id }
        for continuation in waiters.removeValue(forKey: job.id)?.values ?? [:].values { continuation.resume() }
    }

    // MARK: Placement

    private func snapshot() -> [NodeStatus] {
        var statuses: [NodeID: NodeStatus] = [:]
        for (id, entry) in nodes {
            statuses[id] = NodeStatus(info: entry.record.info, liveness: entry.record.liveness, lastSeen: entry.record.lastSeen)
        }
        for (jobID, byID) in executions {
            guard let resources = jobs[jobID]?.spec.resources else { continue }
            for execution in byID.values where !execution.state.isTerminal {
                statuses[execution.nodeID]?.allocated += resources
                statuses[execution.nodeID]?.activeExecutions += 1
            }
        }
        return statuses.values.sorted { $0.info.id < $1.info.id }
    }

    /// The outcome of running the scheduler for one job: what to persist, then what to send.
    struct Evaluation {
        var job: Job
        var batch = StoreBatch()
        var sends: [(NodeID, ExecutionAssignment)] = []
        var complete: Bool
        var failures: [String: [String]]
    }

    /// Plans placements for `job` against the current cluster. New executions are dispatched
    /// right away if their node is connected, and stay pending (sent on reconnect) otherwise.
    private func evaluate(_ original: Job, now: Timestamp) throws -> Evaluation {
        var job = original
        let id = job.id
        let existing = Array(executions[id]?.values ?? [:].values)
        let plan = scheduler.plan(job: job, existing: existing, nodes: snapshot(), now: now)
        let failures = plan.isComplete ? [:] : explainRejections(plan)
        var evaluation = Evaluation(job: job, complete: plan.isComplete, failures: failures)

        for placement in plan.placements {
            var execution = Execution(
                jobID: id, partition: placement.partition, attempt: placement.attempt, nodeID: placement.nodeID, createdAt: now)
            evaluation.batch.events.append(
                JobEvent(
                    jobID: id, at: now, kind: .placement, executionID: execution.id,
                    message: "partition \(placement.partition) placed on node \(placement.nodeID)"))
            if nodes[placement.nodeID]?.connection != nil {
                evaluation.batch.events.append(try execution.transition(to: .dispatched, at: now))
                evaluation.sends.append(
                    (placement.nodeID, ExecutionAssignment(executionID: execution.id, jobID: id, partition: placement.partition, spec: job.spec)))
            }
            evaluation.batch.executions.append(execution)
        }
        let placedSomewhere = !existing.isEmpty || !plan.placements.isEmpty
        if placedSomewhere && job.state != .running {
            evaluation.batch.events.append(try job.transition(to: .running, at: now))
        } else if !placedSomewhere && job.state == .pending {
            evaluation.batch.events.append(try job.transition(to: .queued, reason: "no node can run it yet", at: now))
        }
        if !plan.isComplete && placementFailures[id] != failures {
            let missing = job.spec.type == .batch ? "\(plan.unplacedPartitions.count) partition(s)" : "the job"
            evaluation.batch.events.append(
                JobEvent(
                    jobID: id, at: now, kind: .queued, executionID: nil,
                    message: "could not place \(missing): "
                        + failures.keys.sorted().flatMap { failures[$0] ?? [] }.joined(separator: "; ")))
        }
        if job != original { evaluation.batch.jobs.append(job) }
        evaluation.job = job
        return evaluation
    }

    /// Per node ID, a line for people: the node's name and why it cannot take (more of) the job.
    private func explainRejections(_ plan: Plan) -> [String: [String]] {
        var lines: [String: [String]] = [:]
        for (id, reasons) in plan.rejections {
            let name = nodes[id]?.record.info.name ?? id.rawValue
            lines[id.rawValue] = ["\(name) (\(id)): " + reasons.map(\.description).joined(separator: "; ")]
        }
        return lines
    }

    /// Applies an evaluation: memory first (so a concurrent evaluation sees the new allocations),
    /// then one commit, then the sends. A failed commit rolls memory back.
    private func apply(_ evaluation: Evaluation, isNew: Bool) async throws {
        let id = evaluation.job.id
        let previousJob = jobs[id]
        let previousFailures = placementFailures[id]
        let wasUnplaced = unplaced.contains(id)
        jobs[id] = evaluation.job
        placementFailures[id] = evaluation.complete ? nil : evaluation.failures
        if evaluation.complete {
            unplaced.removeAll { $0 == id }
        } else if !wasUnplaced {
            unplaced.append(id)
        }
        for execution in evaluation.batch.executions {
            executions[id, default: [:]][execution.id] = execution
            executionOwners[execution.id] = id
        }
        guard !evaluation.batch.isEmpty else { return }
        do {
            try await store.commit(evaluation.batch)
        } catch {
            jobs[id] = previousJob
            placementFailures[id] = previousFailures
            if !wasUnplaced { unplaced.removeAll { $0 == id } } else if !unplaced.contains(id) { unplaced.append(id) }
            for execution in evaluation.batch.executions {
                executions[id]?[execution.id] = nil
                executionOwners[execution.id] = nil
            }
            if isNew { executions[id] = nil }
            throw error
        }
        // Re-check after the await: the job may have been stopped meanwhile.
        guard jobs[id] != nil else { return }
        for (node, assignment) in evaluation.sends {
            nodes[node]?.connection?.enqueue(.runExecution(assignment))
        }
    }

    private func evaluate(_ id: JobID) async throws {
        guard let job = jobs[id], !job.state.isTerminal else { return }
        try await apply(try evaluate(job, now: clock()), isNew: false)
    }

    /// Retries placement of every job still waiting for a node, oldest first.
    private func evaluateWaitingJobs() async {
        for id in unplaced {
            do { try await evaluate(id) } catch {
                logger.error("placement failed", metadata: ["job": "\(id)", "error": "\(error)"])
            }
        }
    }

    // MARK: Nodes

    /// Registers a node that said hello. Throws `NodeInfoProblem`, storing nothing, when the
    /// node's info breaks `NodeInfoLimits`.
    public func nodeConnected(_ hello: AgentHello, connection: NodeConnection) async throws -> Welcome {
        if let problem = hello.node.validationProblem() { throw problem }
        let now = clock()
        let id = hello.node.id
        let record = NodeRecord(info: hello.node, liveness: .connected, lastSeen: now)
        try await store.commit(StoreBatch(nodes: [record]))
        var entry = nodes[id] ?? NodeEntry(record: record)
        entry.record = record
        if entry.epoch != hello.epoch {
            entry.epoch = hello.epoch
            entry.lastProcessedSeq = 0
            entry.inFlight = []
        }
        entry.connection = connection
        nodes[id] = entry
        logger.info("node connected", metadata: ["node": "\(id)", "name": "\(hello.node.name)"])

        // Re-send what this node should be running; the agent ignores executions it already has.
        var batch = StoreBatch()
        var resend: [ExecutionAssignment] = []
        for (jobID, byID) in executions {
            guard let job = jobs[jobID] else { continue }
            for var execution in byID.values where execution.nodeID == id && !execution.state.isTerminal {
                if execution.state == .pending {
                    batch.events.append(try execution.transition(to: .dispatched, at: now))
                    batch.executions.append(execution)
                }
                resend.append(ExecutionAssignment(executionID: execution.id, jobID: jobID, partition: execution.partition, spec: job.spec))
            }
        }
        for (jobID, group) in Dictionary(grouping: batch.executions, by: \.jobID) {
            let events = batch.events.filter { $0.jobID == jobID }
            try await commitAhead(StoreBatch(executions: group, events: events), of: jobID)
        }
        for assignment in resend.sorted(by: { $0.executionID < $1.executionID }) where jobs[assignment.jobID] != nil {
            connection.enqueue(.runExecution(assignment))
        }
        await evaluateWaitingJobs()
        let (seconds, attoseconds) = settings.heartbeatInterval.components
        return Welcome(nodeID: id, heartbeatIntervalMillis: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    public func nodeDisconnected(_ id: NodeID, connectionID: UInt64) async {
        guard var entry = nodes[id], entry.connection?.id == connectionID else { return }
        entry.connection = nil
        entry.record.liveness = .disconnected
        entry.record.lastSeen = clock()
        nodes[id] = entry
        logger.info("node disconnected", metadata: ["node": "\(id)"])
        do { try await store.commit(StoreBatch(nodes: [entry.record])) } catch {
            logger.error("could not record disconnect", metadata: ["node": "\(id)", "error": "\(error)"])
        }
    }

    public func nodeSummaries() -> [NodeSummary] {
        snapshot().map(NodeSummary.init(status:))
    }

    /// Applies a numbered message from a node at most once per agent run. A repeat (a number
    /// already applied in the node's current epoch) changes nothing and returns false.
    ///
    /// The duplicate filter advances only after the message's effects are committed: when
    /// applying throws (the store refused the commit), the message counts as never seen, so the
    /// agent's replay of it is applied rather than acknowledged as a repeat. The caller must not
    /// acknowledge a message this threw for.
    @discardableResult
    public func receive(_ message: AgentMessage, seq: UInt64, from node: NodeID) async throws -> Bool {
        guard let entry = nodes[node], seq > entry.lastProcessedSeq else { return false }
        let epoch = entry.epoch
        // The same message on a second connection (the agent reconnected while the first was
        // still being applied) must not be applied twice at once.
        guard nodes[node]?.inFlight.insert(seq).inserted == true else {
            throw MessageInFlight(seq: seq, node: node)
        }
        defer { if nodes[node]?.epoch == epoch { nodes[node]?.inFlight.remove(seq) } }
        try await handle(message, from: node)
        // A hello with a new epoch meanwhile restarted the numbering; this number belongs to the old run.
        if let current = nodes[node], current.epoch == epoch {
            nodes[node]?.lastProcessedSeq = max(current.lastProcessedSeq, seq)
        }
        return true
    }

    // MARK: Messages from nodes

    public func handle(_ message: AgentMessage, from node: NodeID) async throws {
        nodes[node]?.record.lastSeen = clock()
        switch message {
        case .hello:
            break
        case .heartbeat:
            break
        case .executionUpdate(let update):
            try await applyUpdate(update, from: node)
        case .executionOutput(let output):
            try await applyOutput(output, from: node)
        case .executionResult(let result):
            try await applyResult(result, from: node)
        }
    }

    /// Stores a chunk of an execution's output, within `LogLimits`. Only the node that runs
    /// the execution may add to its log, and only while it runs.
    private func applyOutput(_ output: ExecutionOutput, from node: NodeID) async throws {
        guard let jobID = executionOwners[output.executionID],
            let execution = executions[jobID]?[output.executionID], execution.nodeID == node,
            !execution.state.isTerminal, LogLimits.streams.contains(output.stream), !output.text.isEmpty
        else {
            // Debug level: a hostile node could otherwise flood the orchestrator's own log.
            logger.debug(
                "ignoring output the node may not add", metadata: ["node": "\(node)", "execution": "\(output.executionID)"])
            return
        }
        let id = execution.id
        if logUsage[id] == nil {
            // After a restart: count what is already stored.
            let stored = try await store.logBytes(of: jobID, execution: id)
            if logUsage[id] == nil {
                logUsage[id] = stored.mapValues { StreamUsage(stored: $0, dropped: 0, marked: $0 >= LogLimits.maxBytesPerStream) }
            }
        }
        let before = logUsage[id]?[output.stream] ?? StreamUsage()
        var usage = before
        let size = Int64(output.text.utf8.count)
        let room = max(0, LogLimits.maxBytesPerStream - usage.stored)
        var texts: [String] = []
        if size <= room {
            texts.append(output.text)
            usage.stored += size
        } else {
            let kept = LogLimits.prefix(output.text, maxBytes: room)
            let keptSize = Int64(kept.utf8.count)
            if !kept.isEmpty { texts.append(String(kept)) }
            usage.stored += keptSize
            usage.dropped += size - keptSize
            if !usage.marked {
                usage.marked = true
                texts.append(
                    "\n[insitu: \(output.stream) of execution \(id) reached the \(LogLimits.maxBytesPerStream >> 20) MiB "
                        + "the orchestrator keeps per stream; the rest of it is dropped]\n")
            }
        }
        // Counted before the commit's await, so a concurrent chunk sees the space as taken.
        logUsage[id, default: [:]][output.stream] = usage
        guard !texts.isEmpty else { return }
        let now = clock()
        do {
            try await store.commit(
                StoreBatch(logs: texts.map { LogRecord(jobID: jobID, executionID: id, stream: output.stream, text: $0, at: now) }))
        } catch {
            logUsage[id]?[output.stream]?.stored -= usage.stored - before.stored
            logUsage[id]?[output.stream]?.dropped -= usage.dropped - before.dropped
            if !before.marked { logUsage[id]?[output.stream]?.marked = false }
            throw error
        }
    }

    /// The closing marker for each stream of `execution` whose output was cut.
    private func droppedOutputMarkers(of execution: Execution, at now: Timestamp) -> [LogRecord] {
        (logUsage[execution.id] ?? [:]).filter { $0.value.dropped > 0 }.sorted { $0.key < $1.key }.map { stream, usage in
            LogRecord(
                jobID: execution.jobID, executionID: execution.id, stream: stream,
                text: "[insitu: \(usage.dropped) bytes of \(stream) of execution \(execution.id) were dropped]\n", at: now)
        }
    }

    private func applyUpdate(_ update: ExecutionUpdate, from node: NodeID) async throws {
        guard let jobID = executionOwners[update.executionID],
            var execution = executions[jobID]?[update.executionID], execution.nodeID == node,
            execution.state.canTransition(to: update.state), !update.state.isTerminal
        else { return }
        let event = try execution.transition(to: update.state, reason: update.reason.map(Self.boundedReason), at: clock())
        try await commitAhead(StoreBatch(executions: [execution], events: [event]), of: jobID)
    }

    private func applyResult(_ result: ExecutionResultMessage, from node: NodeID) async throws {
        guard let jobID = executionOwners[result.executionID],
            var execution = executions[jobID]?[result.executionID], execution.nodeID == node,
            !execution.state.isTerminal, result.state.isTerminal
        else {
            // A repeat of a report already applied, or a report for a superseded or stopped
            // execution: it must not change anything.
            return
        }
        guard execution.state.canTransition(to: result.state) else {
            // Never throw here: a report the agent keeps replaying must not break the connection.
            logger.warning(
                "ignoring result that does not fit the execution's lifecycle",
                metadata: ["execution": "\(execution.id)", "state": "\(execution.state)", "reported": "\(result.state)"])
            return
        }
        let now = clock()
        var batch = StoreBatch()
        var state = result.state
        var reason = result.reason.map(Self.boundedReason)
        if result.state == .succeeded {
            // A refused file fails the execution rather than the connection: the agent would
            // only send the same report again.
            switch try acceptFiles(result.files) {
            case .success(let files):
                batch.results.append(
                    ResultRecord(
                        jobID: jobID, partition: execution.partition, executionID: execution.id, nodeID: node, files: files,
                        acceptedAt: now))
            case .failure(let problem):
                state = .failed
                reason = problem.message
            }
        }
        execution.exitCode = result.exitCode
        batch.events.append(try execution.transition(to: state, reason: reason, at: now))
        batch.executions.append(execution)
        batch.logs = droppedOutputMarkers(of: execution, at: now)

        var all = executions[jobID] ?? [:]
        all[execution.id] = execution
        var finishedJob: Job?
        if var job = jobs[jobID], let (state, reason) = settledState(of: job, executions: Array(all.values)) {
            batch.events.append(try job.transition(to: state, reason: reason, at: now))
            batch.jobs.append(job)
            finishedJob = job
        }
        try await commitAhead(batch, of: jobID)
        logUsage[execution.id] = nil
        if let finishedJob {
            finish(finishedJob)
        }
        // Resources were freed: jobs waiting for capacity may fit now.
        await evaluateWaitingJobs()
    }

    struct ResultProblem: Error {
        var message: String
    }

    /// Checks a reported result's files against `ResultLimits` and `ResultPath`, and verifies
    /// each against its digest, before any of them is stored. Throws only when the blob store
    /// fails (the report is then not applied, and the agent sends it again).
    private func acceptFiles(_ payloads: [ResultFilePayload]) throws -> Result<[ResultFile], ResultProblem> {
        func refuse(_ message: String) -> Result<[ResultFile], ResultProblem> { .failure(ResultProblem(message: message)) }
        guard payloads.count <= ResultLimits.maxFiles else {
            return refuse("the result has \(payloads.count) files, more than the \(ResultLimits.maxFiles) a result may hold")
        }
        var verified: [(path: String, bytes: Data, digest: ContentDigest)] = []
        var paths = Set<String>()
        var total: Int64 = 0
        for file in payloads {
            let shown = Self.quoted(file.path)
            if let problem = ResultPath.problem(file.path) {
                return refuse("result file path \(shown) is refused: \(problem)")
            }
            guard paths.insert(file.path).inserted else { return refuse("result file path \(shown) appears twice") }
            guard let digest = file.digest else {
                return refuse("result file \(shown) has a malformed sha256 \(Self.quoted(file.sha256)) (expected 64 lowercase hex digits)")
            }
            guard let bytes = Data(base64Encoded: file.base64) else {
                return refuse("result file \(shown) arrived damaged (its content is not valid base64)")
            }
            total += Int64(bytes.count)
            guard total <= ResultLimits.maxTotalBytes else {
                return refuse("the result's files exceed \(ResultLimits.maxTotalBytes >> 20) MiB, the most a result may hold")
            }
            guard BlobStore.digest(of: bytes) == digest else {
                return refuse("result file \(shown) arrived damaged (its sha256 does not match)")
            }
            verified.append((file.path, bytes, digest))
        }
        return .success(try verified.map { ResultFile(path: $0.path, digest: try blobs.put($0.bytes), size: Int64($0.bytes.count)) })
    }

    /// Longest reason a node may give for a state change; it is stored with the execution and in
    /// an event, so a node must not be able to make it arbitrarily large.
    static let maxReasonBytes: Int64 = 4096

    static func boundedReason(_ text: String) -> String {
        guard text.utf8.count > maxReasonBytes else { return text }
        return LogLimits.prefix(text, maxBytes: maxReasonBytes) + " [cut at \(maxReasonBytes) bytes]"
    }

    /// Text a node sent, for a message to people: quoted, escaped and cut to a readable length.
    static func quoted(_ text: String) -> String {
        let limit = 200
        let cut = text.count > limit ? String(text.prefix(limit)) + "…" : text
        return cut.debugDescription
    }

    /// The terminal state a job reaches once all its executions are terminal, or nil while work
    /// remains (running executions, or partitions not yet placed).
    private func settledState(of job: Job, executions: [Execution]) -> (JobState, String?)? {
        guard !executions.isEmpty, executions.allSatisfy(\.state.isTerminal), !unplaced.contains(job.id) else { return nil }
        if job.spec.type == .batch {
            let partitions = Set(executions.map(\.partition))
            guard partitions.count >= job.spec.count else { return nil }
        }
        let failed = executions.filter { $0.state != .succeeded }.sorted { $0.partition < $1.partition }
        guard let first = failed.first else { return (.completed, nil) }
        let reason = "partition \(first.partition) on node \(first.nodeID) \(first.state.rawValue)"
            + (first.stateReason.map { ": \($0)" } ?? "")
            + (failed.count > 1 ? " (and \(failed.count - 1) more)" : "")
        return (.failed, reason)
    }
}
