public import InsituAPI
public import InsituControlPlane
public import InsituModel
import InsituStore

/// A deterministic simulation of a whole cluster: the real `ControlPlane`, driven the way the
/// orchestrator's shell drives it (drain, one commit, then act), with simulated agents, store,
/// network and time. Everything random comes from one seed, so a seed replays a run exactly.
///
/// Faults: the orchestrator crashes (everything not committed is gone; it restarts from the
/// store), commits fail, agents crash and restart as a new incarnation, links drop, and nodes are
/// partitioned (their frames are held, as TCP would, and dropped if the other side gave up on the
/// link meanwhile). Links are TCP-like: in order while they last; loss, duplication and
/// reordering come from broken links, replays after reconnecting, and frames of an old link
/// arriving after a new one's.
public struct Simulation {
    public struct Config: Sendable {
        public var seed: UInt64
        /// Events to process (each delivery, timer and fault is one step).
        public var steps: Int
        public var nodes: Int
        public var faults: Bool
        public var plantedBug: PlantedBug?

        public init(seed: UInt64, steps: Int = 2_000, nodes: Int = 4, faults: Bool = true, plantedBug: PlantedBug? = nil) {
            self.seed = seed
            self.steps = steps
            self.nodes = nodes
            self.faults = faults
            self.plantedBug = plantedBug
        }
    }

    /// Bugs the checker must catch, re-enabled on purpose in tests.
    public enum PlantedBug: Sendable {
        /// The shell acknowledges node messages before their commit (the duplicate filter of old
        /// advanced before applying): a failed commit then loses an acknowledged result.
        case acknowledgeBeforeCommit
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var seed: UInt64
        public var steps = 0
        public var accepted = 0
        public var completed = 0
        public var failed = 0
        public var stopped = 0
        public var commits = 0
        public var failedCommits = 0
        public var orchestratorCrashes = 0
        public var agentCrashes = 0
        public var partitions = 0
        public var linkDrops = 0
        public var violations: [String] = []
        public init(seed: UInt64) { self.seed = seed }
        public var description: String {
            "seed \(seed): \(steps) steps, \(accepted) jobs (\(completed) completed, \(failed) failed, \(stopped) stopped), "
                + "\(commits) commits, \(failedCommits) failed commits, \(orchestratorCrashes) orchestrator crashes, "
                + "\(agentCrashes) agent crashes, \(partitions) partitions, \(linkDrops) dropped links, "
                + "\(violations.count) violations" + (violations.isEmpty ? "" : ":\n  " + violations.joined(separator: "\n  "))
        }
    }

    enum AgentFrame {
        case hello(AgentHello)
        case message(seq: UInt64, NodeReport)
    }

    enum Event {
        case submit
        case stop(JobID)
        case drain
        case tick
        case toCore(connection: UInt64, node: NodeID, AgentFrame)
        case closedAtCore(connection: UInt64, node: NodeID)
        case toAgent(connection: UInt64, node: NodeID, OrchestratorMessage?, ack: UInt64)
        case closedAtAgent(connection: UInt64, node: NodeID)
        case agentConnect(NodeID)
        case agentFinish(NodeID, ExecutionID, epoch: UInt64)
        case agentHeartbeat(NodeID, epoch: UInt64)
        case crashOrchestrator
        case restartOrchestrator
        case crashAgent(NodeID)
        case restartAgent(NodeID)
        case partition(NodeID)
        case heal(NodeID)
        case dropLink(NodeID)
        case failCommit
        case calm
    }

    struct Scheduled {
        var at: Int64
        var order: UInt64
        var event: Event
    }

    struct Link {
        var node: NodeID
        var openAtCore = true
        var openAtAgent = true
        /// Last delivery time per direction, so frames stay in order.
        var lastToCore: Int64 = 0
        var lastToAgent: Int64 = 0
    }

    struct Agent {
        var id: NodeID
        var info: NodeInfo
        var alive = true
        var epoch: UInt64 = 1
        var connection: UInt64?
        var nextSeq: UInt64 = 1
        var outbox: [(seq: UInt64, report: NodeReport)] = []
        var known: Set<ExecutionID> = []
        var running: Set<ExecutionID> = []
        var shipped: [ExecutionID: Int64] = [:]
    }

    enum Origin {
        case caller(submittedSpec: JobSpec?)
        case node(NodeID, connection: UInt64)
        case internalInput
    }

    // Settings of the simulated cluster, chosen so that faults play out within a run.
    static let heartbeatMillis: Int64 = 1_000
    static let timeoutMillis: Int64 = 10_000
    static let queueTimeoutMillis: Int64 = 120_000
    static let replaceGraceMillis: Int64 = 15_000
    static let waitGraceMillis: Int64 = 30_000
    static let digest = ContentDigest(rawValue: String(repeating: "ab", count: 32))!

    var config: Config
    var random: SeededRandom
    var now: Int64 = 1_700_000_000_000
    var queue: [Scheduled] = []
    var order: UInt64 = 0
    var store = SimulatedStore()
    var checker = HistoryChecker()
    var core: ControlPlane?
    let settings: ControlPlane.Settings
    var inbox: [(input: Input, origin: Origin)] = []
    var drainScheduled = false
    var links: [UInt64: Link] = [:]
    var nextLink: UInt64 = 1
    var agents: [NodeID: Agent] = [:]
    var partitioned: Set<NodeID> = []
    var held: [NodeID: [Event]] = [:]
    var activeJobs: [JobID] = []
    var nextJob = 0
    var calm = false
    var report: Report

    public init(_ config: Config) {
        self.config = config
        self.random = SeededRandom(seed: config.seed)
        self.report = Report(seed: config.seed)
        settings = ControlPlane.Settings(
            liveness: LivenessSettings(heartbeatMillis: Self.heartbeatMillis, lostAfterMillis: 60_000),
            defaultExecutionTimeoutMillis: Self.timeoutMillis, defaultQueueTimeoutMillis: Self.queueTimeoutMillis,
            seed: config.seed)
        core = ControlPlane(settings: settings, recovered: store.recover(), now: Timestamp(milliseconds: now))
        for index in 0..<config.nodes {
            let id = NodeID("node-\(index)")
            let info = NodeInfo(
                id: id, name: id.rawValue, labels: ["zone": index % 2 == 0 ? "a" : "b"],
                resources: Resources(cpuMillis: 2_000, memoryBytes: 8 << 30),
                datasets: index < 2 ? [DatasetInfo(name: "d1")] : [])
            agents[id] = Agent(id: id, info: info)
            schedule(in: Int64(index) * 10, .agentConnect(id))
            schedule(in: Self.heartbeatMillis, .agentHeartbeat(id, epoch: 1))
        }
        schedule(in: 5, .submit)
        schedule(in: 500, .tick)
        if config.faults { scheduleNextFault() }
    }

    /// Runs the configured number of steps with faults, then heals everything, stops submitting
    /// and lets simulated time run until every job had its chance to finish, and checks the history.
    public static func run(_ config: Config) -> Report {
        var simulation = Simulation(config)
        return simulation.run()
    }

    mutating func run() -> Report {
        while report.steps < config.steps, let event = next() { handle(event) }
        // Calm: no new jobs or faults; what is broken is repaired; time runs on.
        calm = true
        handle(.calm)
        let end = now + Self.queueTimeoutMillis * 4
        while let first = queue.first, first.at <= end, let event = next() {
            handle(event)
            if activeJobs.isEmpty && inbox.isEmpty && (core.map { $0.activeJobCount == 0 } ?? false) { break }
        }
        checker.finish(store: store, now: Timestamp(milliseconds: now))
        report.accepted = checker.accepted.count
        for id in checker.accepted.keys {
            switch store.jobs[id]?.state {
            case .completed: report.completed += 1
            case .failed: report.failed += 1
            case .stopped: report.stopped += 1
            default: break
            }
        }
        report.commits = store.commits
        report.violations = checker.violations
        return report
    }

    // MARK: Event queue

    mutating func schedule(in delay: Int64, _ event: Event) {
        schedule(at: now + max(0, delay), event)
    }

    mutating func schedule(at time: Int64, _ event: Event) {
        order += 1
        let item = Scheduled(at: time, order: order, event: event)
        // Binary search for the first later item: equal times keep insertion order.
        var low = 0
        var high = queue.count
        while low < high {
            let mid = (low + high) / 2
            if (queue[mid].at, queue[mid].order) < (item.at, item.order) { low = mid + 1 } else { high = mid }
        }
        queue.insert(item, at: low)
    }

    mutating func next() -> Event? {
        guard !queue.isEmpty else { return nil }
        let item = queue.removeFirst()
        now = max(now, item.at)
        report.steps += 1
        return item.event
    }

    // MARK: Events

    mutating func handle(_ event: Event) {
        switch event {
        case .submit:
            guard !calm else { return }
            submitRandomJob()
            schedule(in: random.between(50, 1_500), .submit)
        case .stop(let id):
            guard !calm else { return }
            enqueue(.stop(id), origin: .caller(submittedSpec: nil))
        case .drain:
            drainScheduled = false
            drain()
        case .tick:
            enqueue(.tick, origin: .internalInput)
            schedule(in: 500, .tick)
        case .toCore(let connection, let node, let frame):
            guard let link = links[connection], link.openAtCore, core != nil else { return }
            if partitioned.contains(node) { return hold(node, event) }
            switch frame {
            case .hello(let hello): enqueue(.nodeConnected(hello, connection: connection), origin: .node(node, connection: connection))
            case .message(let seq, let report):
                enqueue(.nodeMessage(report, seq: seq, node: node, connection: connection), origin: .node(node, connection: connection))
            }
        case .closedAtCore(let connection, let node):
            guard links[connection]?.openAtCore == true else { return }
            if partitioned.contains(node) { return hold(node, event) }
            links[connection]?.openAtCore = false
            if core != nil { enqueue(.nodeDisconnected(node, connection: connection), origin: .internalInput) }
        case .toAgent(let connection, let node, let message, let ack):
            if partitioned.contains(node) { return hold(node, event) }
            agentReceives(message, ack: ack, on: connection, node: node)
        case .closedAtAgent(let connection, let node):
            if partitioned.contains(node) { return hold(node, event) }
            links[connection]?.openAtAgent = false
            guard var agent = agents[node], agent.connection == connection else { return }
            agent.connection = nil
            agents[node] = agent
            if agent.alive { schedule(in: random.between(100, 1_000), .agentConnect(node)) }
        case .agentConnect(let node):
            agentConnects(node)
        case .agentFinish(let node, let execution, let epoch):
            agentFinishes(execution, on: node, epoch: epoch)
        case .agentHeartbeat(let node, let epoch):
            guard let agent = agents[node], agent.alive, agent.epoch == epoch else { return }
            if let connection = agent.connection {
                sendToCore(connection, node, .message(seq: 0, .heartbeat(Heartbeat(runningExecutions: agent.running.sorted()))))
            }
            schedule(in: Self.heartbeatMillis, .agentHeartbeat(node, epoch: epoch))
        case .crashOrchestrator:
            crashOrchestrator()
        case .restartOrchestrator:
            guard core == nil else { return }
            core = ControlPlane(
                settings: settings, recovered: store.recover(), logBytes: store.logBytes(), now: Timestamp(milliseconds: now))
        case .crashAgent(let node):
            crashAgent(node)
        case .restartAgent(let node):
            guard var agent = agents[node], !agent.alive else { return }
            agent = Agent(id: node, info: agent.info, epoch: agent.epoch + 1)
            agents[node] = agent
            schedule(in: 0, .agentConnect(node))
            schedule(in: Self.heartbeatMillis, .agentHeartbeat(node, epoch: agent.epoch))
        case .partition(let node):
            guard !calm, partitioned.insert(node).inserted else { return }
            report.partitions += 1
            // Shorter and longer than the grace period of replaced work.
            schedule(in: random.chance(0.5) ? random.between(2_000, 8_000) : random.between(20_000, 45_000), .heal(node))
        case .heal(let node):
            heal(node)
        case .dropLink(let node):
            guard let connection = agents[node]?.connection else { return }
            report.linkDrops += 1
            // Both ends see the link close, at different times.
            schedule(in: random.between(1, 50), .closedAtCore(connection: connection, node: node))
            schedule(in: random.between(1, 50), .closedAtAgent(connection: connection, node: node))
        case .failCommit:
            store.failNextCommits += 1
        case .calm:
            for node in partitioned.sorted() { heal(node) }
            for (id, agent) in agents.sorted(by: { $0.key < $1.key }) where !agent.alive { handle(.restartAgent(id)) }
            if core == nil { handle(.restartOrchestrator) }
            store.failNextCommits = 0
        }
        if config.faults && !calm && isFaultEvent(event) { scheduleNextFault() }
    }

    func isFaultEvent(_ event: Event) -> Bool {
        switch event {
        case .crashOrchestrator, .crashAgent, .partition, .dropLink, .failCommit: return true
        default: return false
        }
    }

    mutating func scheduleNextFault() {
        let nodes = agents.keys.sorted()
        guard let node = nodes.isEmpty ? nil : nodes[Int(random.below(UInt64(nodes.count)))] else { return }
        let fault: Event
        switch random.below(10) {
        case 0: fault = .crashOrchestrator
        case 1, 2: fault = .crashAgent(node)
        case 3, 4: fault = .partition(node)
        case 5, 6: fault = .dropLink(node)
        default: fault = .failCommit
        }
        schedule(in: random.between(1_000, 6_000), fault)
    }

    mutating func hold(_ node: NodeID, _ event: Event) {
        held[node, default: []].append(event)
    }

    mutating func heal(_ node: NodeID) {
        guard partitioned.remove(node) != nil else { return }
        for event in held.removeValue(forKey: node) ?? [] { schedule(in: 0, event) }
    }

    // MARK: The orchestrator, as the shell drives the core

    mutating func enqueue(_ input: Input, origin: Origin) {
        inbox.append((input, origin))
        if !drainScheduled {
            drainScheduled = true
            schedule(in: random.between(0, 3), .drain)
        }
    }

    mutating func drain() {
        guard var plane = core else {
            inbox.removeAll()
            return
        }
        var inputs = inbox
        inbox.removeAll()
        for index in inputs.indices {
            if case .submit(let spec, let id, let key?, nil) = inputs[index].input, let existing = store.keys[key] {
                inputs[index].input = .submit(spec, id: id, idempotencyKey: key, existing: store.jobs[existing])
            }
        }
        var effects = Effects()
        var replies: [(Reply, Origin)] = []
        let time = Timestamp(milliseconds: now)
        for (input, origin) in inputs {
            replies.append((plane.apply(input, at: time, into: &effects), origin))
        }
        if config.plantedBug == .acknowledgeBeforeCommit { deliverAcks(effects.acks) }
        do {
            if !effects.batch.isEmpty { try store.commit(effects.batch, checker: &checker, at: time) }
        } catch {
            // The shell's answer to a failed commit: throw the core away, rebuild it from the
            // store, and close every link so agents replay what was not acknowledged.
            report.failedCommits += 1
            core = ControlPlane(settings: settings, recovered: store.recover(), logBytes: store.logBytes(), now: time)
            for (id, link) in links.sorted(by: { $0.key < $1.key }) where link.openAtCore {
                links[id]?.openAtCore = false
                schedule(in: random.between(1, 30), .closedAtAgent(connection: id, node: link.node))
            }
            return
        }
        core = plane
        for send in effects.sends { sendToAgent(send.connection, send.node, send.message, ack: 0) }
        for close in effects.closes {
            links[close.connection]?.openAtCore = false
            schedule(in: random.between(1, 30), .closedAtAgent(connection: close.connection, node: close.node))
        }
        if config.plantedBug != .acknowledgeBeforeCommit { deliverAcks(effects.acks) }
        for (reply, origin) in replies {
            switch (reply, origin) {
            case (.submitted(let job, _), .caller(let spec?)):
                checker.submitted(job.id, at: time, boundMillis: Self.bound(for: spec))
                if !job.state.isTerminal && !activeJobs.contains(job.id) { activeJobs.append(job.id) }
                if random.chance(0.05) { schedule(in: random.between(100, 5_000), .stop(job.id)) }
            case (.refused, .node(let node, let connection)), (.staleConnection, .node(let node, let connection)):
                links[connection]?.openAtCore = false
                schedule(in: random.between(1, 30), .closedAtAgent(connection: connection, node: node))
            default:
                break
            }
        }
        activeJobs.removeAll { !(core?.isActive($0) ?? false) }
    }

    mutating func deliverAcks(_ acks: [Effects.Ack]) {
        for ack in acks { sendToAgent(ack.connection, ack.node, nil, ack: ack.seq) }
    }

    /// The longest a job may take from acceptance to a terminal state in this simulation:
    /// waiting for placement, then every attempt running to its timeout, its node going away for
    /// the grace period and the heartbeat TTL, the retry delay, and the orchestrator restarting.
    static func bound(for spec: JobSpec) -> Int64 {
        let retry = spec.effectiveRetry
        let perAttempt = timeoutMillis + spec.effectiveNodeLoss.graceMillis + heartbeatMillis * 4 + retry.maxDelayMillis + 60_000
        return queueTimeoutMillis + Int64(retry.attempts) * perAttempt + 120_000
    }

    mutating func crashOrchestrator() {
        guard core != nil else { return }
        report.orchestratorCrashes += 1
        core = nil
        inbox.removeAll()
        for (id, link) in links.sorted(by: { $0.key < $1.key }) where link.openAtCore {
            links[id]?.openAtCore = false
            schedule(in: random.between(1, 30), .closedAtAgent(connection: id, node: link.node))
        }
        schedule(in: random.between(500, 5_000), .restartOrchestrator)
    }

    mutating func submitRandomJob() {
        nextJob += 1
        let name = "job-\(nextJob)"
        var spec = JobSpec(
            name: name, type: random.chance(0.15) ? .ops : .batch, count: Int(random.between(1, 4)),
            engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: Self.digest))),
            resources: Resources(cpuMillis: 500, memoryBytes: 64 << 20))
        if random.chance(0.3) { spec.inputs = [InputSpec(source: .dataset(name: "d1"), target: "/data/d1")] }
        if random.chance(0.05) { spec.constraints = [LabelConstraint(key: "zone", operator: .equals, values: ["nowhere"])] }
        spec.queueTimeoutMillis = Self.queueTimeoutMillis
        spec.nodeLoss = NodeLossPolicy(
            action: spec.type == .ops ? .wait : .replace, graceMillis: spec.type == .ops ? Self.waitGraceMillis : Self.replaceGraceMillis)
        spec.retry = RetryPolicy(attempts: spec.type == .ops ? 1 : 3, delayMillis: 500, maxDelayMillis: 5_000)
        let id = JobID("j-\(config.seed)-\(nextJob)")
        let key: String? = random.chance(0.2) ? "key-\(random.below(UInt64(max(1, nextJob))))" : nil
        enqueue(.submit(spec, id: id, idempotencyKey: key, existing: nil), origin: .caller(submittedSpec: spec))
    }

    // MARK: Links

    mutating func sendToCore(_ connection: UInt64, _ node: NodeID, _ frame: AgentFrame) {
        guard var link = links[connection], link.openAtAgent else { return }
        let at = max(now + random.between(1, 40), link.lastToCore)
        link.lastToCore = at
        links[connection] = link
        schedule(at: at, .toCore(connection: connection, node: node, frame))
    }

    mutating func sendToAgent(_ connection: UInt64, _ node: NodeID, _ message: OrchestratorMessage?, ack: UInt64) {
        guard var link = links[connection], link.openAtCore else { return }
        let at = max(now + random.between(1, 40), link.lastToAgent)
        link.lastToAgent = at
        links[connection] = link
        schedule(at: at, .toAgent(connection: connection, node: node, message, ack: ack))
    }

    // MARK: Agents

    mutating func agentConnects(_ node: NodeID) {
        guard var agent = agents[node], agent.alive, agent.connection == nil else { return }
        guard !partitioned.contains(node), core != nil else {
            schedule(in: random.between(200, 1_000), .agentConnect(node))
            return
        }
        let connection = nextLink
        nextLink += 1
        links[connection] = Link(node: node)
        agent.connection = connection
        agents[node] = agent
        sendToCore(
            connection, node, .hello(AgentHello(node: agent.info, epoch: agent.epoch, knownExecutions: agent.known.sorted())))
        for (seq, report) in agent.outbox { sendToCore(connection, node, .message(seq: seq, report)) }
    }

    mutating func agentSends(_ node: NodeID, _ report: NodeReport) {
        guard var agent = agents[node], agent.alive else { return }
        let seq = agent.nextSeq
        agent.nextSeq += 1
        agent.outbox.append((seq, report))
        agents[node] = agent
        if let connection = agent.connection { sendToCore(connection, node, .message(seq: seq, report)) }
    }

    mutating func agentReceives(_ message: OrchestratorMessage?, ack: UInt64, on connection: UInt64, node: NodeID) {
        guard var agent = agents[node], agent.alive, agent.connection == connection, links[connection]?.openAtAgent == true else { return }
        if ack > 0 {
            let settled = agent.outbox.filter { $0.seq <= ack }
            agent.outbox.removeAll { $0.seq <= ack }
            for (_, report) in settled {
                guard case .result(let result) = report else { continue }
                checker.acknowledgedResult(result.executionID, node: node, store: store)
                agent.known.remove(result.executionID)
            }
        }
        agents[node] = agent
        switch message {
        case .runExecution(let assignment):
            guard !agent.known.contains(assignment.executionID) else { return }
            agents[node]?.known.insert(assignment.executionID)
            agents[node]?.running.insert(assignment.executionID)
            agentSends(node, .update(ExecutionUpdate(executionID: assignment.executionID, state: .running)))
            for line in 0..<Int(random.between(1, 3)) { agentPrints(node, assignment.executionID, "\(assignment.executionID) line \(line)\n") }
            schedule(in: random.between(100, 4_000), .agentFinish(node, assignment.executionID, epoch: agent.epoch))
        case .cancelExecution(let cancel):
            guard agents[node]?.running.remove(cancel.executionID) != nil else { return }
            agentSends(
                node, .result(VerifiedResult(executionID: cancel.executionID, state: .cancelled, exitCode: nil, reason: cancel.reason)))
        case .welcome, nil:
            break
        }
    }

    mutating func agentPrints(_ node: NodeID, _ execution: ExecutionID, _ text: String) {
        let offset = agents[node]?.shipped[execution] ?? 0
        agents[node]?.shipped[execution] = offset + Int64(text.utf8.count)
        agentSends(node, .output(ExecutionOutput(executionID: execution, stream: "stdout", text: text, offset: offset)))
    }

    mutating func agentFinishes(_ execution: ExecutionID, on node: NodeID, epoch: UInt64) {
        guard let agent = agents[node], agent.alive, agent.epoch == epoch, agent.running.contains(execution) else { return }
        agents[node]?.running.remove(execution)
        agentPrints(node, execution, "\(execution) done\n")
        let succeeded = random.chance(0.8)
        let files = succeeded ? [ResultFile(path: "stdout", digest: Self.digest, size: 3)] : []
        agentSends(
            node,
            .result(
                VerifiedResult(
                    executionID: execution, state: succeeded ? .succeeded : .failed, exitCode: succeeded ? 0 : 1,
                    reason: succeeded ? nil : "exit status 1", files: files)))
    }

    mutating func crashAgent(_ node: NodeID) {
        guard var agent = agents[node], agent.alive else { return }
        report.agentCrashes += 1
        agent.alive = false
        if let connection = agent.connection {
            links[connection]?.openAtAgent = false
            // The machine's kernel resets the link, unless the machine itself is cut off.
            if random.chance(0.5) { schedule(in: random.between(1, 50), .closedAtCore(connection: connection, node: node)) }
        }
        agent.connection = nil
        agents[node] = agent
        // Sometimes an agent stays down longer than any grace period.
        schedule(in: random.chance(0.7) ? random.between(500, 5_000) : random.between(30_000, 60_000), .restartAgent(node))
    }
}

/// SplitMix64: a tiny, fast, well-mixed generator whose whole state is one 64-bit word, so any
/// sequence is reproduced from its seed. For tests and simulations only; not cryptographic.
public struct SeededRandom: RandomNumberGenerator, Hashable, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SeededRandom {
    mutating func below(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }
    mutating func between(_ low: Int64, _ high: Int64) -> Int64 { low + Int64(below(UInt64(high - low + 1))) }
    mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(UInt64(1) << 53) < probability }
}
