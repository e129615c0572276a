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

/// The single, serialized applier of all orchestrator state changes.
///
/// Every change follows the same order: compute the new state in memory (pure model and
/// scheduler), persist it in one store commit, and only then send messages to nodes or answer
/// callers ("persist first, then send"). Because an actor may interleave at every `await`, every
/// method re-reads its state after a commit instead of trusting values read before it.
public actor Orchestrator {
    public struct Settings: Sendable {
        public var heartbeatInterval: Duration
        public init(heartbeatInterval: Duration = .seconds(5)) {
            self.heartbeatInterval = heartbeatInterval
        }
    }

    struct NodeEntry {
        var record: NodeRecord
        var connection: NodeConnection?
        var epoch: UInt64 = 0
        /// Highest agent message number processed in the current epoch; repeats are skipped.
        var lastProcessedSeq: UInt64 = 0
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
    var waiters: [JobID: [UInt64: CheckedContinuation<Void, Never>]] = [:]
    var nextWaiterID: UInt64 = 0

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
            record.liveness = .disconnected
            nodes[record.info.id] = NodeEntry(record: record)
        }
        logger.info("recovered state", metadata: ["jobs": "\(jobs.count)", "nodes": "\(nodes.count)"])
    }

    // MARK: Jobs

    /// Accepts a validated spec: it is durable before this returns, then placed if possible.
    public func submit(_ spec: JobSpec) async throws -> Job {
        let now = clock()
        let job = Job(id: newJobID(), spec: spec, createdAt: now)
        let event = JobEvent(
            jobID: job.id, at: now, kind: .submitted, executionID: nil,
            message: "job \(spec.name) submitted (\(spec.type.rawValue)\(spec.type == .batch ? ", count \(spec.count)" : ""))")
        try await store.commit(StoreBatch(jobs: [job], events: [event]))
        jobs[job.id] = job
        unplaced.append(job.id)
        try await evaluate(job.id)
        return jobs[job.id] ?? job
    }

    public func stop(_ id: JobID) async throws -> Job {
        guard var job = jobs[id] else {
            if let stored = try await store.job(id) { return stored }
            throw APIError.notFound("job \(id)")
        }
        let now = clock()
        var batch = StoreBatch()
        var cancels: [(NodeID, ExecutionID)] = []
        for var execution in executions[id]?.values.sorted(by: { $0.id < $1.id }) ?? [] where !execution.state.isTerminal {
            execution.desiredState = .stop
            if let event = try? execution.transition(to: .cancelled, reason: "job stopped by user", at: now) {
                batch.events.append(event)
            }
            batch.executions.append(execution)
            cancels.append((execution.nodeID, execution.id))
        }
        batch.events.append(try job.transition(to: .stopped, reason: "stopped by user", at: now))
        batch.jobs.append(job)
        try await store.commit(batch)
        finish(job)
        for (node, execution) in cancels {
            nodes[node]?.connection?.enqueue(.cancelExecution(CancelExecution(executionID: execution, reason: "job stopped")))
        }
        return job
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
            return first && self.jobs[id] == nil
        }
    }

    private func suspend(_ id: JobID, waiterID: UInt64) async {
        guard jobs[id] != nil else { return }
        await withCheckedContinuation { continuation in
            waiters[id, default: [:]][waiterID] = continuation
        }
    }

    private func resumeWaiter(_ id: JobID, waiterID: UInt64) {
        if let continuation = waiters[id]?.removeValue(forKey: waiterID) { continuation.resume() }
    }

    /// Drops a terminal job from memory and wakes everyone waiting for it.
    private func finish(_ job: Job) {
        jobs[job.id] = nil
        for id in executions[job.id]?.keys ?? [:].keys { executionOwners[id] = nil }
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

    /// Runs the scheduler for one job and applies its plan: new executions are persisted as
    /// dispatched (or pending, if their node is not connected) and then sent.
    private func evaluate(_ id: JobID) async throws {
        guard var job = jobs[id], !job.state.isTerminal else { return }
        let now = clock()
        let existing = Array(executions[id]?.values ?? [:].values)
        let plan = scheduler.plan(job: job, existing: existing, nodes: snapshot(), now: now)

        var batch = StoreBatch()
        var sends: [(NodeID, ExecutionAssignment)] = []
        for placement in plan.placements {
            var execution = Execution(
                jobID: id, partition: placement.partition, attempt: placement.attempt, nodeID: placement.nodeID,
                createdAt: now)
            batch.events.append(
                JobEvent(
                    jobID: id, at: now, kind: .placement, executionID: execution.id,
                    message: "partition \(placement.partition) placed on node \(placement.nodeID)"))
            if nodes[placement.nodeID]?.connection != nil {
                batch.events.append(try execution.transition(to: .dispatched, at: now))
                sends.append(
                    (placement.nodeID, ExecutionAssignment(executionID: execution.id, jobID: id, partition: placement.partition, spec: job.spec)))
            }
            batch.executions.append(execution)
        }

        let placedSomewhere = !existing.isEmpty || !plan.placements.isEmpty
        let failures = plan.isComplete ? [:] : Dictionary(grouping: plan.explain(), by: { line in
            String(line.prefix { $0 != ":" })
        })
        if plan.isComplete {
            unplaced.removeAll { $0 == id }
        }
        if placedSomewhere && job.state != .running {
            batch.events.append(try job.transition(to: .running, at: now))
        } else if !placedSomewhere && job.state == .pending {
            batch.events.append(try job.transition(to: .queued, reason: "no node can run it yet", at: now))
        }
        if !plan.isComplete && placementFailures[id] != failures {
            let missing = job.spec.type == .batch ? "\(plan.unplacedPartitions.count) partition(s)" : "the job"
            batch.events.append(
                JobEvent(
                    jobID: id, at: now, kind: .queued, executionID: nil,
                    message: "could not place \(missing): " + plan.explain().joined(separator: "; ")))
        }
        if batch.isEmpty {
            placementFailures[id] = plan.isComplete ? nil : failures
            return
        }
        batch.jobs.append(job)
        try await store.commit(batch)
        // Re-read after the await: the job may have been stopped meanwhile.
        guard jobs[id] != nil else { return }
        jobs[id] = job
        placementFailures[id] = plan.isComplete ? nil : failures
        for execution in batch.executions {
            executions[id, default: [:]][execution.id] = execution
            executionOwners[execution.id] = id
        }
        for (node, assignment) in sends {
            nodes[node]?.connection?.enqueue(.runExecution(assignment))
        }
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

    public func nodeConnected(_ hello: AgentHello, connection: NodeConnection) async throws -> Welcome {
        let now = clock()
        let id = hello.node.id
        let record = NodeRecord(info: hello.node, liveness: .connected, lastSeen: now)
        try await store.commit(StoreBatch(nodes: [record]))
        var entry = nodes[id] ?? NodeEntry(record: record)
        entry.record = record
        if entry.epoch != hello.epoch {
            entry.epoch = hello.epoch
            entry.lastProcessedSeq = 0
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
        if !batch.isEmpty {
            try await store.commit(batch)
            for execution in batch.executions where jobs[execution.jobID] != nil {
                executions[execution.jobID]?[execution.id] = execution
            }
        }
        for assignment in resend.sorted(by: { $0.executionID < $1.executionID }) where jobs[assignment.jobID] != nil {
            connection.enqueue(.runExecution(assignment))
        }
        await evaluateWaitingJobs()
        return Welcome(nodeID: id, heartbeatIntervalMillis: Int64(settings.heartbeatInterval.components.seconds * 1000))
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

    /// Whether a message with this number from this node is new; advances the filter if so.
    public func acceptSequence(_ seq: UInt64, from node: NodeID) -> Bool {
        guard var entry = nodes[node] else { return false }
        guard seq > entry.lastProcessedSeq else { return false }
        entry.lastProcessedSeq = seq
        nodes[node] = entry
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
            guard let jobID = executionOwners[output.executionID] else { return }
            let record = LogRecord(jobID: jobID, executionID: output.executionID, stream: output.stream, text: output.text, at: clock())
            try await store.commit(StoreBatch(logs: [record]))
        case .executionResult(let result):
            try await applyResult(result, from: node)
        }
    }

    private func applyUpdate(_ update: ExecutionUpdate, from node: NodeID) async throws {
        guard let jobID = executionOwners[update.executionID],
            var execution = executions[jobID]?[update.executionID], execution.nodeID == node,
            execution.state.canTransition(to: update.state), !update.state.isTerminal
        else { return }
        let event = try execution.transition(to: update.state, reason: update.reason, at: clock())
        try await store.commit(StoreBatch(executions: [execution], events: [event]))
        if jobs[jobID] != nil { executions[jobID]?[execution.id] = execution }
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
        let now = clock()
        var batch = StoreBatch()
        if result.state == .succeeded {
            var files: [ResultFile] = []
            for file in result.files {
                guard let bytes = Data(base64Encoded: file.base64) else {
                    throw APIError.badRequest("result file \(file.path) of \(result.executionID) is not valid base64")
                }
                let digest = try blobs.put(bytes)
                guard digest == file.sha256 else {
                    throw APIError.badRequest("result file \(file.path) of \(result.executionID) does not match its digest")
                }
                files.append(ResultFile(path: file.path, digest: digest, size: Int64(bytes.count)))
            }
            batch.results.append(
                ResultRecord(jobID: jobID, partition: execution.partition, executionID: execution.id, nodeID: node, files: files, acceptedAt: now))
        }
        execution.exitCode = result.exitCode
        if execution.state.canTransition(to: result.state) {
            batch.events.append(try execution.transition(to: result.state, reason: result.reason, at: now))
        } else if execution.state == .dispatched, result.state != .succeeded {
            batch.events.append(try execution.transition(to: .failed, reason: result.reason, at: now))
        }
        batch.executions.append(execution)

        var all = executions[jobID] ?? [:]
        all[execution.id] = execution
        var finishedJob: Job?
        if var job = jobs[jobID], let (state, reason) = settledState(of: job, executions: Array(all.values)) {
            batch.events.append(try job.transition(to: state, reason: reason, at: now))
            batch.jobs.append(job)
            finishedJob = job
        }
        try await store.commit(batch)
        guard jobs[jobID] != nil else { return }
        executions[jobID]?[execution.id] = execution
        if let finishedJob {
            finish(finishedJob)
        }
        // Resources were freed: jobs waiting for capacity may fit now.
        await evaluateWaitingJobs()
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
