import InsituAPI
import InsituControlPlane
import InsituModel
import InsituSimulation
import InsituStore
import Testing

/// The control plane driven input by input with explicit time, committing each step into the
/// simulated store under the history checker.
struct Core {
    var plane: ControlPlane
    var store = SimulatedStore()
    var checker = HistoryChecker()
    var now: Int64 = 1_000_000
    /// What the last step asked to send, per node.
    var sent: [(NodeID, OrchestratorMessage)] = []
    var closed: [Effects.Close] = []

    static let digest = ContentDigest(rawValue: String(repeating: "cd", count: 32))!

    init(heartbeatMillis: Int64 = 5_000) {
        plane = ControlPlane(
            settings: ControlPlane.Settings(liveness: LivenessSettings(heartbeatMillis: heartbeatMillis)),
            recovered: RecoveredState(activeJobs: [], executions: [], nodes: []), now: Timestamp(milliseconds: 1_000_000))
    }

    @discardableResult
    mutating func apply(_ input: Input) -> Reply {
        var effects = Effects()
        let reply = plane.apply(input, at: Timestamp(milliseconds: now), into: &effects)
        try! store.commit(effects.batch, checker: &checker, at: Timestamp(milliseconds: now))
        sent = effects.sends.map { ($0.node, $0.message) }
        closed = effects.closes
        return reply
    }

    mutating func advance(to millis: Int64) {
        now = 1_000_000 + millis
        apply(.tick)
    }

    mutating func connect(_ node: NodeID, epoch: UInt64 = 1, connection: UInt64, known: [ExecutionID] = []) {
        let info = NodeInfo(
            id: node, name: node.rawValue, resources: Resources(cpuMillis: 1_000, memoryBytes: 8 << 30), datasets: [DatasetInfo(name: "d")])
        apply(.nodeConnected(AgentHello(node: info, epoch: epoch, knownExecutions: known), connection: connection))
    }

    mutating func submit(_ spec: JobSpec, id: JobID = "j-1") -> Job {
        guard case .submitted(let job, _) = apply(.submit(spec, id: id, idempotencyKey: nil, existing: nil)) else {
            fatalError("not submitted")
        }
        return job
    }

    mutating func report(_ node: NodeID, connection: UInt64, seq: UInt64, _ report: NodeReport) -> Reply {
        apply(.nodeMessage(report, seq: seq, node: node, connection: connection))
    }

    static func success(_ execution: ExecutionID) -> NodeReport {
        .result(VerifiedResult(executionID: execution, state: .succeeded, exitCode: 0, reason: nil, files: [ResultFile(path: "stdout", digest: digest, size: 2)]))
    }

    static func failure(_ execution: ExecutionID) -> NodeReport {
        .result(VerifiedResult(executionID: execution, state: .failed, exitCode: 1, reason: "exit status 1"))
    }

    var assignments: [(NodeID, ExecutionID)] {
        sent.compactMap { node, message in
            if case .runExecution(let assignment) = message { (node, assignment.executionID) } else { nil }
        }
    }

    var cancellations: [(NodeID, ExecutionID)] {
        sent.compactMap { node, message in
            if case .cancelExecution(let cancel) = message { (node, cancel.executionID) } else { nil }
        }
    }

    static func spec(grace: Int64 = 60_000, action: NodeLossPolicy.Action = .replace, attempts: Int = 3) -> JobSpec {
        var spec = JobSpec(
            name: "count", inputs: [InputSpec(source: .dataset(name: "d"), target: "/data/d")],
            engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest))))
        spec.nodeLoss = NodeLossPolicy(action: action, graceMillis: grace)
        spec.retry = RetryPolicy(attempts: attempts, delayMillis: 1_000, backoff: 2, maxDelayMillis: 10_000)
        return spec
    }
}

@Suite struct ControlPlaneTests {
    /// Issue 6 acceptance: a node partitioned longer than its job's grace period has the work
    /// replaced elsewhere, and its late result is refused as superseded.
    @Test func aNodeAwayLongerThanTheGraceHasItsWorkReplacedAndItsLateResultRefused() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        core.connect("node-b", connection: 2)
        let job = core.submit(Core.spec(grace: 60_000))
        let (first, original) = try #require(core.assignments.first)
        let other: NodeID = first == "node-a" ? "node-b" : "node-a"
        let otherConnection: UInt64 = other == "node-a" ? 1 : 2
        let firstConnection: UInt64 = first == "node-a" ? 1 : 2
        _ = core.report(first, connection: firstConnection, seq: 1, .update(ExecutionUpdate(executionID: original, state: .running)))

        // The other node keeps sending heartbeats; the first falls silent (partitioned).
        for second in stride(from: 5, through: 20, by: 5) {
            core.now = 1_000_000 + Int64(second) * 1_000
            _ = core.report(other, connection: otherConnection, seq: 0, .heartbeat(Heartbeat(runningExecutions: [])))
            core.apply(.tick)
        }
        #expect(core.plane.liveness(of: first) == .disconnected, "four missed heartbeats: the link counts as dead")
        #expect(core.closed.map(\.connection) == [firstConnection] || core.plane.connection(of: first) == nil)
        for second in stride(from: 25, through: 79, by: 5) {
            core.now = 1_000_000 + Int64(second) * 1_000
            _ = core.report(other, connection: otherConnection, seq: 0, .heartbeat(Heartbeat(runningExecutions: [])))
            core.apply(.tick)
            #expect(core.store.executions[original]?.state == .running, "within the grace period at \(second)s")
        }
        core.now = 1_000_000 + 80_000
        core.apply(.tick)
        #expect(core.store.executions[original]?.state == .lost)
        let (replacementNode, replacement) = try #require(core.assignments.first)
        #expect(replacementNode == other && replacement != original, "a new attempt, with its own ID, on the healthy node")

        // The partition heals: the node says hello (same run) and delivers its late result.
        core.connect(first, connection: 3, known: [original])
        #expect(core.cancellations.map(\.1) == [original], "told to stop the superseded attempt")
        _ = core.report(first, connection: 3, seq: 2, Core.success(original))
        #expect(core.store.results.isEmpty, "the superseded attempt's result is refused")
        #expect(core.store.events.contains { $0.message.contains("late succeeded report from execution \(original)") })

        _ = core.report(other, connection: otherConnection, seq: 1, Core.success(replacement))
        #expect(core.store.jobs[job.id]?.state == .completed)
        #expect(core.store.results.values.map(\.executionID) == [replacement])
        #expect(core.checker.violations.isEmpty, "\(core.checker.violations)")
    }

    /// Issue 6 acceptance: a node partitioned for less than the grace period delivers once, and
    /// its work is neither run a second time nor replaced.
    @Test func aNodeAwayShorterThanTheGraceDeliversOnceWithNoSecondRun() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        let job = core.submit(Core.spec(grace: 60_000))
        let (_, execution) = try #require(core.assignments.first)
        _ = core.report("node-a", connection: 1, seq: 1, .update(ExecutionUpdate(executionID: execution, state: .running)))
        core.advance(to: 10_000)
        #expect(core.plane.liveness(of: "node-a") == .suspect)
        core.advance(to: 20_000)
        #expect(core.plane.liveness(of: "node-a") == .disconnected)
        core.advance(to: 40_000)
        core.connect("node-a", connection: 2, known: [execution])
        #expect(core.assignments.isEmpty && core.cancellations.isEmpty, "the node still has it: nothing is sent again")
        let delivered = core.report("node-a", connection: 2, seq: 2, Core.success(execution))
        #expect(delivered.isFresh)
        // The acknowledgement was lost; the node replays the report: a repeat.
        let replayed = core.report("node-a", connection: 2, seq: 2, Core.success(execution))
        #expect(!replayed.isFresh)
        #expect(core.store.jobs[job.id]?.state == .completed)
        #expect(core.store.executions.count == 1)
        #expect(core.store.results.count == 1)
        #expect(core.checker.violations.isEmpty, "\(core.checker.violations)")
    }

    /// An agent restarted without its work: what it ran is lost and tried again as a new attempt,
    /// never run again under the same execution ID.
    @Test func workARestartedNodeNoLongerHasIsLostAndRetriedAsANewAttempt() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        let job = core.submit(Core.spec())
        let (_, execution) = try #require(core.assignments.first)
        _ = core.report("node-a", connection: 1, seq: 1, .update(ExecutionUpdate(executionID: execution, state: .running)))
        core.apply(.nodeDisconnected("node-a", connection: 1))
        core.now += 2_000
        core.connect("node-a", epoch: 2, connection: 2, known: [])
        #expect(core.store.executions[execution]?.state == .lost)
        #expect(core.store.executions[execution]?.stateReason?.contains("restarted") == true)
        let (_, retry) = try #require(core.assignments.first)
        #expect(retry == ExecutionID(job: job.id, partition: 0, attempt: 2))
    }

    @Test func failedPartitionsAreRetriedAfterABackoffUpToTheAttemptLimit() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        let job = core.submit(Core.spec(attempts: 3))
        var seq: UInt64 = 0
        var attempt = try #require(core.assignments.first).1
        for number in 1...3 {
            #expect(attempt == ExecutionID(job: job.id, partition: 0, attempt: number))
            seq += 1
            _ = core.report("node-a", connection: 1, seq: seq, Core.failure(attempt))
            guard number < 3 else { break }
            #expect(core.assignments.isEmpty, "not before the retry delay")
            // Delay 1 s, then 2 s, each with up to a quarter of jitter.
            let delay: Int64 = number == 1 ? 1_250 : 2_500
            core.now += delay
            _ = core.report("node-a", connection: 1, seq: 0, .heartbeat(Heartbeat(runningExecutions: [])))
            core.apply(.tick)
            attempt = try #require(core.assignments.first).1
        }
        let stored = try #require(core.store.jobs[job.id])
        #expect(stored.state == .failed)
        #expect(stored.stateReason?.contains("attempt 3") == true, "\(stored.stateReason ?? "")")
        #expect(core.checker.violations.isEmpty, "\(core.checker.violations)")
    }

    @Test func aJobNothingCanRunFailsAtItsQueueTimeoutWithTheReasons() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        var spec = Core.spec()
        spec.inputs = [InputSpec(source: .dataset(name: "elsewhere"), target: "/data/e")]
        spec.queueTimeoutMillis = 30_000
        let job = core.submit(spec)
        #expect(core.store.jobs[job.id]?.state == .queued)
        core.now += 29_999
        _ = core.report("node-a", connection: 1, seq: 0, .heartbeat(Heartbeat(runningExecutions: [])))
        core.apply(.tick)
        #expect(core.store.jobs[job.id]?.state == .queued)
        core.now += 1
        core.apply(.tick)
        let failed = try #require(core.store.jobs[job.id])
        #expect(failed.state == .failed)
        #expect(failed.stateReason?.contains("queue timeout of 30s") == true)
        #expect(failed.stateReason?.contains("elsewhere") == true, "names the per-node reason: \(failed.stateReason ?? "")")
    }

    /// Regression: with no node at all there is no per-node reason, and the queue timeout never
    /// fired (it waited for reasons), so the job stayed queued for ever, against docs/JOBSPEC.md.
    @Test func aJobFailsAtItsQueueTimeoutWhenNoNodeIsConnected() throws {
        var core = Core()
        var spec = Core.spec()
        spec.queueTimeoutMillis = 30_000
        let job = core.submit(spec)
        #expect(core.store.jobs[job.id]?.state == .queued)
        core.now += 29_999
        core.apply(.tick)
        #expect(core.store.jobs[job.id]?.state == .queued)
        core.now += 1
        core.apply(.tick)
        let failed = try #require(core.store.jobs[job.id])
        #expect(failed.state == .failed)
        #expect(failed.stateReason?.contains("queue timeout of 30s") == true && failed.stateReason?.contains("no node is connected") == true,
            "\(failed.stateReason ?? "")")
        #expect(core.checker.violations.isEmpty, "\(core.checker.violations)")
    }

    /// Each result planned every queued job again in full: with 2,000 jobs queued behind a
    /// four-node cluster (the chaos burst) a result cost thousands of plans, the orchestrator
    /// fell minutes behind and node links timed out. Now a queued job is only planned in full
    /// when a node that changed can take it, and the queue still drains oldest first.
    @Test func aResultPlansOnlyTheQueuedJobsThatFitWhereCapacityWasFreed() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        var spec = Core.spec()
        spec.resources = Resources(cpuMillis: 1_000, memoryBytes: 1 << 20)
        let ids = (0..<50).map { JobID("j-\(1000 + $0)") }
        for id in ids { _ = core.submit(spec, id: id) }
        #expect(ids.dropFirst().allSatisfy { core.store.jobs[$0]?.state == .queued })
        var seq: UInt64 = 0
        for (index, id) in ids.enumerated() {
            let running = try #require(core.plane.executions(of: id).first)
            let before = core.plane.evaluations
            seq += 1
            _ = core.report("node-a", connection: 1, seq: seq, Core.success(running.id))
            #expect(core.store.jobs[id]?.state == .completed)
            if index + 1 < ids.count {
                let next = core.plane.executions(of: ids[index + 1]).map(\.id)
                #expect(next.count == 1 && core.assignments.map(\.1) == next, "the oldest waiting job runs next")
                #expect(core.plane.evaluations - before == 1, "planned in full: only the job that fits")
            }
        }
    }

    /// A job waiting for a dataset no node holds runs when a node holding it registers.
    @Test func aQueuedJobRunsWhenANodeThatCanTakeItRegisters() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        var spec = Core.spec()
        spec.inputs = [InputSpec(source: .dataset(name: "late"), target: "/data/late")]
        let job = core.submit(spec)
        #expect(core.store.jobs[job.id]?.state == .queued)
        // A node without the dataset changes nothing.
        core.connect("node-b", connection: 2)
        #expect(core.store.jobs[job.id]?.state == .queued)
        let info = NodeInfo(
            id: "node-c", name: "node-c", resources: Resources(cpuMillis: 1_000, memoryBytes: 8 << 30), datasets: [DatasetInfo(name: "late")])
        core.apply(.nodeConnected(AgentHello(node: info, epoch: 1, knownExecutions: []), connection: 3))
        #expect(core.store.jobs[job.id]?.state == .running)
        #expect(core.assignments.map(\.0) == ["node-c"])
    }

    @Test func aMessageOnAReplacedConnectionIsNeitherAppliedNorAcknowledged() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        _ = core.submit(Core.spec())
        let (_, execution) = try #require(core.assignments.first)
        core.connect("node-a", connection: 2, known: [execution])
        #expect(core.closed.map(\.connection) == [1], "the replaced connection is closed")
        var effects = Effects()
        let reply = core.plane.apply(
            .nodeMessage(Core.success(execution), seq: 1, node: "node-a", connection: 1), at: Timestamp(milliseconds: core.now),
            into: &effects)
        guard case .staleConnection = reply else {
            Issue.record("expected a stale connection, got \(reply)")
            return
        }
        #expect(effects.acks.isEmpty && effects.batch.isEmpty)
    }

    @Test func stoppingAJobWhileItsNodeIsAwayCancelsTheWorkWhenTheNodeReturns() throws {
        var core = Core()
        core.connect("node-a", connection: 1)
        let job = core.submit(Core.spec())
        let (_, execution) = try #require(core.assignments.first)
        core.apply(.nodeDisconnected("node-a", connection: 1))
        core.apply(.stop(job.id))
        #expect(core.cancellations.isEmpty, "nowhere to send it yet")
        core.connect("node-a", connection: 2, known: [execution])
        #expect(core.cancellations.map(\.1) == [execution])
    }
}

extension Reply {
    var isFresh: Bool {
        if case .applied(let fresh) = self { return fresh }
        return false
    }
}

@Suite struct NodeHealthTests {
    let settings = LivenessSettings(heartbeatMillis: 1_000, lostAfterMillis: 10_000)

    @Test func silenceMakesANodeSuspectThenDisconnectedThenLost() {
        var health = NodeHealth(recoveredAt: Timestamp(milliseconds: 0))
        func tick(_ millis: Int64) -> NodeHealth.Change? { health.tick(at: Timestamp(milliseconds: millis), settings: settings) }
        func hello(_ epoch: UInt64, _ connection: UInt64, _ millis: Int64) -> Bool {
            health.hello(epoch: epoch, connection: connection, at: Timestamp(milliseconds: millis))
        }
        #expect(hello(7, 1, 0))
        #expect(tick(1_999) == nil)
        #expect(tick(2_000) == .becameSuspect)
        #expect(health.isReachable)
        health.heard(at: Timestamp(milliseconds: 2_500))
        #expect(health.liveness == .connected, "any message clears suspicion")
        #expect(tick(4_500) == .becameSuspect)
        #expect(tick(6_500) == .linkDead(connection: 1))
        #expect(health.liveness == .disconnected && health.connection == nil)
        #expect(tick(16_499) == nil)
        #expect(tick(16_500) == .becameLost)
        #expect(!hello(7, 2, 20_000), "same run: not a new incarnation")
        #expect(health.liveness == .connected)
        #expect(hello(8, 3, 21_000), "a restarted agent is a new incarnation")
    }

    @Test func theCloseOfAReplacedConnectionChangesNothing() {
        var health = NodeHealth(recoveredAt: Timestamp(milliseconds: 0))
        _ = health.hello(epoch: 1, connection: 1, at: Timestamp(milliseconds: 0))
        _ = health.hello(epoch: 1, connection: 2, at: Timestamp(milliseconds: 10))
        let first = health.closed(connection: 1, at: Timestamp(milliseconds: 20))
        #expect(!first)
        #expect(health.liveness == .connected && health.connection == 2)
        let second = health.closed(connection: 2, at: Timestamp(milliseconds: 30))
        #expect(second)
        #expect(health.liveness == .disconnected)
    }
}

@Suite struct RetryPolicyTests {
    @Test func delaysGrowByTheBackoffWithBoundedJitterAndACap() {
        let policy = RetryPolicy(attempts: 5, delayMillis: 1_000, backoff: 2, maxDelayMillis: 3_000)
        #expect(policy.delay(beforeAttempt: 1, jitter: 0.5) == 0)
        #expect(policy.delay(beforeAttempt: 2, jitter: 0) == 1_000)
        #expect(policy.delay(beforeAttempt: 2, jitter: 0.999) < 1_250)
        #expect(policy.delay(beforeAttempt: 3, jitter: 0) == 2_000)
        #expect(policy.delay(beforeAttempt: 4, jitter: 0) == 3_000, "capped")
        #expect(policy.delay(beforeAttempt: 60, jitter: 1) == 3_000, "never beyond the cap, never overflowing")
    }
}
