import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituSimulation
import Testing
import WAT

/// Chaos on real processes (issue 6, item 11): the orchestrator and four agents as real `insitu`
/// processes, each agent in its own network namespace, while a burst of small jobs runs and the
/// harness kills agents and the orchestrator, partitions agents and slows one agent's link. At the
/// end, `HistoryChecker` checks what the orchestrator recorded (read back through the REST API).
/// docs/OPERATIONS.md ("Chaos") says how to run it and records the figures of one run.
///
/// Sizes come from the environment so `scripts/chaos.sh --soak` can run a longer version:
/// INSITU_CHAOS_JOBS (default 2000), INSITU_CHAOS_BURST_SECONDS (default 60),
/// INSITU_CHAOS_REPORT (a file the figures are written to).
@Suite(.serialized)
struct ChaosTests {
    static let skipReason = ChaosNetwork.unavailableReason()

    @Test(.enabled(if: ChaosTests.skipReason == nil, Comment(rawValue: "chaos harness skipped: \(ChaosTests.skipReason ?? "")")))
    func chaosOnRealProcesses() async throws {
        let environment = ProcessInfo.processInfo.environment
        let jobs = Int(environment["INSITU_CHAOS_JOBS"] ?? "") ?? 2_000
        let burstSeconds = Double(environment["INSITU_CHAOS_BURST_SECONDS"] ?? "") ?? 60
        ChaosNetwork.removeStale()
        let run = try await ChaosRun.start()
        var failure: (any Error)?
        do {
            try await run.play(jobs: jobs, burstSeconds: burstSeconds)
        } catch {
            failure = error
        }
        let left = run.tearDown()
        #expect(left.isEmpty, "the harness left behind: \(left)")
        if let failure { throw failure }
    }
}

/// One chaos run: its processes, network, submitted jobs and measured figures.
final class ChaosRun: @unchecked Sendable {
    static let agentCount = 4
    /// The agent whose link gets slow and lossy; it always dials through its own relay.
    static let slowAgent = 3
    static let heartbeatSeconds = 0.5
    static let burstSleepMillis = 300

    let e2e: E2E
    let network: ChaosNetwork
    let tag: String
    var hubRelay: ChaosRelay?
    var slowRelay: ChaosRelay?
    var module = ContentDigest(rawValue: String(repeating: "0", count: 64))!
    var sleeperModules: [Int: ContentDigest] = [:]
    let lock = NSLock()
    /// Jobs whose submission got a 2xx, with when (harness clock) and their bound.
    var accepted: [JobID: (at: Timestamp, boundMillis: Int64, line: String)] = [:]
    var figures: [(String, String)] = []
    var client: InsituClient { e2e.cluster.client }

    private init(e2e: E2E, network: ChaosNetwork) {
        self.e2e = e2e
        self.network = network
        tag = "r\(UInt32.random(in: 0...UInt32.max))"
    }

    static func start() async throws -> ChaosRun {
        let network = try ChaosNetwork(agentCount: agentCount)
        let e2e: E2E
        do { e2e = try E2E.make("chaos") } catch {
            network.tearDown()
            throw error
        }
        let run = ChaosRun(e2e: e2e, network: network)
        do {
            try await run.startCluster()
        } catch {
            _ = run.tearDown()
            throw error
        }
        return run
    }

    func startCluster() async throws {
        try await e2e.cluster.startOrchestrator(extraArguments: ["--heartbeat-interval", "\(Self.heartbeatSeconds)"])
        let port = e2e.cluster.apiURL.split(separator: ":").last.map(String.init) ?? ""
        hubRelay = try await ChaosRelay(
            name: "hub",
            arguments: [
                "--listen", "\(ChaosNetwork.hubAddress):\(ChaosNetwork.relayPort)", "--listen-netns", "/var/run/netns/\(network.hub)",
                "--target", "127.0.0.1:\(port)",
            ],
            logPath: e2e.root + "/logs/relay-hub.log")
        slowRelay = try await ChaosRelay(
            name: "slow", launcher: network.launcher(Self.slowAgent),
            arguments: ["--listen", "127.0.0.1:7001", "--target", "\(ChaosNetwork.hubAddress):\(ChaosNetwork.relayPort)"],
            logPath: e2e.root + "/logs/relay-slow.log")
        for index in 0..<Self.agentCount { try startAgent(index) }
        try await e2e.cluster.waitForNodes(Self.agentCount, timeout: .seconds(60))
        // Burst jobs take 300 ms, so every fault catches some of them mid-run.
        module = try await client.uploadModule(Data(try wat2wasm(Self.printArgument(sleepMillis: Self.burstSleepMillis)))).digest
    }

    func startAgent(_ index: Int) throws {
        try e2e.cluster.startAgent(
            name: "agent-\(index)", labels: ["chaos": "a\(index)"], cpu: "4", launcher: network.launcher(index),
            orchestratorURL: index == Self.slowAgent ? "http://127.0.0.1:7001" : network.orchestratorURL)
    }

    /// Stops every process, then deletes the namespaces; returns what is left behind.
    func tearDown() -> [String] {
        let inodes = Set((0..<Self.agentCount).compactMap { network.namespaceInode($0) })
        hubRelay?.stop()
        slowRelay?.stop()
        e2e.cluster.stopAll()
        // Runners notice their agent's death within their watchdog's tick.
        let deadline = ContinuousClock.now + .seconds(10)
        while !ChaosNetwork.processes(inNamespaces: inodes).isEmpty && ContinuousClock.now < deadline { usleep(50_000) }
        var left = ChaosNetwork.processes(inNamespaces: inodes).map { "process \($0)" }
        left += network.tearDown()
        left += ChaosNetwork.existing().filter { $0.hasPrefix(ChaosNetwork.prefix + "\(getpid())-") }
        e2e.tearDown()
        return left
    }

    func figure(_ name: String, _ value: String) {
        print("chaos figure: \(name): \(value)")
        lock.withLock { figures.append((name, value)) }
    }

    func note(_ text: String) { print("chaos: \(text)") }

    // MARK: The run

    func play(jobs: Int, burstSeconds: Double) async throws {
        let started = ContinuousClock.now
        let burst = Task { try await self.submitBurst(count: jobs, seconds: burstSeconds) }
        do {
            try await killAgent(restart: true)
            let dead = try await killAgent(restart: false)
            try await killOrchestrator(dead: dead)
            let live = (0..<Self.agentCount).filter { $0 != dead && $0 != Self.slowAgent }
            try await partition(longerThanGrace: true, among: live)
            try await partition(longerThanGrace: false, among: live)
            try await slowLink()
            try await burst.value
        } catch {
            burst.cancel()
            throw error
        }
        note("faults done after \(seconds(ContinuousClock.now - started)); waiting for every job to end")
        try await waitForAllTerminal()
        figure("jobs accepted", "\(accepted.count) (\(jobs) burst + \(accepted.count - jobs) fault probes)")
        figure("run length", seconds(ContinuousClock.now - started))
        try await checkHistory()
        writeReport()
    }

    // MARK: Faults

    /// `kill -9` of an agent while it runs a job; restarted on the same data dir or not. Returns
    /// the agent's index.
    @discardableResult
    func killAgent(restart: Bool) async throws -> Int {
        let label = restart ? "kill -9 agent, restarted" : "kill -9 agent, not restarted"
        let pair = restart ? [0, 1] : [1, 2]
        let job = try await submitProbe("kill-\(restart ? "restart" : "gone")", sleepMillis: 4_000, constraint: "chaos in (a\(pair[0]), a\(pair[1]))")
        let execution = try await waitForRunningExecution(job)
        let victim = try await agentIndex(of: execution.nodeID)
        let killed = ContinuousClock.now
        e2e.cluster.agents["agent-\(victim)"]?.stop(signal: SIGKILL)
        note("\(label): killed agent-\(victim) running \(execution.id)")
        try await waitUntil(timeout: .seconds(10), "no insitu-wasm-runner left in agent-\(victim)'s namespace", interval: .milliseconds(50)) {
            self.network.runners(inAgent: victim).isEmpty
        }
        figure("\(label): runners gone after", seconds(ContinuousClock.now - killed))
        try await waitForNode(victim) { $0 != .connected }
        let detected = ContinuousClock.now
        figure("\(label): time to detect the dead node (kill → not connected)", seconds(detected - killed))
        if restart {
            try startAgent(victim)
            try await waitForNode(victim) { $0 == .connected }
            let detail = try await waitForTerminal(job)
            #expect(detail.job.state == .completed, "\(label): \(job) ended \(detail.job.state): \(detail.job.stateReason ?? "")")
            figure("\(label): kill → job completed", seconds(ContinuousClock.now - killed))
            figure("\(label): attempts", detail.executions.map { "\($0.id.rawValue.suffix(4))@\($0.nodeID)=\($0.state)" }.joined(separator: ", "))
        } else {
            let replacement = try await waitForExecution(of: job, where: { $0.id != execution.id && $0.nodeID != execution.nodeID })
            let placed = ContinuousClock.now
            figure("\(label): time to reschedule (not connected → replacement placed)", seconds(placed - detected))
            try await orchestratorReschedule(job, lost: execution.id, replacement: replacement.id, label: label)
            let detail = try await waitForTerminal(job)
            #expect(detail.job.state == .completed, "\(label): \(job) ended \(detail.job.state): \(detail.job.stateReason ?? "")")
            #expect(network.runners(inAgent: victim).isEmpty, "an insitu-wasm-runner outlived agent-\(victim)")
        }
        return victim
    }

    /// `kill -9` of the orchestrator with jobs running and queued; restart on the same data dir.
    func killOrchestrator(dead: Int) async throws {
        let label = "kill -9 orchestrator"
        let running = try await submitProbe("orchestrator-running", sleepMillis: 3_000, constraint: "chaos notin (a\(dead))")
        // Partitions too big to run side by side on one node: some wait while others run.
        let queued = try await submitProbe(
            "orchestrator-queued", sleepMillis: 1_500, constraint: "chaos notin (a\(dead))", count: 8, cpu: "3")
        _ = try await waitForRunningExecution(running)
        _ = try await waitForRunningExecution(queued)
        let summaries = try await client.jobs(limit: 1_000)
        let waiting = summaries.filter { $0.state == .pending || $0.state == .queued }.count
        let active = summaries.filter { $0.state == .running }.count
        let placed = try await client.job(queued.rawValue).executions.filter { !$0.state.isTerminal }.count
        let killed = ContinuousClock.now
        e2e.cluster.killOrchestrator(signal: SIGKILL)
        note("\(label): killed with \(active) jobs running and \(waiting) waiting (of the latest 1000)")
        figure(
            "\(label): at the kill",
            "\(active) jobs running, \(waiting) jobs pending or queued; the 8-partition probe had \(placed) partitions placed, the rest waiting for room")
        try await e2e.cluster.startOrchestrator(extraArguments: ["--heartbeat-interval", "\(Self.heartbeatSeconds)"])
        figure("\(label): restart → API answers", seconds(ContinuousClock.now - killed))
        do {
            try await e2e.cluster.waitForNodes(Self.agentCount - 1, timeout: .seconds(60))
        } catch {
            // Seen once under the full suite's load: an agent whose reconnect was accepted but never
            // answered waits forever (the agent's connect and hello have no timeout).
            let away = ((try? await client.nodes()) ?? []).filter { $0.liveness != .connected }.map { "\($0.name)=\($0.liveness)" }
            throw LocalClusterError("\(error); nodes not connected: \(away); see the agents' logs under /tmp/insitu-e2e-logs")
        }
        figure("\(label): kill → all live nodes connected again", seconds(ContinuousClock.now - killed))
        for job in [running, queued] {
            let detail = try await waitForTerminal(job)
            #expect(detail.job.state == .completed, "\(label): \(job) ended \(detail.job.state): \(detail.job.stateReason ?? "")")
        }
        let detail = try await client.job(running.rawValue)
        #expect(detail.executions.filter { $0.state == .succeeded }.count == 1)
        figure("\(label): attempts of the running job", "\(detail.executions.count)")
    }

    /// Cuts an agent running a job off for longer than the job's grace (the work is replaced
    /// elsewhere and the node's late result refused) or shorter (the node delivers once).
    func partition(longerThanGrace: Bool, among candidates: [Int]) async throws {
        let label = longerThanGrace ? "partition longer than grace" : "partition shorter than grace"
        let constraint = "chaos in (\(candidates.map { "a\($0)" }.joined(separator: ", ")))"
        let job = try await submitProbe(longerThanGrace ? "partition-long" : "partition-short", sleepMillis: longerThanGrace ? 3_000 : 1_000, constraint: constraint)
        let execution = try await waitForRunningExecution(job)
        let victim = try await agentIndex(of: execution.nodeID)
        let cut = ContinuousClock.now
        try network.partition(victim)
        note("\(label): agent-\(victim) cut off while running \(execution.id)")
        var healed = false
        defer { if !healed { try? network.heal(victim) } }
        try await waitForNode(victim) { $0 != .connected && $0 != .suspect }
        let detected = ContinuousClock.now
        figure("\(label): time to detect (link cut → disconnected by heartbeat TTL)", seconds(detected - cut))
        if longerThanGrace {
            let replacement = try await waitForExecution(of: job, where: { $0.id != execution.id })
            figure("\(label): time to reschedule (disconnected → replacement placed)", seconds(ContinuousClock.now - detected))
            try await orchestratorReschedule(job, lost: execution.id, replacement: replacement.id, label: label)
            try network.heal(victim)
            healed = true
            let heal = ContinuousClock.now
            figure("\(label): partition lasted", seconds(heal - cut))
            try await waitUntil(timeout: .seconds(60), "the late report of \(execution.id) to be refused", interval: .milliseconds(50)) {
                try await self.client.history(job.rawValue).contains { $0.kind == .note && $0.message.contains("late") && $0.executionID == execution.id }
            }
            figure("\(label): time for the returning node to deliver (heal → late result refused)", seconds(ContinuousClock.now - heal))
            let detail = try await waitForTerminal(job)
            #expect(detail.job.state == .completed)
            #expect(detail.results.map(\.executionID) == [replacement.id], "\(label): results \(detail.results)")
            #expect(detail.executions.first { $0.id == execution.id }?.state == .lost)
        } else {
            try network.heal(victim)
            healed = true
            let heal = ContinuousClock.now
            figure("\(label): partition lasted", seconds(heal - cut))
            let detail = try await waitForTerminal(job)
            figure("\(label): time for the returning node to deliver (heal → result accepted)", seconds(ContinuousClock.now - heal))
            #expect(detail.job.state == .completed)
            #expect(detail.executions.map(\.id) == [execution.id], "\(label): ran more than once: \(detail.executions.map(\.id))")
            #expect(detail.results.map(\.executionID) == [execution.id])
        }
    }

    /// 300 ms delay and 30 % loss on the slow agent's link while a job runs there and the burst goes on.
    func slowLink() async throws {
        let label = "slow link (300 ms, 30 % loss)"
        let index = Self.slowAgent
        let loss = try network.startLoss(index, percent: 30, netemDelayMillis: 300)
        if !loss.delayedByNetem { slowRelay?.delay(true) }
        let method = loss.delayedByNetem ? loss.method : "\(loss.method); delay 300 ms per chunk by scripts/chaos_relay.py in agent-\(index)'s namespace (netem unavailable)"
        figure("\(label): injected with", method)
        let start = ContinuousClock.now
        defer {
            slowRelay?.delay(false)
            try? network.stopLoss(index)
        }
        let job = try await submitProbe("slow-link", sleepMillis: 1_000, constraint: "chaos = a\(index)")
        var seen: Set<NodeLiveness> = []
        // The fault lasts until the probe job on the slow agent is done, and at least 15 s.
        try await waitUntil(timeout: .seconds(120), "\(job) to end on the slow link", interval: .milliseconds(100)) {
            if let node = try await self.client.nodes().first(where: { $0.name == "agent-\(index)" }) { seen.insert(node.liveness) }
            return try await self.client.job(job.rawValue).job.state.isTerminal && ContinuousClock.now - start >= .seconds(15)
        }
        figure("\(label): lasted", seconds(ContinuousClock.now - start))
        figure("\(label): agent-\(index) liveness seen", seen.map(\.rawValue).sorted().joined(separator: ", "))
        let detail = try await client.job(job.rawValue)
        #expect(detail.job.state == .completed, "\(label): \(job) ended \(detail.job.state): \(detail.job.stateReason ?? "")")
        figure("\(label): probe job attempts", "\(detail.executions.count)")
    }

    // MARK: Jobs

    /// Submits `count` small jobs spread over `seconds`, each printing its own line; a submission
    /// that gets no answer (the orchestrator is down) is retried with the same idempotency key.
    func submitBurst(count: Int, seconds: Double) async throws {
        let started = ContinuousClock.now
        let interval = Duration.seconds(seconds / Double(max(count, 1)))
        let workers = 8
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var index = worker
                    while index < count {
                        // Paced so the burst overlaps every fault.
                        try await Task.sleep(until: started + interval * index, clock: .continuous)
                        let line = "chaos \(self.tag) burst \(index)"
                        let spec = self.spec(name: "burst-\(index)", module: self.module, line: line)
                        try await self.submit(spec, key: "\(self.tag)-burst-\(index)", line: line)
                        index += workers
                    }
                }
            }
            try await group.waitForAll()
        }
        figure("burst", "\(count) jobs submitted in \(self.seconds(ContinuousClock.now - started))")
    }

    func submitProbe(_ name: String, sleepMillis: Int, constraint: String, count: Int = 1, cpu: String? = nil) async throws -> JobID {
        let digest: ContentDigest
        if let known = sleeperModules[sleepMillis] {
            digest = known
        } else {
            digest = try await client.uploadModule(Data(try wat2wasm(Self.printArgument(sleepMillis: sleepMillis)))).digest
            sleeperModules[sleepMillis] = digest
        }
        let line = "chaos \(tag) probe \(name)"
        let spec = self.spec(name: name, module: digest, line: line, count: count, constraint: constraint, cpu: cpu)
        return try await submit(spec, key: "\(tag)-probe-\(name)", line: line)
    }

    static let retryAttempts = 3
    static let timeoutSeconds = 30
    static let graceSeconds = 5
    static let queueTimeoutSeconds = 120

    func spec(name: String, module: ContentDigest, line: String, count: Int = 1, constraint: String? = nil, cpu: String? = nil) -> String {
        var yaml = """
            version: v1
            name: chaos-\(name)
            count: \(count)
            engine:
              type: wasm
              module: sha256:\(module.rawValue)
            args: ["\(line)"]
            timeout: \(Self.timeoutSeconds)s
            queueTimeout: \(Self.queueTimeoutSeconds)s
            retry: {attempts: \(Self.retryAttempts), delay: 1s}
            nodeLoss: {action: replace, grace: \(Self.graceSeconds)s}

            """
        if let constraint { yaml += "constraints: [\"\(constraint)\"]\n" }
        if let cpu { yaml += "resources: {cpu: \"\(cpu)\", memory: 64Mi}\n" }
        return yaml
    }

    /// The longest a job may take from its acceptance to terminal under these policies: waiting
    /// for a node, then every attempt running to its timeout or losing its node (detection, grace,
    /// retry delay), plus an orchestrator restart.
    static var boundMillis: Int64 {
        let detection = Int64(heartbeatSeconds * 4_000)
        let perAttempt = Int64(timeoutSeconds + graceSeconds + 1) * 1_000 + detection
        return Int64(queueTimeoutSeconds) * 1_000 + Int64(retryAttempts) * perAttempt + 30_000
    }

    @discardableResult
    func submit(_ spec: String, key: String, line: String) async throws -> JobID {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            do {
                let response = try await client.submit(SubmitJobRequest(spec: spec), idempotencyKey: key)
                lock.withLock { accepted[response.jobID] = (Self.now(), Self.boundMillis, line) }
                return response.jobID
            } catch let failure as InsituClient.Failure where failure.status == nil || (failure.status ?? 0) >= 500 {
                // No answer, or the orchestrator failed: the job may or may not exist; the same key makes the retry safe.
                guard ContinuousClock.now < deadline else { throw failure }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    // MARK: Observations

    func agentIndex(of node: NodeID) async throws -> Int {
        guard let summary = try await client.nodes().first(where: { $0.id == node }),
            let index = Int(summary.name.dropFirst("agent-".count))
        else { throw LocalClusterError("node \(node) is not one of the harness's agents") }
        return index
    }

    func waitForNode(_ index: Int, timeout: Duration = .seconds(60), _ accept: @escaping (NodeLiveness) -> Bool) async throws {
        try await waitUntil(timeout: timeout, "agent-\(index) to change liveness", interval: .milliseconds(50)) {
            guard let node = try? await self.client.nodes().first(where: { $0.name == "agent-\(index)" }) else { return false }
            return accept(node.liveness)
        }
    }

    func waitForRunningExecution(_ job: JobID) async throws -> Execution {
        try await waitForExecution(of: job) { $0.state == .running }
    }

    func waitForExecution(of job: JobID, timeout: Duration = .seconds(90), where accept: @escaping (Execution) -> Bool) async throws -> Execution {
        var found: Execution?
        try await waitUntil(timeout: timeout, "an execution of \(job)", interval: .milliseconds(50)) {
            found = (try? await self.client.job(job.rawValue))?.executions.first(where: accept)
            return found != nil
        }
        return found!
    }

    func waitForTerminal(_ job: JobID, timeout: Duration = .seconds(120)) async throws -> JobDetail {
        var detail: JobDetail?
        try await waitUntil(timeout: timeout, "\(job) to end", interval: .milliseconds(50)) {
            detail = try? await self.client.job(job.rawValue)
            return detail?.job.state.isTerminal ?? false
        }
        return detail!
    }

    /// The reschedule as the orchestrator recorded it: the lost attempt's last event → the
    /// replacement's placement.
    func orchestratorReschedule(_ job: JobID, lost: ExecutionID, replacement: ExecutionID, label: String) async throws {
        let events = try await client.history(job.rawValue)
        let lostAt = events.last { $0.executionID == lost && $0.kind == .executionStateChanged }?.at
        let placed = try await client.job(job.rawValue).executions.first { $0.id == replacement }?.createdAt
        if let lostAt, let placed {
            figure("\(label): orchestrator's clock, attempt given up → replacement placed", "\(placed.rawValue - lostAt.rawValue) ms")
        }
    }

    func waitForAllTerminal() async throws {
        let ids = lock.withLock { Array(accepted.keys) }
        let deadline = ContinuousClock.now + .seconds(240)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: ids.count, by: max(1, ids.count / 8 + 1)) {
                let slice = ids[chunk..<min(ids.count, chunk + ids.count / 8 + 1)]
                group.addTask {
                    for id in slice {
                        while ContinuousClock.now < deadline {
                            // Long-polls until the job ends.
                            if let summary = try? await self.client.wait(id.rawValue, timeoutSeconds: 10), summary.state.isTerminal { break }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    // MARK: The check

    /// Reads back every accepted job (detail, events, logs) and runs the history checker over it.
    func checkHistory() async throws {
        let ids = lock.withLock { accepted.keys.sorted() }
        var recorded = RecordedHistory()
        var details: [JobID: JobDetail] = [:]
        var missing: [JobID] = []
        try await withThrowingTaskGroup(of: (JobID, JobDetail?, [JobEvent], [LogRecord]).self) { group in
            var pending = ids.makeIterator()
            for _ in 0..<8 {
                if let id = pending.next() { group.addTask { try await self.read(id) } }
            }
            while let (id, detail, events, logs) = try await group.next() {
                if let detail {
                    recorded.add(job: detail.job, executions: detail.executions, events: events, results: detail.results, logs: logs)
                    details[id] = detail
                } else {
                    missing.append(id)
                }
                if let id = pending.next() { group.addTask { try await self.read(id) } }
            }
        }
        var checker = HistoryChecker()
        for (id, acceptance) in lock.withLock({ accepted }) { checker.submitted(id, at: acceptance.at, boundMillis: acceptance.boundMillis) }
        checker.check(recorded)

        // Each job printed its own line: the succeeded attempts' output must hold it, once each.
        var withoutLine: [JobID] = []
        var rerun = 0
        for (id, acceptance) in lock.withLock({ accepted }) {
            guard let detail = details[id] else { continue }
            let succeeded = Set(detail.executions.filter { $0.state == .succeeded }.map(\.id))
            let lines = recorded.logs.filter { $0.jobID == id && $0.stream == "stdout" && succeeded.contains($0.executionID) }
                .flatMap { $0.text.split(separator: "\n") }.filter { $0 == acceptance.line }
            if lines.count != succeeded.count { withoutLine.append(id) }
            if Set(recorded.logs.filter { $0.jobID == id && $0.text.contains(acceptance.line) }.map(\.executionID)).count > 1 { rerun += 1 }
        }
        let states = Dictionary(grouping: details.values, by: { $0.job.state }).mapValues(\.count)
        figure("jobs by final state", states.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", "))
        figure("executions", "\(recorded.executions.count), \(recorded.executions.values.filter { $0.state == .lost }.count) lost, "
            + "\(recorded.executions.values.filter { $0.state == .cancelled }.count) cancelled")
        figure("jobs whose line was printed by more than one attempt (retries after faults, each attempt its own ID)", "\(rerun)")
        figure("history checker", checker.violations.isEmpty ? "0 violations over \(recorded.jobs.count) jobs, \(recorded.logs.count) log records, \(recorded.results.count) results" : "\(checker.violations.count) violations")
        #expect(missing.isEmpty, "accepted jobs the orchestrator does not know: \(missing.prefix(20))")
        #expect(checker.violations.isEmpty, "history checker: \(checker.violations.prefix(30).joined(separator: "\n"))")
        #expect(withoutLine.isEmpty, "jobs whose succeeded attempt's stdout lacks their line: \(withoutLine.prefix(20))")
        #expect(states.keys.allSatisfy { $0 == .completed }, "jobs did not all complete: \(states)")
    }

    /// One job as the orchestrator recorded it; nil detail when it does not know the job.
    func read(_ id: JobID) async throws -> (JobID, JobDetail?, [JobEvent], [LogRecord]) {
        guard let detail = try? await client.job(id.rawValue) else { return (id, nil, [], []) }
        let events = try await client.history(id.rawValue)
        var logs: [LogRecord] = []
        var after: Int64 = 0
        while true {
            let page = try await client.logs(id.rawValue, after: after)
            guard let last = page.entries.last else { break }
            logs += page.entries
            after = last.sequence
        }
        return (id, detail, events, logs)
    }

    func writeReport() {
        let text = figures.map { "\($0.0): \($0.1)" }.joined(separator: "\n") + "\n"
        print("chaos report:\n" + text)
        let path = ProcessInfo.processInfo.environment["INSITU_CHAOS_REPORT"] ?? "/tmp/insitu-chaos-report.txt"
        try? Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    // MARK: Helpers

    static func now() -> Timestamp { Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1_000)) }

    func seconds(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
        return String(format: "%.2f s", Double(millis) / 1_000)
    }

    /// A module that sleeps `sleepMillis` (WASI poll_oneoff) and prints its first argument on a
    /// line: every job names its own line, so a line stored twice is a duplicate.
    static func printArgument(sleepMillis: Int) -> String {
        let sleep =
            sleepMillis == 0
            ? ""
            : """
                (i32.store8 (i32.const 8) (i32.const 0))
                (i32.store (i32.const 16) (i32.const 1))
                (i64.store (i32.const 24) (i64.const \(Int64(sleepMillis) * 1_000_000)))
                (i64.store (i32.const 32) (i64.const 0))
                (i32.store16 (i32.const 40) (i32.const 0))
                (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
            """
        return """
            (module
              (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "args_get" (func $args (param i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "_start")
                (local $size i32) (local $start i32)
                \(sleep)
                ;; argc at 256, buffer size at 260, argv pointers at 512, strings at 1024.
                (drop (call $sizes (i32.const 256) (i32.const 260)))
                (drop (call $args (i32.const 512) (i32.const 1024)))
                (local.set $size (i32.load (i32.const 260)))
                (local.set $start (i32.load (i32.const 516)))
                ;; The last argument's NUL becomes the newline.
                (i32.store8 (i32.add (i32.const 1023) (local.get $size)) (i32.const 10))
                (i32.store (i32.const 300) (local.get $start))
                (i32.store (i32.const 304) (i32.sub (i32.add (i32.const 1024) (local.get $size)) (local.get $start)))
                (drop (call $fd_write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 308)))))
            """
    }
}
