import Foundation
public import InsituAPI
public import InsituControlPlane
public import InsituModel
public import InsituStore
public import Logging
public import ServiceLifecycle

/// Where the orchestrator sends messages for one connected node. The WebSocket shell owns the
/// socket; this only enqueues, or asks for the socket to be closed.
public struct NodeConnection: Sendable {
    public let id: UInt64
    let enqueue: @Sendable (OrchestratorMessage) -> Void
    let close: @Sendable (String) -> Void

    public init(
        id: UInt64, enqueue: @escaping @Sendable (OrchestratorMessage) -> Void, close: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.id = id
        self.enqueue = enqueue
        self.close = close
    }
}

/// A node's message arrived on a connection that is no longer the node's current one. It is not
/// applied or acknowledged; the node sends it again on its current connection.
public struct StaleConnection: Error, CustomStringConvertible {
    public var node: NodeID
    public var description: String { "node \(node) has a newer connection; this one is closed" }
}

/// The shell around the pure `ControlPlane`: a mailbox of inputs, drained in order.
///
/// One drain applies every waiting input to the core, commits the resulting batch **once**, and
/// only then sends messages to nodes, acknowledges their messages and answers callers. Callers
/// take turns running drains (the first caller to find no drain running leads, and hands over to
/// the oldest waiting caller when its own input is done), so no background task is needed and a
/// burst of requests shares one commit. Decisions never interleave with I/O: the core is only
/// touched inside a drain, and every `await` of a drain is outside the core.
///
/// If a commit fails, nothing of that drain was acted on: its callers get the error, the core is
/// rebuilt from the store, and every node connection is closed so agents replay what was not
/// acknowledged. There is no rollback code to get wrong.
public actor Orchestrator {
    public struct Settings: Sendable {
        public var heartbeatInterval: Duration
        /// The wall-clock limit of an execution whose spec sets no `timeout`. Written into the
        /// job's spec at submission, so `job describe` shows it and every node enforces it.
        public var defaultExecutionTimeout: Duration
        /// How long a job may wait for placement when its spec sets no `queueTimeout`.
        public var defaultQueueTimeout: Duration
        /// How long a node may be disconnected before it is shown as lost.
        public var nodeLostAfter: Duration

        public init(
            heartbeatInterval: Duration = .seconds(5), defaultExecutionTimeout: Duration = .seconds(3600),
            defaultQueueTimeout: Duration = .seconds(86_400), nodeLostAfter: Duration = .seconds(600)
        ) {
            self.heartbeatInterval = heartbeatInterval
            self.defaultExecutionTimeout = defaultExecutionTimeout
            self.defaultQueueTimeout = defaultQueueTimeout
            self.nodeLostAfter = nodeLostAfter
        }

        var core: ControlPlane.Settings {
            ControlPlane.Settings(
                liveness: LivenessSettings(heartbeatMillis: heartbeatInterval.milliseconds, lostAfterMillis: nodeLostAfter.milliseconds),
                defaultExecutionTimeoutMillis: defaultExecutionTimeout.milliseconds,
                defaultQueueTimeoutMillis: defaultQueueTimeout.milliseconds,
                seed: UInt64.random(in: 0...UInt64.max))
        }
    }

    enum Wake: Sendable {
        case done(Result<Reply, any Error>)
        /// The previous leader finished its own input: this caller runs the next drains.
        case lead
    }

    let store: any OrchestratorStore
    let intake: ResultIntake
    let clock: @Sendable () -> Timestamp
    let newJobID: @Sendable () -> JobID
    public let settings: Settings
    let logger: Logger
    /// The audit log and the nodes' audit heads; nil in tests that do not audit.
    public nonisolated let audit: AuditTrail?
    public nonisolated let metrics: OrchestratorMetrics
    /// Whether the API can serve: false until `recover()` loaded the state, and after a failed
    /// commit whose reload failed too (`/v1/health/ready`).
    public private(set) var readiness: Readiness = .recovering

    var core: ControlPlane
    var mailbox: [(ticket: UInt64, input: Input)] = []
    var nextTicket: UInt64 = 0
    var draining = false
    var parked: [UInt64: CheckedContinuation<Wake, Never>] = [:]
    var outcomes: [UInt64: Result<Reply, any Error>] = [:]
    /// Open node connections by connection ID, to deliver the core's sends and closes.
    var connections: [UInt64: NodeConnection] = [:]
    /// Which node each open link belongs to, so a revocation can cut them.
    var connectionOwners: [UInt64: NodeID] = [:]
    /// Jobs settled by the drain being committed: not active in the core any more, not yet durable.
    var settling: Set<JobID> = []
    var waiters: [JobID: [UInt64: CheckedContinuation<Void, Never>]] = [:]
    var nextWaiterID: UInt64 = 0
    /// Waiters released before they suspended (see `suspend`).
    var releasedWaiters: Set<UInt64> = []

    public init(
        store: any OrchestratorStore, blobs: BlobStore, settings: Settings = Settings(),
        clock: @escaping @Sendable () -> Timestamp, newJobID: @escaping @Sendable () -> JobID, logger: Logger,
        audit: AuditTrail? = nil, metrics: OrchestratorMetrics = .disabled
    ) {
        self.audit = audit
        self.metrics = metrics
        self.store = store
        self.intake = ResultIntake(blobs: blobs)
        self.settings = settings
        self.clock = clock
        self.newJobID = newJobID
        self.logger = logger
        self.core = ControlPlane(settings: settings.core, recovered: RecoveredState(activeJobs: [], executions: [], nodes: []), now: clock())
        metrics.gaugeSource.orchestrator = self
    }

    // MARK: Recovery

    /// Reloads unfinished work after a (re)start. Nodes count as disconnected until they dial in.
    public func recover() async throws {
        core = try await Self.load(store: store, settings: settings.core, now: clock(), logger: logger)
        readiness = .ready
        logger.info("recovered state", metadata: ["jobs": "\(core.activeJobCount)", "nodes": "\(core.nodeStatuses().count)"])
    }

    static func load(store: any OrchestratorStore, settings: ControlPlane.Settings, now: Timestamp, logger: Logger) async throws -> ControlPlane {
        let state = try await store.recover()
        for (node, problem) in ControlPlane.invalidNodes(in: state) {
            // Stored before nodes were validated, or written by hand: such a record must not
            // reach the scheduler, or one poisoned row would crash every restart.
            logger.error(
                "ignoring a stored node whose info is invalid; it must say hello again with valid info",
                metadata: ["node": "\(node.rawValue.prefix(NodeInfoLimits.maxIdentifierBytes))", "problem": "\(problem)"])
        }
        var logBytes: [ExecutionID: [String: Int64]] = [:]
        for execution in state.executions where !execution.state.isTerminal {
            let stored = try await store.logBytes(of: execution.jobID, execution: execution.id)
            if !stored.isEmpty { logBytes[execution.id] = stored }
        }
        return ControlPlane(settings: settings, recovered: state, logBytes: logBytes, now: now)
    }

    // MARK: The mailbox

    /// Applies one input in the next drain and returns its reply once the drain is durable.
    func perform(_ input: Input) async throws -> Reply {
        try await reply(to: enqueue(input))
    }

    /// Puts `input` in the mailbox without waiting: it is applied by the next drain, after every
    /// input enqueued before it. Its reply must be collected with `reply(to:)`.
    private func enqueue(_ input: Input) -> UInt64 {
        let ticket = nextTicket
        nextTicket += 1
        mailbox.append((ticket, input))
        return ticket
    }

    /// Waits until the input of `ticket` is applied and its drain is durable (running drains
    /// itself when no one else is), and returns its reply.
    private func reply(to ticket: UInt64) async throws -> Reply {
        if let outcome = outcomes.removeValue(forKey: ticket) { return try outcome.get() }
        if draining {
            switch await withCheckedContinuation({ parked[ticket] = $0 }) {
            case .done(let outcome): return try outcome.get()
            case .lead: break
            }
        }
        draining = true
        while outcomes[ticket] == nil { await drain() }
        draining = false
        // Hands the drains on to the oldest caller still waiting in the mailbox. Inputs nobody
        // waits for yet stay queued: whoever collects one of them leads then.
        if let next = mailbox.first(where: { parked[$0.ticket] != nil }), let continuation = parked.removeValue(forKey: next.ticket) {
            draining = true
            continuation.resume(returning: .lead)
        }
        return try (outcomes.removeValue(forKey: ticket) ?? .failure(CancellationError())).get()
    }

    /// Applies every waiting input, commits once, then acts on the effects.
    func drain() async {
        var inputs = mailbox
        mailbox.removeAll()
        // Idempotency keys of submissions are resolved against the store here, inside the
        // drain, so no commit can slip between the lookup and the decision.
        var skipped = Set<UInt64>()
        for index in inputs.indices {
            guard case .submit(let spec, let id, let key?, nil) = inputs[index].input else { continue }
            do {
                if let stored = try await store.job(idempotencyKey: key) {
                    inputs[index].input = .submit(spec, id: id, idempotencyKey: key, existing: stored)
                }
            } catch {
                skipped.insert(inputs[index].ticket)
                deliver(inputs[index].ticket, .failure(error))
            }
        }
        var effects = Effects()
        var replies: [(UInt64, Reply)] = []
        let now = clock()
        for (ticket, input) in inputs where !skipped.contains(ticket) {
            replies.append((ticket, core.apply(input, at: now, into: &effects)))
        }
        settling = Set(effects.settled)
        var failure: (any Error)?
        if !effects.batch.isEmpty {
            let started = ContinuousClock.now
            do {
                _ = try await store.commit(effects.batch)
                metrics.committed(effects.batch, duration: ContinuousClock.now - started) { core.job($0)?.spec.engine.kind }
            } catch { failure = error }
        }
        if let failure {
            metrics.commitFailed()
            await restart(after: failure)
            for (ticket, _) in replies { deliver(ticket, .failure(failure)) }
        } else {
            act(on: effects)
            for (ticket, reply) in replies { deliver(ticket, .success(reply)) }
        }
        settling = []
    }

    private func deliver(_ ticket: UInt64, _ outcome: Result<Reply, any Error>) {
        if let continuation = parked.removeValue(forKey: ticket) {
            continuation.resume(returning: .done(outcome))
        } else {
            outcomes[ticket] = outcome
        }
    }

    private func act(on effects: Effects) {
        for send in effects.sends {
            connections[send.connection]?.enqueue(send.message)
        }
        for close in effects.closes {
            connections.removeValue(forKey: close.connection)?.close(close.reason)
            logger.info("closing a node connection", metadata: ["node": "\(close.node)", "reason": "\(close.reason)"])
        }
        for id in effects.settled {
            for continuation in waiters.removeValue(forKey: id)?.values ?? [:].values { continuation.resume() }
        }
    }

    /// After a failed commit: the core may hold decisions that are not durable, so it is rebuilt
    /// from the store, and every node reconnects and replays what was not acknowledged.
    private func restart(after failure: any Error) async {
        logger.error("a commit failed; reloading state from the store", metadata: ["error": "\(failure)"])
        for connection in connections.values { connection.close("the orchestrator could not store a change; reconnect") }
        connections.removeAll()
        do {
            core = try await Self.load(store: store, settings: core.settings, now: clock(), logger: logger)
            readiness = .ready
        } catch {
            readiness = .failed("could not reload the state after a failed commit: \(error)")
            logger.error("could not reload state after a failed commit", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Jobs

    /// Accepts a validated spec. The job, and its first placement if any node fits, are durable
    /// in one commit before this returns.
    public func submit(_ requested: JobSpec) async throws -> Job {
        try await submit(requested, idempotencyKey: nil).job
    }

    /// Accepts a validated spec, once per idempotency key: a submission whose key already names a
    /// job returns that job (`created` false) and stores nothing, so a client may retry a submit
    /// whose answer it never received.
    ///
    /// A new ID that is already taken (in memory, or in the store for a finished job) is never
    /// used: another one is drawn, a few times at most.
    public func submit(_ spec: JobSpec, idempotencyKey: String?) async throws -> (job: Job, created: Bool) {
        for _ in 1...Self.idAttempts {
            let id = newJobID()
            if try await store.job(id) != nil {
                logger.warning("new job ID is taken; drawing another", metadata: ["job": "\(id)"])
                continue
            }
            switch try await perform(.submit(spec, id: id, idempotencyKey: idempotencyKey, existing: nil)) {
            case .submitted(let job, let created): return (job, created)
            default: logger.warning("new job ID is in use; drawing another", metadata: ["job": "\(id)"])
            }
        }
        throw StoreError("no unused job ID in \(Self.idAttempts) attempts; nothing was stored", kind: .conflict)
    }

    static let idAttempts = 3

    public func stop(_ id: JobID) async throws -> Job {
        if case .stopped(let job) = try await perform(.stop(id)) { return job }
        if let stored = try await store.job(id) { return stored }
        throw APIError.notFound("job \(id)")
    }

    /// Drains a node (it takes no new work; what it runs finishes) or lifts the drain; durable.
    public func drain(_ id: NodeID, _ draining: Bool) async throws -> NodeSummary {
        if case .unknownNode = try await perform(.drainNode(id, draining: draining)) { throw APIError.notFound("node \(id)") }
        guard let summary = nodeSummaries().first(where: { $0.id == id }) else { throw APIError.notFound("node \(id)") }
        return summary
    }

    /// Forgets a node that is away for good: its unfinished work is lost now and replaced where
    /// its job's policy says so. Returns how many executions were lost with it.
    public func forget(_ id: NodeID) async throws -> Int {
        switch try await perform(.forgetNode(id)) {
        case .forgotten(_, let lost): return lost
        case .nodeStillConnected(_, let liveness):
            throw APIError(
                .conflict, code: "node_connected",
                message: "node \(id) is \(liveness.rawValue): only a node that is away can be deleted; "
                    + "stop its agent first, or revoke its identity (insitu node revoke) so it cannot come back")
        default: throw APIError.notFound("node \(id)")
        }
    }

    /// What submitting `spec` now would place where, with nothing stored (`--dry-run`).
    public func preview(_ spec: JobSpec) -> PlacementPreview {
        core.preview(spec, now: clock())
    }

    /// Current per-node reasons why the job is not (fully) placed.
    public func placementFailures(of id: JobID) -> [String: [String]] {
        core.placementFailures(of: id)
    }

    public func nodeSummaries() -> [NodeSummary] {
        core.nodeStatuses().map { status in
            var summary = NodeSummary(status: status)
            if let (head, alert) = audit?.status(of: status.info.id) {
                summary.auditHead = head
                summary.auditAlert = alert
            }
            return summary
        }
    }

    /// Lets time pass for the control plane: liveness, grace periods, retry delays and queue
    /// timeouts. Called by `Ticker` in a server and explicitly in tests.
    public func tick() async throws {
        _ = try await perform(.tick)
    }

    // MARK: Waiting

    /// Suspends until the job is terminal or `timeout` passes; returns whether it is terminal.
    public func waitUntilTerminal(_ id: JobID, timeout: Duration) async -> Bool {
        guard isPending(id) else { return true }
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
            let terminal = await !self.isPending(id)
            await self.forgetWaiter(waiterID)
            return first && terminal
        }
    }

    /// Whether the job is not yet durably terminal.
    private func isPending(_ id: JobID) -> Bool { core.isActive(id) || settling.contains(id) }

    private func suspend(_ id: JobID, waiterID: UInt64) async {
        // The timer may have fired before this child got to run.
        guard isPending(id), releasedWaiters.remove(waiterID) == nil else { return }
        await withCheckedContinuation { continuation in
            waiters[id, default: [:]][waiterID] = continuation
        }
    }

    private func resumeWaiter(_ id: JobID, waiterID: UInt64) {
        if let continuation = waiters[id]?.removeValue(forKey: waiterID) {
            continuation.resume()
        } else if isPending(id) {
            releasedWaiters.insert(waiterID)
        }
    }

    private func forgetWaiter(_ waiterID: UInt64) {
        // Left over only when the suspending child never ran; it cannot run any more now.
        releasedWaiters.remove(waiterID)
    }

    // MARK: Nodes

    /// Registers a node that said hello. Throws `NodeInfoProblem`, storing nothing, when the
    /// node's info breaks `NodeInfoLimits`.
    public func nodeConnected(_ hello: AgentHello, connection: NodeConnection) async throws -> Welcome {
        if let problem = hello.node.validationProblem() { throw problem }
        // Registered first, so the core's first messages to the node (resent work) reach it.
        connections[connection.id] = connection
        connectionOwners[connection.id] = hello.node.id
        let reply: Reply
        do { reply = try await perform(.nodeConnected(hello, connection: connection.id)) } catch {
            connections[connection.id] = nil
            connectionOwners[connection.id] = nil
            throw error
        }
        switch reply {
        case .welcome(let welcome):
            logger.info("node connected", metadata: ["node": "\(hello.node.id)", "name": "\(hello.node.name)"])
            return welcome
        case .refused(let problem):
            connections[connection.id] = nil
            connectionOwners[connection.id] = nil
            throw problem
        default:
            connections[connection.id] = nil
            connectionOwners[connection.id] = nil
            throw StaleConnection(node: hello.node.id)
        }
    }

    /// Closes every link of `node` now (it was revoked); each then reports its disconnect.
    func closeConnections(of node: NodeID, reason: String) {
        for (id, owner) in connectionOwners where owner == node {
            connections[id]?.close(reason)
        }
    }

    public func nodeDisconnected(_ id: NodeID, connectionID: UInt64) async {
        connections[connectionID] = nil
        connectionOwners[connectionID] = nil
        do { _ = try await perform(.nodeDisconnected(id, connection: connectionID)) } catch {
            logger.error("could not record disconnect", metadata: ["node": "\(id)", "error": "\(error)"])
        }
    }

    /// Applies a numbered message from a node at most once per agent run. A repeat (a number
    /// already applied in the node's current run) changes nothing and returns false. Returns only
    /// once the message's effects are durable; the caller acknowledges it then, and must not
    /// acknowledge a message this threw for. `connection` nil means the node's current one.
    @discardableResult
    public func receive(_ message: AgentMessage, seq: UInt64, from node: NodeID, connection: UInt64? = nil) async throws -> Bool {
        guard let report = try intake.report(from: message) else { return false }
        guard let connection = connection ?? core.connection(of: node) else { throw StaleConnection(node: node) }
        switch try await perform(.nodeMessage(report, seq: seq, node: node, connection: connection)) {
        case .applied(let fresh): return fresh
        default: throw StaleConnection(node: node)
        }
    }

    /// A node's message queued by `enqueue(_:seq:from:connection:)`, whose outcome is collected
    /// with `applied(_:)`.
    public struct PendingMessage: Sendable {
        let ticket: UInt64
        let node: NodeID
    }

    /// Queues a numbered message from a node without waiting for it to be applied, so a node's
    /// link can read its next message while this one's commit is under way and a burst of messages
    /// from one node shares one drain and one commit. Messages queued from one connection are
    /// applied in the order queued. `report` comes from `ResultIntake.report(from:)`, run by the
    /// caller outside the actor. Every message queued must be collected with `applied(_:)`.
    public func enqueue(_ report: NodeReport, seq: UInt64, from node: NodeID, connection: UInt64) -> PendingMessage {
        PendingMessage(ticket: enqueue(.nodeMessage(report, seq: seq, node: node, connection: connection)), node: node)
    }

    /// Waits until a queued message is applied and durable. Returns whether it was fresh (false
    /// for a repeat); throws if it was not applied (a failed commit, or a connection that was
    /// replaced), in which case neither it nor anything queued after it on the connection may be
    /// acknowledged.
    @discardableResult
    public func applied(_ message: PendingMessage) async throws -> Bool {
        switch try await reply(to: message.ticket) {
        case .applied(let fresh): return fresh
        default: throw StaleConnection(node: message.node)
        }
    }

    /// Turns a node's message into what the control plane decides on, outside the actor: a
    /// result's files are verified and written to the blob store here. Nil for a message that
    /// carries nothing to apply (a hello after the first).
    public nonisolated func report(from message: AgentMessage) throws -> NodeReport? {
        try intake.report(from: message)
    }

    /// Applies an unnumbered message (a heartbeat; in tests, any message).
    public func handle(_ message: AgentMessage, from node: NodeID, connection: UInt64? = nil) async throws {
        try await receive(message, seq: 0, from: node, connection: connection)
    }
}

/// Ticks the orchestrator while the server runs, so liveness and timeouts move on without any
/// request arriving.
public struct Ticker: Service {
    let orchestrator: Orchestrator
    let interval: Duration
    let logger: Logger

    public init(orchestrator: Orchestrator, interval: Duration, logger: Logger) {
        self.orchestrator = orchestrator
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: interval)
                    do { try await orchestrator.tick() } catch {
                        logger.error("tick failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        } catch is CancellationError {
            // Shutting down.
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
