import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
public import InsituAPI
import InsituAudit
import InsituExecutor
public import InsituModel
import InsituPolicy
import NIOSSL
public import Logging
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A compute node: dials out to the orchestrator, registers what it holds, runs the executions
/// it is given and reports their results. Executions keep running while the link is down; their
/// reports wait in the outbox and are delivered after reconnecting. Assignments, execution
/// phases and the outbox live in the data directory (`AgentStore`), so a restarted agent
/// delivers what it finished, reports what it was running as interrupted, and starts what it
/// had accepted but not started.
public final class Agent: Service, Sendable {
    let config: AgentConfig
    let trust: OrchestratorTrust
    /// What the node advertises; its ID is the certificate's once the node holds one.
    let advertised: NodeInfo
    /// The node's key and certificate when it dials `https` orchestrators (nil in development,
    /// where a node names itself with the ID in `<data-dir>/node-id`).
    let credentials: Locked<NodeCredentials?>
    let joiner: NodeJoiner
    /// Random per process start: see `Outbox` for why it is not persisted.
    let epoch: UInt64
    let outbox: Outbox
    let runner: ExecutionRunner
    /// Accepted assignments the previous run stored but never started.
    let recoveredStarts: [ExecutionAssignment]
    let logger: Logger
    let (starts, startContinuation) = AsyncStream<ExecutionAssignment>.makeStream()
    /// How often to send heartbeats, as the orchestrator asked in its welcome.
    let heartbeatMillis = Atomic<Int64>(5_000)
    let metrics: AgentMetrics

    /// Async because it asks the container engine's socket (when configured) whether it answers.
    public init(config: AgentConfig, logger: Logger, version: String = "dev", metrics: AgentMetrics = .disabled) async throws {
        self.metrics = metrics
        self.config = config
        self.logger = logger
        self.trust = try OrchestratorTrust.load(config)
        self.joiner = NodeJoiner(config: config, trust: trust, logger: logger)
        let id: NodeID
        if Self.usesCertificates(config) {
            let stored = try NodeCredentials.loadOrCreate(config)
            if stored.certificate == nil && config.joinToken == nil { throw NodeJoiner.NoJoinToken() }
            credentials = Locked(stored)
            // Replaced by the certificate's ID once the node has joined.
            id = stored.nodeID ?? NodeID("joining")
        } else {
            credentials = Locked(nil)
            id = try NodeIdentity.loadOrCreate(dataDirectory: config.dataDirectory) {
                NodeID("n-" + String(UInt64.random(in: 0...UInt64.max), radix: 16))
            }
        }
        let detected = MachineResources.detect()
        var engines: [EngineKind] = [.wasm]
        if config.processEngineEnabled { engines.append(.process) }
        let container = await ContainerEngineFactory.make(config: config, logger: logger)
        if container != nil { engines.append(.container) }
        if config.sqlEngineEnabled { engines.append(.sql) }
        self.epoch = UInt64.random(in: 1...UInt64.max)
        let current = credentials
        (self.outbox, self.runner, self.recoveredStarts) = try ExecutionRunner.open(
            config: config, logger: logger, container: container, credentials: { current.withLock { $0 } })
        self.advertised = NodeInfo(
            id: id, name: config.name, labels: config.labels,
            resources: Resources(cpuMillis: config.cpuMillis ?? detected.cpuMillis, memoryBytes: config.memoryBytes ?? detected.memoryBytes),
            datasets: config.datasets.map { DatasetInfo(name: $0.name, description: $0.description, labels: $0.labels) },
            engines: engines, wasmRuntime: runner.wasmRuntime, version: version, policy: config.policy.normalised(),
            policyDigest: config.policy.digest)
        runner.audit.record(
            .system, "agent.start", .ok,
            [
                "node": .string(id.rawValue), "name": .string(config.name), "version": .string(version),
                "datasets": .list(config.datasets.map { .string($0.name) }), "engines": .list(engines.map { .string($0.rawValue) }),
            ])
    }

    public var nodeID: NodeID { nodeInfo.id }

    /// What the hello says: the node's ID is its certificate's, when it has one.
    var nodeInfo: NodeInfo {
        var info = advertised
        if let id = credentials.withLock({ $0?.nodeID }) { info.id = id }
        return info
    }

    /// Nodes of a TLS cluster are known by their certificates; `http` is development.
    static func usesCertificates(_ config: AgentConfig) -> Bool {
        config.orchestrators.contains { $0.hasPrefix("https://") }
    }

    public func run() async throws {
        logger.info("agent starting", metadata: ["node": "\(nodeInfo.id)", "name": "\(nodeInfo.name)"])
        metrics.start()
        if let current = credentials.withLock({ $0 }) {
            let joined = try await joiner.ensureCertificate(current)
            credentials.withLock { $0 = joined }
        }
        await withDiscardingTaskGroup { group in
            for assignment in self.recoveredStarts { self.startContinuation.yield(assignment) }
            group.addTask { await self.connectLoop() }
            // Executions run as children of the agent, not of a connection, so they survive
            // reconnects; a graceful shutdown cancels them. Each was stored and claimed by
            // `ExecutionRunner.accept` before it got here.
            for await assignment in self.starts.cancelOnGracefulShutdown() {
                group.addTask {
                    self.metrics.executionStarted()
                    let state = await self.runner.run(assignment)
                    self.metrics.executionFinished(engine: assignment.spec.engine.kind, outcome: state?.rawValue ?? "interrupted")
                }
            }
            group.cancelAll()
        }
    }

    /// Keeps one connection to an orchestrator open, reconnecting with capped, jittered backoff.
    func connectLoop() async {
        var attempt = 0
        var index = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let base = config.orchestrators[index % config.orchestrators.count]
            let url = base.replacingOccurrences(of: "http", with: "ws", options: .anchored) + NodeProtocol.path
            await renewCertificateIfDue()
            let started = ContinuousClock.now
            metrics.dialed()
            await dial(url)
            await outbox.connectionEnded()
            if ContinuousClock.now - started > .seconds(10) { attempt = 0 }
            attempt += 1
            index += 1
            let backoff = min(5_000, 100 * (1 << min(attempt, 6)))
            let jitter = Int.random(in: 0...(backoff / 4))
            try? await Task.sleep(for: .milliseconds(backoff + jitter))
        }
    }

    /// One connection attempt, from dialling to the end of its session. The WebSocket library
    /// offers no deadline for the HTTP upgrade and ignores cancellation while it waits for one, so
    /// a peer that accepts the socket and never answers (a relay whose upstream is gone, a stopped
    /// process) would hold the agent forever. Each attempt therefore runs on its own event loop,
    /// and an upgrade not answered within the handshake timeout is abandoned by shutting that loop
    /// down, which closes the socket. Once the session has begun, `LinkWatch` takes over.
    func dial(_ url: String) async {
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let phase = Locked(DialPhase.upgrading)
        let handshakeTimeout = Duration.milliseconds(config.handshakeTimeoutMillis)
        await withTaskGroup(of: DialTask.self) { group in
            group.addTask {
                do {
                    try await WebSocketClient.connect(
                        // A close handshake over a dead link cannot finish: wait for it only briefly.
                        url: url,
                        configuration: .init(
                            maxFrameSize: 1 << 20, closeTimeout: .seconds(5), sniHostname: self.trust.serverName(forLink: url)),
                        tlsConfiguration: self.linkTLS(), eventLoopGroup: loops,
                        logger: self.logger
                    ) { inbound, outbound, _ in
                        // Decided under the lock, so the loop is never shut down under a session.
                        let began = phase.withLock { phase in
                            guard phase == .upgrading else { return false }
                            phase = .session
                            return true
                        }
                        guard began else { return }
                        self.metrics.link(up: true)
                        defer { self.metrics.link(up: false) }
                        try await self.session(inbound: inbound, outbound: outbound)
                    }
                    self.logger.info("connection to orchestrator closed", metadata: ["url": "\(url)"])
                } catch is LinkDead {
                    // Already logged with its reason when the watch gave up.
                } catch {
                    if phase.withLock({ $0 }) != .abandoned {
                        self.logger.info("cannot reach orchestrator", metadata: ["url": "\(url)", "error": "\(error)"])
                    }
                }
                return .connection
            }
            group.addTask {
                do { try await Task.sleep(for: handshakeTimeout) } catch { return .watchdog }
                let abandon = phase.withLock { phase in
                    guard phase == .upgrading else { return false }
                    phase = .abandoned
                    return true
                }
                if abandon {
                    self.logger.warning(
                        "the orchestrator did not answer the connection's handshake; dialling again",
                        metadata: ["url": "\(url)", "timeout": "\(handshakeTimeout)"])
                    try? await loops.shutdownGracefully()
                }
                return .watchdog
            }
            // The attempt ends with its connection; the watchdog ends on its own or is cancelled.
            while let finished = await group.next() {
                if finished == .connection { group.cancelAll() }
            }
        }
        try? await loops.shutdownGracefully()
    }

    private enum DialPhase { case upgrading, session, abandoned }

    /// Asks for a new certificate once the current one nears expiry (`identity.renew_before`);
    /// a node that cannot reach an orchestrator keeps its certificate and asks on the next dial.
    func renewCertificateIfDue() async {
        guard let current = credentials.withLock({ $0 }),
            current.needsRenewal(now: Date(), renewBefore: config.certificateRenewBeforeMillis.map { Double($0) / 1000 })
        else { return }
        do {
            if let renewed = try await joiner.renew(current) {
                credentials.withLock { $0 = renewed }
                logger.info(
                    "renewed the node's certificate",
                    metadata: ["node": "\(renewed.nodeID?.rawValue ?? "")", "expires": "\(renewed.certificate?.notValidAfter.description ?? "")"])
            }
        } catch {
            logger.error("the orchestrator refused to renew the node's certificate", metadata: ["error": "\(error)"])
        }
    }

    /// The link's TLS: the cluster CA as the only trust root and, once joined, the node's certificate.
    func linkTLS() -> TLSConfiguration? {
        guard let current = credentials.withLock({ $0 }) else { return trust.linkTLS }
        var tls = trust.linkTLS ?? TLSConfiguration.makeClientConfiguration()
        do {
            try current.apply(to: &tls)
        } catch {
            logger.error("cannot use the node's certificate", metadata: ["error": "\(error)"])
        }
        return tls
    }
    private enum DialTask { case connection, watchdog }

    /// Acts on a frame from the orchestrator once it is its turn. Throws if an assignment could
    /// not be stored; the runner has then released it, so its next send is not taken for a repeat.
    func handle(_ work: ReceivedQueue.Work) async throws {
        switch work {
        case .run(let assignment, let pending):
            do {
                let stored = try await pending.value()
                if await runner.confirm(assignment, stored: stored) { startContinuation.yield(assignment) }
            } catch {
                await runner.unclaim(assignment)
                throw error
            }
        case .cancel(let id):
            await runner.cancel(id)
        case .none:
            break
        }
    }

    func session(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        let watch = Locked(LinkWatch(openedAt: .now, handshakeTimeout: .milliseconds(config.handshakeTimeoutMillis)))
        let welcomed = Wakeup()
        // The welcome can bring the watch's deadline forward (from the handshake timeout to four
        // heartbeats); this wakes the watchdog to take the new one.
        let deadlineMoved = Wakeup()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Gives up on a link the orchestrator stopped answering on; a write into a dead
                // socket succeeds for minutes, so the agent would otherwise never notice.
                while true {
                    switch watch.withLock({ $0.verdict(at: .now) }) {
                    case .alive(let until):
                        await withTaskGroup(of: Void.self) { wait in
                            wait.addTask { try? await Task.sleep(until: until, clock: .continuous) }
                            wait.addTask { await deadlineMoved.wait() }
                            await wait.next()
                            wait.cancelAll()
                        }
                        try Task.checkCancellation()
                    case .dead(let reason):
                        self.logger.warning("closing the link to the orchestrator and reconnecting", metadata: ["reason": "\(reason)"])
                        throw LinkDead(reason: reason)
                    }
                }
            }
            group.addTask {
                let hello = AgentHello(
                    node: self.nodeInfo, epoch: self.epoch, knownExecutions: await self.runner.knownExecutions(),
                    auditHead: self.runner.audit.head)
                let helloFrame = Frame<AgentMessage>(seq: 0, ack: await self.outbox.lastReceivedSeq, body: .hello(hello))
                try await outbound.writeTextMessage(String(decoding: try encoder.encode(helloFrame), as: UTF8.self))
                self.metrics.message("out", "hello")
                var sentUpTo: UInt64 = 0
                while !Task.isCancelled {
                    let frames = await self.outbox.next(after: sentUpTo)
                    for frame in frames {
                        try await outbound.writeTextMessage(String(decoding: try encoder.encode(frame), as: UTF8.self))
                        self.metrics.message("out", frame.body?.typeName ?? "ack")
                        sentUpTo = max(sentUpTo, frame.seq)
                    }
                }
            }
            group.addTask {
                // The orchestrator's welcome says how often it wants to hear from the node.
                await welcomed.wait()
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(self.heartbeatMillis.load(ordering: .relaxed)))
                    await self.outbox.sendOnce(
                        .heartbeat(Heartbeat(runningExecutions: await self.runner.runningExecutions(), auditHead: self.runner.audit.head)))
                }
            }
            // Frames with a body are handled in order by the handler below: the reader queues an
            // assignment's store write and reads on, so a burst of assignments shares one group
            // commit instead of each waiting for the one before.
            let inbox = ReceivedQueue()
            group.addTask {
                // Handles every queued frame, also after the link ended (claimed assignments must
                // start or be released); acknowledges none after one that could not be stored.
                var failed = false
                while let item = await inbox.next() {
                    do {
                        try await self.handle(item.work)
                    } catch {
                        if !failed {
                            failed = true
                            // Not storable: the session ends unacknowledged and the orchestrator
                            // sends the assignment again when the node reconnects.
                            self.logger.error(
                                "cannot store an assignment; reconnecting so the orchestrator sends it again",
                                metadata: ["error": "\(error)"])
                            try? await outbound.close(.unexpectedServerError, reason: "the node could not store an assignment")
                        }
                        continue
                    }
                    // Acknowledged only once handled: an assignment is stored by now.
                    if !failed { await self.outbox.received(item.seq) }
                }
            }
            group.addTask {
                defer { inbox.close() }
                for try await message in inbound.messages(maxSize: NodeProtocol.maxMessageBytes) {
                    let data: Data
                    switch message {
                    case .text(let text): data = Data(text.utf8)
                    case .binary(let buffer): data = Data(buffer.readableBytesView)
                    }
                    guard let frame = try? decoder.decode(Frame<OrchestratorMessage>.self, from: data) else {
                        self.logger.warning("undecodable frame from orchestrator")
                        continue
                    }
                    watch.withLock { $0.heard(at: .now) }
                    self.metrics.message("in", frame.body?.typeName ?? "ack")
                    let settled = await self.outbox.acknowledge(upTo: frame.ack)
                    if !settled.isEmpty { await self.runner.forget(settled) }
                    guard let body = frame.body else { continue }
                    switch body {
                    case .welcome(let welcome):
                        let interval = max(100, welcome.heartbeatIntervalMillis)
                        self.heartbeatMillis.store(interval, ordering: .relaxed)
                        watch.withLock { $0.welcomed(heartbeat: .milliseconds(interval), at: .now) }
                        welcomed.signal()
                        deadlineMoved.signal()
                        self.logger.info("registered with orchestrator", metadata: ["node": "\(welcome.nodeID)"])
                        inbox.append(ReceivedQueue.Item(seq: frame.seq, work: .none))
                    case .runExecution(let assignment):
                        // A repeat (known here already) needs nothing but its acknowledgement.
                        let pending = await self.runner.claim(assignment)
                        inbox.append(ReceivedQueue.Item(seq: frame.seq, work: pending.map { .run(assignment, $0) } ?? .none))
                    case .cancelExecution(let cancel):
                        inbox.append(ReceivedQueue.Item(seq: frame.seq, work: .cancel(cancel.executionID)))
                    }
                }
            }
            // Whichever ends first (socket closed, write failed, link silent) ends the session.
            _ = try await group.next()
            group.cancelAll()
        }
    }
}

/// The session ended because `LinkWatch` gave up on a silent orchestrator.
struct LinkDead: Error, CustomStringConvertible {
    var reason: String
    var description: String { "link to the orchestrator closed: \(reason)" }
}

/// A value behind a lock that child tasks can share (a `Mutex` cannot be captured by them).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { value in body(&value) }
    }
}
