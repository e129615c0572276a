public import InsituAPI
public import InsituModel
import InsituScheduler
public import InsituStore

/// The orchestrator's decisions as a value type: jobs, executions, nodes and their liveness,
/// placement, retries and settlement.
///
/// Pure: no clock, no I/O, no randomness of its own. Time arrives with every input; job IDs come
/// in the submit input; jitter comes from the seed given at start. `apply` changes the state in
/// memory and appends to `Effects` what must be persisted and sent. The shell commits the batch of
/// a whole drain of inputs at once and acts on the rest only after that commit succeeded; if the
/// commit fails it throws this value away and starts a new one from the store. So nothing is ever
/// acknowledged, sent or answered that is not durable, without any rollback code.
public struct ControlPlane: Sendable {
    public struct Settings: Sendable, Hashable {
        public var liveness: LivenessSettings
        /// The wall-clock limit of an execution whose spec sets no `timeout`. Written into the
        /// job's spec at submission, so `job describe` shows it and every node enforces it.
        public var defaultExecutionTimeoutMillis: Int64
        /// How long a job may wait for placement when its spec sets no `queueTimeout`.
        public var defaultQueueTimeoutMillis: Int64
        /// Seeds the jitter of retry delays.
        public var seed: UInt64

        public init(
            liveness: LivenessSettings = LivenessSettings(), defaultExecutionTimeoutMillis: Int64 = 3_600_000,
            defaultQueueTimeoutMillis: Int64 = 86_400_000, seed: UInt64 = 0
        ) {
            self.liveness = liveness
            self.defaultExecutionTimeoutMillis = defaultExecutionTimeoutMillis
            self.defaultQueueTimeoutMillis = defaultQueueTimeoutMillis
            self.seed = seed
        }
    }

    struct ActiveJob: Sendable {
        var job: Job
        var executions: [ExecutionID: Execution] = [:]
        var idempotencyKey: String?
        /// Per-node reasons the job is not fully placed, for people; empty once it is.
        var failures: [String: [String]] = [:]
        /// Since when the job has been waiting for placement without progress; nil while placed.
        var waitingSince: Timestamp?
        /// Batch partitions waiting out a retry delay, and when they may be placed again.
        var retryAt: [Int: Timestamp] = [:]
    }

    struct StreamUsage: Sendable {
        /// Bytes of the stream received, by the offsets agents send (stored, dropped or cut).
        var received: Int64 = 0
        var stored: Int64 = 0
        var dropped: Int64 = 0
        /// Whether the line saying the rest is dropped was stored.
        var marked = false
    }

    struct NodeState: Sendable {
        var info: NodeInfo
        var health: NodeHealth
        var lastSeen: Timestamp
        /// Highest message number applied in the node's current incarnation; repeats are skipped.
        var lastAppliedSeq: UInt64 = 0
        /// Non-terminal executions placed on the node.
        var executions: Set<ExecutionID> = []
        var draining = false

        var record: NodeRecord { NodeRecord(info: info, liveness: health.liveness, lastSeen: lastSeen, draining: draining) }
    }

    public let settings: Settings
    let scheduler = Scheduler()
    /// The scheduler's live view of the nodes (by dataset, engine and label, with allocations),
    /// kept in step with `nodes` so no evaluation rebuilds or sorts the whole cluster.
    var index = NodeIndex()
    var jobs: [JobID: ActiveJob] = [:]
    var owners: [ExecutionID: JobID] = [:]
    var nodes: [NodeID: NodeState] = [:]
    /// Jobs to evaluate again when the cluster changes or time passes, oldest first.
    var queue: [JobID] = []
    var queued: Set<JobID> = []
    /// Nodes where a queued job may fit now although it did not when last planned: capacity was
    /// released there, or the node registered or answered again. A queued job is tried against
    /// these alone (a plan over a node or two) and planned in full only if one can take it, so
    /// a result costs a few cheap checks per queued job, not a full plan of each.
    var touched: Set<NodeID> = []
    /// How many times a job was planned in full (`evaluate`): what a result or a hello costs.
    public private(set) var evaluations = 0
    var logUsage: [ExecutionID: [String: StreamUsage]] = [:]
    /// Idempotency keys of active jobs; keys of finished jobs are found in the store by the shell.
    var keys: [String: JobID] = [:]

    /// Starts from what the store holds. `logBytes` is the output already stored per active
    /// execution and stream, so the per-stream cap survives a restart. Invalid node records are
    /// skipped and returned, so the shell can log them.
    public init(
        settings: Settings, recovered: RecoveredState, logBytes: [ExecutionID: [String: Int64]] = [:], now: Timestamp
    ) {
        self.settings = settings
        for job in recovered.activeJobs.sorted(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }) {
            jobs[job.id] = ActiveJob(job: job, waitingSince: now)
            enqueue(job.id)
        }
        for record in recovered.nodes where record.info.validationProblem() == nil {
            var state = NodeState(info: record.info, health: NodeHealth(recoveredAt: now), lastSeen: record.lastSeen)
            state.draining = record.draining
            nodes[record.info.id] = state
            index.upsert(record.info, liveness: .disconnected, at: now)
            index.setDraining(record.draining, of: record.info.id)
        }
        for execution in recovered.executions where jobs[execution.jobID] != nil {
            track(execution)
        }
        for (id, streams) in logBytes where owners[id] != nil {
            logUsage[id] = streams.mapValues { StreamUsage(received: $0, stored: $0, dropped: 0, marked: $0 >= LogLimits.maxBytesPerStream) }
        }
    }

    /// Node records the store held that break `NodeInfoLimits` and were left out.
    public static func invalidNodes(in recovered: RecoveredState) -> [(NodeID, NodeInfoProblem)] {
        recovered.nodes.compactMap { record in record.info.validationProblem().map { (record.info.id, $0) } }
    }

    // MARK: Reading

    public func job(_ id: JobID) -> Job? { jobs[id]?.job }
    public func isActive(_ id: JobID) -> Bool { jobs[id] != nil }
    public var activeJobCount: Int { jobs.count }
    /// Active jobs per state (pending, queued, running), for the metrics.
    public func activeJobStates() -> [JobState: Int] {
        jobs.values.reduce(into: [:]) { counts, entry in counts[entry.job.state, default: 0] += 1 }
    }
    /// Jobs waiting for a node that can run them.
    public var queueDepth: Int { queue.count }
    /// Executions placed but not yet started on their node (pending or dispatched).
    public var waitingExecutionCount: Int {
        jobs.values.reduce(0) { total, entry in total + entry.executions.values.count { $0.state == .pending || $0.state == .dispatched } }
    }
    public func executions(of id: JobID) -> [Execution] {
        (jobs[id]?.executions.values).map { $0.sorted { $0.id < $1.id } } ?? []
    }
    public func placementFailures(of id: JobID) -> [String: [String]] { jobs[id]?.failures ?? [:] }
    public func liveness(of node: NodeID) -> NodeLiveness? { nodes[node]?.health.liveness }
    public func connection(of node: NodeID) -> UInt64? { nodes[node]?.health.connection }

    public func nodeStatuses() -> [NodeStatus] {
        index.statuses.map { status in
            var status = status
            if let state = nodes[status.info.id] { status.lastSeen = state.lastSeen }
            return status
        }
    }

    // MARK: Applying inputs

    public mutating func apply(_ input: Input, at now: Timestamp, into effects: inout Effects) -> Reply {
        let reply: Reply
        switch input {
        case .submit(let spec, let id, let key, let existing):
            reply = submit(spec, id: id, idempotencyKey: key, existing: existing, now: now, effects: &effects)
        case .stop(let id):
            reply = stop(id, now: now, effects: &effects)
        case .nodeConnected(let hello, let connection):
            reply = connected(hello, connection: connection, now: now, effects: &effects)
        case .nodeMessage(let report, let seq, let node, let connection):
            reply = receive(report, seq: seq, from: node, connection: connection, now: now, effects: &effects)
        case .nodeDisconnected(let node, let connection):
            disconnected(node, connection: connection, now: now, effects: &effects)
            reply = .done
        case .tick:
            tick(now: now, effects: &effects)
            reply = .done
        case .drainNode(let id, let draining):
            reply = drain(id, draining, now: now, effects: &effects)
        case .forgetNode(let id):
            reply = forget(id, now: now, effects: &effects)
        }
        // Whatever freed capacity or brought a node (back) may let waiting jobs run.
        if !touched.isEmpty { evaluateQueued(now: now, effects: &effects) }
        return reply
    }

    // MARK: Jobs

    mutating func submit(
        _ requested: JobSpec, id: JobID, idempotencyKey: String?, existing: Job?, now: Timestamp, effects: inout Effects
    ) -> Reply {
        if let existing { return .submitted(jobs[existing.id]?.job ?? existing, created: false) }
        if let idempotencyKey, let claimed = keys[idempotencyKey], let job = jobs[claimed]?.job {
            return .submitted(job, created: false)
        }
        // The shell draws 128-bit IDs; one already active here is refused rather than reused.
        guard jobs[id] == nil else { return .notActive(id) }
        var spec = requested
        if spec.timeoutMillis == nil { spec.timeoutMillis = settings.defaultExecutionTimeoutMillis }
        let job = Job(id: id, spec: spec, createdAt: now)
        jobs[id] = ActiveJob(job: job, idempotencyKey: idempotencyKey, waitingSince: now)
        if let idempotencyKey {
            keys[idempotencyKey] = id
            effects.batch.idempotencyKeys[idempotencyKey] = id
        }
        effects.batch.createdJobs.insert(id)
        effects.batch.events.append(
            JobEvent(
                jobID: id, at: now, kind: .submitted, executionID: nil,
                message: "job \(spec.name) submitted (\(spec.type.rawValue)\(spec.type == .batch ? ", count \(spec.count)" : ""))"))
        evaluate(id, now: now, effects: &effects)
        if let current = jobs[id]?.job { write(current, effects: &effects) }
        return .submitted(jobs[id]?.job ?? job, created: true)
    }

    mutating func stop(_ id: JobID, now: Timestamp, effects: inout Effects) -> Reply {
        guard jobs[id] != nil else { return .notActive(id) }
        cancelActiveExecutions(of: id, reason: "job stopped by user", tellingNodes: "job stopped", now: now, effects: &effects)
        guard var entry = jobs[id] else { return .notActive(id) }
        guard let event = try? entry.job.transition(to: .stopped, reason: "stopped by user", at: now) else { return .notActive(id) }
        effects.batch.events.append(event)
        jobs[id] = entry
        finish(id, effects: &effects)
        return .stopped(entry.job)
    }

    /// Plans placements for a job against the current cluster: partitions with no execution, and
    /// batch partitions whose retry is due. New executions are dispatched at once when their node
    /// is connected, and stay pending (sent when it says hello) otherwise.
    mutating func evaluate(_ id: JobID, now: Timestamp, effects: inout Effects) {
        guard var entry = jobs[id], !entry.job.state.isTerminal else { return }
        evaluations += 1
        let before = entry.job
        let spec = entry.job.spec
        var hidden = Set<Int>()
        var attempts: [Int: Int] = [:]
        var waitingRetry = false
        if spec.type == .batch {
            for (partition, group) in Dictionary(grouping: entry.executions.values, by: \.partition) {
                attempts[partition] = group.map(\.attempt).max() ?? 0
                guard retryable(group, spec: spec) else { continue }
                let due = entry.retryAt[partition] ?? now
                if due <= now {
                    hidden.insert(partition)
                    entry.retryAt[partition] = nil
                } else {
                    entry.retryAt[partition] = due
                    waitingRetry = true
                }
            }
        }
        let existing = entry.executions.values.filter { !hidden.contains($0.partition) }
        let plan = scheduler.plan(job: entry.job, existing: Array(existing), index: index, now: now)
        jobs[id] = entry
        // `entry` must not share the executions' storage while `record` adds to it, or every
        // placement would copy the whole dictionary.
        entry.executions = [:]
        for placement in plan.placements {
            let attempt = (attempts[placement.partition] ?? 0) + 1
            var execution = Execution(jobID: id, partition: placement.partition, attempt: attempt, nodeID: placement.nodeID, createdAt: now)
            effects.batch.events.append(
                JobEvent(
                    jobID: id, at: now, kind: .placement, executionID: execution.id,
                    message: "partition \(placement.partition) attempt \(attempt) placed on node \(placement.nodeID)"))
            if let connection = nodes[placement.nodeID]?.health.connection, let event = try? execution.transition(to: .dispatched, at: now) {
                effects.batch.events.append(event)
                effects.sends.append(
                    Effects.Send(
                        node: placement.nodeID, connection: connection,
                        message: .runExecution(
                            ExecutionAssignment(executionID: execution.id, jobID: id, partition: execution.partition, spec: spec))))
            }
            record(execution, effects: &effects)
        }
        guard let current = jobs[id] else { return }
        entry = current
        let placedSomewhere = !entry.executions.isEmpty
        if placedSomewhere && entry.job.state != .running, let event = try? entry.job.transition(to: .running, at: now) {
            effects.batch.events.append(event)
        } else if !placedSomewhere && entry.job.state == .pending,
            let event = try? entry.job.transition(to: .queued, reason: "no node can run it yet", at: now)
        {
            effects.batch.events.append(event)
        }
        var failures: [String: [String]] = [:]
        if !plan.isComplete {
            // The index only examines nodes that could hold the job; on a small cluster people
            // still want every node's reason, so it is planned once more against all of them.
            let full = index.count <= scheduler.configuration.maxListedRejections
                ? scheduler.plan(job: entry.job, existing: Array(existing), nodes: index.statuses, now: now) : plan
            failures = explain(full)
        }
        if !plan.isComplete && entry.failures != failures {
            let missing = spec.type == .batch ? "\(plan.unplacedPartitions.count) partition(s)" : "the job"
            effects.batch.events.append(
                JobEvent(
                    jobID: id, at: now, kind: .queued, executionID: nil,
                    message: "could not place \(missing): " + failures.keys.sorted().flatMap { failures[$0] ?? [] }.joined(separator: "; ")))
        }
        entry.failures = failures
        if plan.isComplete {
            entry.waitingSince = nil
        } else if entry.waitingSince == nil || !plan.placements.isEmpty {
            entry.waitingSince = now
        }
        jobs[id] = entry
        if plan.isComplete && !waitingRetry { dequeue(id) } else { enqueue(id) }
        if entry.job != before { write(entry.job, effects: &effects) }
        settleIfDone(id, now: now, effects: &effects)
    }

    /// Whether a batch partition, given all its executions, may be placed again.
    func retryable(_ group: [Execution], spec: JobSpec) -> Bool {
        guard group.allSatisfy(\.state.isTerminal), !group.contains(where: { $0.state == .succeeded }) else { return false }
        guard let last = group.max(by: { $0.attempt < $1.attempt }) else { return false }
        switch last.state {
        case .failed: break
        case .lost: guard spec.effectiveNodeLoss.action == .replace else { return false }
        default: return false
        }
        return group.count < min(max(spec.effectiveRetry.attempts, 1), RetryPolicy.maxAttempts)
    }

    func queueTimeout(of job: Job) -> Int64 { job.spec.queueTimeoutMillis ?? settings.defaultQueueTimeoutMillis }

    /// Per node ID, a line for people: the node's name and why it cannot take (more of) the job.
    /// On a large cluster only some nodes are listed; the rest are counted per reason under
    /// `otherNodesKey`.
    func explain(_ plan: Plan) -> [String: [String]] {
        var lines: [String: [String]] = [:]
        for (id, reasons) in plan.rejections {
            let name = nodes[id]?.info.name ?? id.rawValue
            lines[id.rawValue] = ["\(name) (\(id)): " + reasons.map(\.description).joined(separator: "; ")]
        }
        let others = plan.unlisted.explain()
        if !others.isEmpty { lines[Self.otherNodesKey] = others }
        return lines
    }

    public static let otherNodesKey = "(other nodes)"

    /// Ends the job once every partition is settled: succeeded, or failed with no retry left.
    mutating func settleIfDone(_ id: JobID, now: Timestamp, effects: inout Effects) {
        guard var entry = jobs[id], !entry.job.state.isTerminal, entry.failures.isEmpty, entry.retryAt.isEmpty else { return }
        let spec = entry.job.spec
        let all = Array(entry.executions.values)
        guard !all.isEmpty, all.allSatisfy(\.state.isTerminal) else { return }
        var failed: [Execution] = []
        switch spec.type {
        case .batch:
            let byPartition = Dictionary(grouping: all, by: \.partition)
            guard byPartition.count >= spec.count else { return }
            for group in byPartition.values where !group.contains(where: { $0.state == .succeeded }) {
                if retryable(group, spec: spec) { return }
                if let last = group.max(by: { $0.attempt < $1.attempt }) { failed.append(last) }
            }
        case .ops:
            failed = all.filter { $0.state != .succeeded }
        }
        failed.sort { ($0.partition, $0.attempt) < ($1.partition, $1.attempt) }
        let event: JobEvent?
        if let first = failed.first {
            let reason = "partition \(first.partition) on node \(first.nodeID) \(first.state.rawValue)"
                + (first.attempt > 1 ? " on attempt \(first.attempt)" : "")
                + (first.stateReason.map { ": \($0)" } ?? "") + (failed.count > 1 ? " (and \(failed.count - 1) more)" : "")
            event = try? entry.job.transition(to: .failed, reason: reason, at: now)
        } else {
            event = try? entry.job.transition(to: .completed, at: now)
        }
        guard let event else { return }
        effects.batch.events.append(event)
        jobs[id] = entry
        finish(id, effects: &effects)
    }

    /// Cancels every execution of the job that has not ended, and tells the nodes that run them.
    mutating func cancelActiveExecutions(of id: JobID, reason: String, tellingNodes message: String, now: Timestamp, effects: inout Effects) {
        for var execution in (jobs[id]?.executions.values.sorted(by: { $0.id < $1.id }) ?? []) where !execution.state.isTerminal {
            execution.desiredState = .stop
            guard let event = try? execution.transition(to: .cancelled, reason: reason, at: now) else { continue }
            effects.batch.events.append(event)
            record(execution, effects: &effects)
            send(.cancelExecution(CancelExecution(executionID: execution.id, reason: message)), to: execution.nodeID, effects: &effects)
        }
    }

    /// Fails a job that could not be placed within its queue timeout, cancelling what runs.
    mutating func expireQueued(_ id: JobID, now: Timestamp, effects: inout Effects) {
        guard let entry = jobs[id] else { return }
        let reasons = entry.failures.isEmpty
            ? "no node is connected" : entry.failures.keys.sorted().flatMap { entry.failures[$0] ?? [] }.joined(separator: "; ")
        let limit = queueTimeout(of: entry.job)
        cancelActiveExecutions(of: id, reason: "job failed: queue timeout", tellingNodes: "job failed", now: now, effects: &effects)
        guard var current = jobs[id],
            let event = try? current.job.transition(
                to: .failed, reason: "nothing could run it within its queue timeout of \(limit / 1000)s: \(reasons)", at: now)
        else { return }
        effects.batch.events.append(event)
        jobs[id] = current
        finish(id, effects: &effects)
    }

    /// Drops a terminal job from memory; it lives on in the store.
    mutating func finish(_ id: JobID, effects: inout Effects) {
        guard let entry = jobs.removeValue(forKey: id) else { return }
        for execution in entry.executions.values {
            owners[execution.id] = nil
            logUsage[execution.id] = nil
            if !execution.state.isTerminal { release(execution) }
        }
        if let key = entry.idempotencyKey { keys[key] = nil }
        dequeue(id)
        write(entry.job, effects: &effects)
        effects.settled.append(id)
    }

    /// Puts a job's latest version in the batch, once: the store inserts a created job and
    /// version-checks every update, so one batch must not carry two versions of a job.
    func write(_ job: Job, effects: inout Effects) {
        if let index = effects.batch.jobs.firstIndex(where: { $0.id == job.id }) {
            effects.batch.jobs[index] = job
        } else {
            effects.batch.jobs.append(job)
        }
    }

    // MARK: Executions

    /// Starts tracking an execution loaded from the store.
    mutating func track(_ execution: Execution) {
        owners[execution.id] = execution.jobID
        jobs[execution.jobID]?.executions[execution.id] = execution
        if !execution.state.isTerminal { occupy(execution) }
    }

    /// Records a new or changed execution in memory and in the batch, keeping node allocations
    /// in step with which executions are active.
    mutating func record(_ execution: Execution, effects: inout Effects) {
        let previous = jobs[execution.jobID]?.executions[execution.id]
        owners[execution.id] = execution.jobID
        jobs[execution.jobID]?.executions[execution.id] = execution
        let wasActive = previous.map { !$0.state.isTerminal } ?? false
        if wasActive && execution.state.isTerminal { release(execution) }
        if !wasActive && !execution.state.isTerminal { occupy(execution) }
        if execution.state.isTerminal { logUsage[execution.id] = nil }
        if let index = effects.batch.executions.firstIndex(where: { $0.id == execution.id }) {
            effects.batch.executions[index] = execution
        } else {
            effects.batch.executions.append(execution)
        }
    }

    mutating func occupy(_ execution: Execution) {
        guard let resources = jobs[execution.jobID]?.job.spec.resources, nodes[execution.nodeID] != nil,
            nodes[execution.nodeID]?.executions.insert(execution.id).inserted == true
        else { return }
        index.allocate(resources, on: execution.nodeID)
    }

    mutating func release(_ execution: Execution) {
        guard let resources = jobs[execution.jobID]?.job.spec.resources,
            nodes[execution.nodeID]?.executions.remove(execution.id) != nil
        else { return }
        index.release(resources, on: execution.nodeID)
        touched.insert(execution.nodeID)
    }

    /// Tells the index a node's liveness after its health changed.
    mutating func syncLiveness(_ id: NodeID, at now: Timestamp) {
        guard let liveness = nodes[id]?.health.liveness, index[id]?.liveness != liveness else { return }
        index.setLiveness(liveness, of: id, at: now)
    }

    /// Ends an execution whose node stopped answering, and lets its job retry or settle.
    mutating func loseExecution(_ id: ExecutionID, reason: String, now: Timestamp, effects: inout Effects) {
        guard let jobID = owners[id], var execution = jobs[jobID]?.executions[id], !execution.state.isTerminal,
            let event = try? execution.transition(to: .lost, reason: reason, at: now)
        else { return }
        effects.batch.events.append(event)
        record(execution, effects: &effects)
        evaluate(jobID, now: now, effects: &effects)
    }

    // MARK: Nodes

    mutating func drain(_ id: NodeID, _ draining: Bool, now: Timestamp, effects: inout Effects) -> Reply {
        guard var state = nodes[id] else { return .unknownNode(id) }
        if state.draining != draining {
            state.draining = draining
            nodes[id] = state
            index.setDraining(draining, of: id)
            effects.batch.nodes.append(state.record)
            // A lifted drain may let queued jobs run there.
            if !draining { touched.insert(id) }
        }
        return index[id].map { .node($0) } ?? .unknownNode(id)
    }

    /// Only a node that is away can be forgotten: a connected one would say hello again at once.
    /// Its unfinished executions are lost now rather than after their job's grace period, since
    /// the operator says the node will not return.
    mutating func forget(_ id: NodeID, now: Timestamp, effects: inout Effects) -> Reply {
        guard let state = nodes[id] else { return .unknownNode(id) }
        let liveness = state.health.liveness
        guard liveness == .disconnected || liveness == .lost else { return .nodeStillConnected(id, liveness) }
        let executions = state.executions.sorted()
        for execution in executions {
            loseExecution(execution, reason: "node \(id) was deleted by an operator", now: now, effects: &effects)
        }
        nodes[id] = nil
        index.remove(id)
        touched.remove(id)
        effects.batch.forgottenNodes.append(id)
        effects.batch.nodes.removeAll { $0.info.id == id }
        return .forgotten(id, lostExecutions: executions.count)
    }

    mutating func connected(_ hello: AgentHello, connection: UInt64, now: Timestamp, effects: inout Effects) -> Reply {
        if let problem = hello.node.validationProblem() { return .refused(problem) }
        let id = hello.node.id
        var state = nodes[id] ?? NodeState(info: hello.node, health: NodeHealth(recoveredAt: now), lastSeen: now)
        if let previous = state.health.connection, previous != connection {
            // A second connection for the node replaces the first, which must not linger.
            effects.closes.append(Effects.Close(node: id, connection: previous, reason: "replaced by a newer connection"))
        }
        let restarted = state.health.hello(epoch: hello.epoch, connection: connection, at: now)
        if restarted { state.lastAppliedSeq = 0 }
        state.info = hello.node
        state.lastSeen = now
        nodes[id] = state
        index.upsert(hello.node, liveness: state.health.liveness, at: now)
        index.setDraining(state.draining, of: id)
        // Deleted earlier in this drain and back already: the new record must survive the commit.
        effects.batch.forgottenNodes.removeAll { $0 == id }
        effects.batch.nodes.append(state.record)
        reconcile(id, known: Set(hello.knownExecutions), restarted: restarted, connection: connection, now: now, effects: &effects)
        touched.insert(id)
        return .welcome(Welcome(nodeID: id, heartbeatIntervalMillis: settings.liveness.heartbeatMillis))
    }

    /// Brings a node that said hello in line with what the control plane wants it to run:
    /// executions it holds but should not run are cancelled (so a stop issued while it was away
    /// reaches it), work it was given but does not know is sent again if it never started, and
    /// work it had started but no longer knows (it restarted) is lost and tried again.
    mutating func reconcile(
        _ node: NodeID, known: Set<ExecutionID>, restarted: Bool, connection: UInt64, now: Timestamp, effects: inout Effects
    ) {
        for id in known.sorted() {
            guard let jobID = owners[id], let execution = jobs[jobID]?.executions[id], execution.nodeID == node,
                !execution.state.isTerminal
            else {
                effects.sends.append(
                    Effects.Send(
                        node: node, connection: connection,
                        message: .cancelExecution(CancelExecution(executionID: id, reason: "not assigned to this node any more"))))
                continue
            }
        }
        for id in (nodes[node]?.executions ?? []).sorted() where !known.contains(id) {
            guard let jobID = owners[id], var execution = jobs[jobID]?.executions[id], let spec = jobs[jobID]?.job.spec else { continue }
            switch execution.state {
            case .pending, .dispatched:
                if execution.state == .pending, let event = try? execution.transition(to: .dispatched, at: now) {
                    effects.batch.events.append(event)
                    record(execution, effects: &effects)
                }
                effects.sends.append(
                    Effects.Send(
                        node: node, connection: connection,
                        message: .runExecution(
                            ExecutionAssignment(executionID: id, jobID: jobID, partition: execution.partition, spec: spec))))
            case .running:
                let why = restarted ? "node \(node) restarted and no longer has it" : "node \(node) no longer has it"
                loseExecution(id, reason: why, now: now, effects: &effects)
            default:
                break
            }
        }
    }

    mutating func disconnected(_ node: NodeID, connection: UInt64, now: Timestamp, effects: inout Effects) {
        guard var state = nodes[node], state.health.closed(connection: connection, at: now) else { return }
        state.lastSeen = now
        nodes[node] = state
        syncLiveness(node, at: now)
        effects.batch.nodes.append(state.record)
    }

    mutating func receive(
        _ report: NodeReport, seq: UInt64, from node: NodeID, connection: UInt64, now: Timestamp, effects: inout Effects
    ) -> Reply {
        guard var state = nodes[node], state.health.connection == connection else { return .staleConnection }
        let wasSuspect = state.health.liveness == .suspect
        state.health.heard(at: now)
        state.lastSeen = now
        if wasSuspect { effects.batch.nodes.append(state.record) }
        guard seq == 0 || seq > state.lastAppliedSeq else {
            nodes[node] = state
            syncLiveness(node, at: now)
            effects.acks.append(Effects.Ack(node: node, connection: connection, seq: seq))
            return .applied(fresh: false)
        }
        if seq != 0 {
            state.lastAppliedSeq = seq
            effects.acks.append(Effects.Ack(node: node, connection: connection, seq: seq))
        }
        nodes[node] = state
        syncLiveness(node, at: now)
        switch report {
        case .heartbeat:
            if wasSuspect { touched.insert(node) }
        case .update(let update): applyUpdate(update, from: node, now: now, effects: &effects)
        case .output(let output): applyOutput(output, from: node, now: now, effects: &effects)
        case .result(let result): applyResult(result, from: node, now: now, effects: &effects)
        }
        return .applied(fresh: true)
    }

    mutating func applyUpdate(_ update: ExecutionUpdate, from node: NodeID, now: Timestamp, effects: inout Effects) {
        guard let jobID = owners[update.executionID], var execution = jobs[jobID]?.executions[update.executionID],
            execution.nodeID == node, !update.state.isTerminal, execution.state.canTransition(to: update.state),
            let event = try? execution.transition(to: update.state, reason: update.reason.map(Self.boundedReason), at: now)
        else { return }
        effects.batch.events.append(event)
        record(execution, effects: &effects)
    }

    /// Stores a chunk of an execution's output, within `LogLimits`. Only the node that runs the
    /// execution may add to its log, and only while it runs.
    mutating func applyOutput(_ output: ExecutionOutput, from node: NodeID, now: Timestamp, effects: inout Effects) {
        guard let jobID = owners[output.executionID], let execution = jobs[jobID]?.executions[output.executionID],
            execution.nodeID == node, !execution.state.isTerminal, LogLimits.streams.contains(output.stream), !output.text.isEmpty
        else { return }
        let id = execution.id
        var usage = logUsage[id]?[output.stream] ?? StreamUsage()
        var text = output.text
        if let offset = output.offset, offset >= 0 {
            // A replayed chunk: keep only what was not received before.
            let seen = usage.received - offset
            let total = Int64(text.utf8.count)
            guard seen < total else { return }
            if seen > 0 { text = String(decoding: text.utf8.dropFirst(Int(seen)), as: UTF8.self) }
            usage.received = max(usage.received, offset.addingClamped(total))
        }
        let size = Int64(text.utf8.count)
        let room = max(0, LogLimits.maxBytesPerStream - usage.stored)
        var texts: [String] = []
        if size <= room {
            texts.append(text)
            usage.stored += size
        } else {
            let kept = LogLimits.prefix(text, maxBytes: room)
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
        logUsage[id, default: [:]][output.stream] = usage
        effects.batch.logs.append(
            contentsOf: texts.map { LogRecord(jobID: jobID, executionID: id, stream: output.stream, text: $0, at: now) })
    }

    mutating func applyResult(_ result: VerifiedResult, from node: NodeID, now: Timestamp, effects: inout Effects) {
        guard let jobID = owners[result.executionID], var execution = jobs[jobID]?.executions[result.executionID],
            execution.nodeID == node, result.state.isTerminal
        else { return }
        guard !execution.state.isTerminal else {
            // A late report from an attempt already given up on (lost or cancelled): recorded for
            // people, never accepted. A repeat of a report already applied is silent.
            if execution.state == .lost || execution.state == .cancelled {
                effects.batch.events.append(
                    JobEvent(
                        jobID: jobID, at: now, kind: .note, executionID: execution.id,
                        message: "late \(result.state.rawValue) report from execution \(execution.id) on \(node) refused: "
                            + "the execution is already \(execution.state.rawValue)"))
            }
            return
        }
        var state = result.state
        var reason = result.reason.map(Self.boundedReason)
        if state == .succeeded, let refusal = result.refusal {
            state = .failed
            reason = refusal
        }
        guard execution.state.canTransition(to: state) else { return }
        execution.exitCode = result.exitCode
        guard let event = try? execution.transition(to: state, reason: reason, at: now) else { return }
        if state == .succeeded {
            effects.batch.results.append(
                ResultRecord(
                    jobID: jobID, partition: execution.partition, executionID: execution.id, nodeID: node, files: result.files,
                    acceptedAt: now))
        }
        effects.batch.logs.append(contentsOf: droppedOutputMarkers(of: execution, at: now))
        effects.batch.events.append(event)
        record(execution, effects: &effects)
        var retrying = false
        if state == .failed, let entry = jobs[jobID], entry.job.spec.type == .batch,
            retryable(entry.executions.values.filter { $0.partition == execution.partition }, spec: entry.job.spec)
        {
            retrying = true
            let attempt = execution.attempt + 1
            let delay = entry.job.spec.effectiveRetry.delay(beforeAttempt: attempt, jitter: jitter(for: execution.id))
            jobs[jobID]?.retryAt[execution.partition] = Timestamp(milliseconds: now.milliseconds.addingClamped(delay))
            effects.batch.events.append(
                JobEvent(
                    jobID: jobID, at: now, kind: .note, executionID: execution.id,
                    message: "partition \(execution.partition) will be tried again (attempt \(attempt)) in \(delay) ms"))
        }
        // Planning again is only needed when something is left to place; otherwise the job may
        // just have settled.
        if retrying || queued.contains(jobID) {
            evaluate(jobID, now: now, effects: &effects)
        } else {
            settleIfDone(jobID, now: now, effects: &effects)
        }
    }

    /// The closing marker for each stream of `execution` whose output was cut.
    func droppedOutputMarkers(of execution: Execution, at now: Timestamp) -> [LogRecord] {
        (logUsage[execution.id] ?? [:]).filter { $0.value.dropped > 0 }.sorted { $0.key < $1.key }.map { stream, usage in
            LogRecord(
                jobID: execution.jobID, executionID: execution.id, stream: stream,
                text: "[insitu: \(usage.dropped) bytes of \(stream) of execution \(execution.id) were dropped]\n", at: now)
        }
    }

    // MARK: Time

    mutating func tick(now: Timestamp, effects: inout Effects) {
        for id in nodes.keys.sorted() {
            guard var state = nodes[id], let change = state.health.tick(at: now, settings: settings.liveness) else { continue }
            nodes[id] = state
            syncLiveness(id, at: now)
            effects.batch.nodes.append(state.record)
            switch change {
            case .becameSuspect, .becameLost: break
            case .linkDead(let connection):
                effects.closes.append(
                    Effects.Close(node: id, connection: connection, reason: "no heartbeat for \(settings.liveness.deadAfterMillis / 1000)s"))
            }
        }
        // Work on nodes that stayed away past its job's grace period.
        for id in nodes.compactMap({ $0.value.health.downSince == nil || $0.value.executions.isEmpty ? nil : $0.key }).sorted() {
            guard let state = nodes[id], let down = state.health.downSince else { continue }
            for executionID in state.executions.sorted() {
                guard let jobID = owners[executionID], let spec = jobs[jobID]?.job.spec else { continue }
                let grace = spec.effectiveNodeLoss.graceMillis
                guard now.milliseconds - down.milliseconds >= grace else { continue }
                loseExecution(
                    executionID, reason: "node \(id) unreachable for longer than the job's grace period of \(grace / 1000)s",
                    now: now, effects: &effects)
            }
        }
        for id in queue {
            // A job waiting out a retry delay is not stuck; one with no reason at all is (there is
            // no node to give one) and times out like any other.
            guard let entry = jobs[id], let since = entry.waitingSince, !entry.failures.isEmpty || entry.retryAt.isEmpty,
                now.milliseconds - since.milliseconds >= queueTimeout(of: entry.job)
            else { continue }
            expireQueued(id, now: now, effects: &effects)
        }
        // Only retries fall due with time; jobs waiting for capacity are evaluated when the
        // cluster changes (a hello, a result, a node answering again), not on every tick.
        for id in queue {
            guard let due = jobs[id]?.retryAt.values.min(), due <= now else { continue }
            evaluate(id, now: now, effects: &effects)
        }
    }

    /// Evaluates, oldest first, every waiting job that may run now: one not planned yet, one
    /// whose retry delay has passed, and one that did not fit anywhere but fits on a `touched`
    /// node. A job that fitted nowhere can only have started to fit where something changed,
    /// so with 2,000 jobs queued behind a full cluster a result no longer plans all 2,000 in
    /// full. The reasons a skipped job shows stay those of its last full plan.
    mutating func evaluateQueued(now: Timestamp, effects: inout Effects) {
        let changed = touched.sorted()
        touched = []
        for id in queue {
            guard let entry = jobs[id] else { continue }
            if entry.failures.isEmpty {
                // A job waiting only for a retry delay is evaluated once the delay has passed.
                if let due = entry.retryAt.values.min(), due > now { continue }
            } else {
                let candidates = changed.compactMap { index[$0] }
                guard !candidates.isEmpty,
                    !scheduler.plan(job: entry.job, existing: Array(entry.executions.values), nodes: candidates, now: now).placements.isEmpty
                else { continue }
            }
            evaluate(id, now: now, effects: &effects)
        }
    }

    mutating func enqueue(_ id: JobID) {
        if queued.insert(id).inserted { queue.append(id) }
    }

    mutating func dequeue(_ id: JobID) {
        if queued.remove(id) != nil { queue.removeAll { $0 == id } }
    }

    func send(_ message: OrchestratorMessage, to node: NodeID, effects: inout Effects) {
        guard let connection = nodes[node]?.health.connection else { return }
        effects.sends.append(Effects.Send(node: node, connection: connection, message: message))
    }

    /// A number in 0..<1 derived from the seed and the execution, so a replay of the same inputs
    /// makes the same decisions.
    func jitter(for id: ExecutionID) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ settings.seed
        for byte in id.rawValue.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Double(hash >> 11) / Double(UInt64(1) << 53)
    }

    /// Longest reason a node may give for a state change; it is stored with the execution and in
    /// an event, so a node must not be able to make it arbitrarily large.
    public static let maxReasonBytes: Int64 = 4096

    public static func boundedReason(_ text: String) -> String {
        guard text.utf8.count > maxReasonBytes else { return text }
        return LogLimits.prefix(text, maxBytes: maxReasonBytes) + " [cut at \(maxReasonBytes) bytes]"
    }
}

extension Int64 {
    /// Addition that stops at the bounds instead of trapping: times and limits can come from
    /// specs and nodes.
    func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }
}
