import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
public import InsituAPI
import InsituExecutor
public import InsituModel
public import Logging
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
    let nodeInfo: NodeInfo
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

    public init(config: AgentConfig, logger: Logger, version: String = "dev") throws {
        self.config = config
        self.logger = logger
        let id = try NodeIdentity.loadOrCreate(dataDirectory: config.dataDirectory) {
            NodeID("n-" + String(UInt64.random(in: 0...UInt64.max), radix: 16))
        }
        let detected = MachineResources.detect()
        var engines: [EngineKind] = [.wasm]
        if config.processEngineEnabled { engines.append(.process) }
        self.epoch = UInt64.random(in: 1...UInt64.max)
        (self.outbox, self.runner, self.recoveredStarts) = try ExecutionRunner.open(config: config, logger: logger)
        self.nodeInfo = NodeInfo(
            id: id, name: config.name, labels: config.labels,
            resources: Resources(cpuMillis: config.cpuMillis ?? detected.cpuMillis, memoryBytes: config.memoryBytes ?? detected.memoryBytes),
            datasets: config.datasets.map { DatasetInfo(name: $0.name, description: $0.description, labels: $0.labels) },
            engines: engines, wasmRuntime: runner.wasmRuntime, version: version)
    }

    public var nodeID: NodeID { nodeInfo.id }

    public func run() async throws {
        logger.info("agent starting", metadata: ["node": "\(nodeInfo.id)", "name": "\(nodeInfo.name)"])
        await withDiscardingTaskGroup { group in
            for assignment in self.recoveredStarts { self.startContinuation.yield(assignment) }
            group.addTask { await self.connectLoop() }
            // Executions run as children of the agent, not of a connection, so they survive
            // reconnects; a graceful shutdown cancels them. Each was stored and claimed by
            // `ExecutionRunner.accept` before it got here.
            for await assignment in self.starts.cancelOnGracefulShutdown() {
                group.addTask { await self.runner.run(assignment) }
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
            let started = ContinuousClock.now
            do {
                try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 1 << 20), logger: logger
                ) { inbound, outbound, _ in
                    try await self.session(inbound: inbound, outbound: outbound)
                }
                logger.info("connection to orchestrator closed", metadata: ["url": "\(url)"])
            } catch {
                logger.info("cannot reach orchestrator", metadata: ["url": "\(url)", "error": "\(error)"])
            }
            await outbox.connectionEnded()
            if ContinuousClock.now - started > .seconds(10) { attempt = 0 }
            attempt += 1
            index += 1
            let backoff = min(5_000, 100 * (1 << min(attempt, 6)))
            let jitter = Int.random(in: 0...(backoff / 4))
            try? await Task.sleep(for: .milliseconds(backoff + jitter))
        }
    }

    func session(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        let hello = AgentHello(node: nodeInfo, epoch: epoch, knownExecutions: await runner.knownExecutions())
        let helloFrame = Frame<AgentMessage>(seq: 0, ack: await outbox.lastReceivedSeq, body: .hello(hello))
        try await outbound.writeTextMessage(String(decoding: try encoder.encode(helloFrame), as: UTF8.self))
        let welcomed = Wakeup()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var sentUpTo: UInt64 = 0
                while !Task.isCancelled {
                    let frames = await self.outbox.next(after: sentUpTo)
                    for frame in frames {
                        try await outbound.writeTextMessage(String(decoding: try encoder.encode(frame), as: UTF8.self))
                        sentUpTo = max(sentUpTo, frame.seq)
                    }
                }
            }
            group.addTask {
                // The orchestrator's welcome says how often it wants to hear from the node.
                await welcomed.wait()
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(self.heartbeatMillis.load(ordering: .relaxed)))
                    await self.outbox.sendOnce(.heartbeat(Heartbeat(runningExecutions: await self.runner.runningExecutions())))
                }
            }
            group.addTask {
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
                    let settled = await self.outbox.acknowledge(upTo: frame.ack)
                    if !settled.isEmpty { await self.runner.forget(settled) }
                    guard let body = frame.body else { continue }
                    switch body {
                    case .welcome(let welcome):
                        self.heartbeatMillis.store(max(100, welcome.heartbeatIntervalMillis), ordering: .relaxed)
                        welcomed.signal()
                        self.logger.info("registered with orchestrator", metadata: ["node": "\(welcome.nodeID)"])
                    case .runExecution(let assignment):
                        // Not storable: the session ends unacknowledged and the orchestrator
                        // sends the assignment again when the node reconnects.
                        do {
                            if try await self.runner.accept(assignment) { self.startContinuation.yield(assignment) }
                        } catch {
                            self.logger.error(
                                "cannot store an assignment; reconnecting so the orchestrator sends it again",
                                metadata: ["execution": "\(assignment.executionID)", "error": "\(error)"])
                            throw error
                        }
                    case .cancelExecution(let cancel):
                        await self.runner.cancel(cancel.executionID)
                    }
                    // Acknowledged only once handled: an assignment is stored by now.
                    await self.outbox.received(frame.seq)
                }
            }
            // Whichever side ends first (socket closed, write failed) ends the session.
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
