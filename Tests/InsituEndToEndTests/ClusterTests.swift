import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// Real processes on loopback: an orchestrator and agents, each with its own data directory,
/// driven through the `insitu` CLI.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ClusterTests {
    @Test func batchJobLandsOnlyOnTheNodeHoldingTheDataset() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let expected = try SyntheticPatients(site: "b", rows: 300, seed: 7).write(to: e2e.root + "/data-b")
        try e2e.cluster.startAgent(name: "site-a")
        try e2e.cluster.startAgent(name: "site-b", datasets: ["patients": e2e.root + "/data-b"])
        try e2e.cluster.startAgent(name: "site-c")
        try await e2e.cluster.waitForNodes(3)

        let spec = try e2e.specFile(
            "count",
            """
            version: v1
            name: count-batch
            count: 2
            inputs: [{dataset: patients, target: /data}]
            engine: {type: wasm, module: \(E2E.demoModule)}
            outputs: [{name: counts, path: /outputs}]
            """)
        let id = try e2e.submit(spec)
        let detail = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(detail.job.state == .completed, "\(detail.job.stateReason ?? "")")
        let holder = try await e2e.nodeID(named: "site-b")
        #expect(detail.executions.count == 2)
        #expect(detail.executions.allSatisfy { $0.nodeID == holder && $0.state == .succeeded })

        // Results come back through `job results`, and hold the counts computed on the node.
        let dest = e2e.root + "/results"
        let download = try e2e.cli(["job", "results", id, "--dest", dest])
        #expect(download.status == 0, "\(download.stderr)")
        let counts = try JSONDecoder().decode(
            CountsFile.self, from: Data(contentsOf: URL(fileURLWithPath: dest + "/partition-0/outputs/counts/counts.json")))
        #expect(counts.counts == expected)
        #expect(counts.rows == 300)
    }

    @Test func opsJobRunsOnceOnEveryMatchingNode() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "eu-1", labels: ["region": "eu"])
        try e2e.cluster.startAgent(name: "eu-2", labels: ["region": "eu"])
        try e2e.cluster.startAgent(name: "us-1", labels: ["region": "us"])
        try await e2e.cluster.waitForNodes(3)
        let spec = try e2e.specFile(
            "hello",
            """
            version: v1
            name: hello-eu
            type: ops
            constraints: ["region = eu"]
            engine: {type: wasm, module: ./hello.wasm}
            """, wat: Modules.hello)
        let id = try e2e.submit(spec)
        let detail = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(detail.job.state == .completed)
        let eu = Set([try await e2e.nodeID(named: "eu-1"), try await e2e.nodeID(named: "eu-2")])
        #expect(detail.executions.count == 2)
        #expect(Set(detail.executions.map(\.nodeID)) == eu)

        let logs = try e2e.cli(["job", "logs", id])
        #expect(logs.stdout.components(separatedBy: "hello from insitu").count - 1 == 2, "\(logs)")
        // --follow on a finished job prints everything and returns.
        let followed = try e2e.cli(["job", "logs", id, "--follow"])
        #expect(followed.stdout == logs.stdout)
    }

    @Test func modulesFetchedFromAURLAreVerifiedBySHA256() async throws {
        let e2e = try await E2E.withOneNode("node")
        defer { e2e.tearDown() }
        // Any HTTP server will do as the module's origin; the orchestrator's module store is one.
        _ = try e2e.specFile("upload", "", wat: Modules.hello)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/specs/upload.wasm"))
        let digest = try await e2e.cluster.client.uploadModule(bytes).digest.rawValue
        let url = "\(e2e.cluster.apiURL)/v1/modules/\(digest)"
        let good = try e2e.specFile(
            "good", "version: v1\nname: from-url\nengine: {type: wasm, module: \"\(url)\", sha256: \(digest)}\n")
        let done = try await e2e.waitForState(try e2e.submit(good)) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")

        let wrong = String(repeating: "0", count: 64)
        let bad = try e2e.specFile(
            "bad", "version: v1\nname: tampered\nengine: {type: wasm, module: \"\(url)\", sha256: \(wrong)}\n")
        let refused = try await e2e.waitForState(try e2e.submit(bad)) { $0.isTerminal }
        #expect(refused.job.state == .failed)
        #expect(refused.job.stateReason?.contains("refusing to run it") == true, "\(refused.job.stateReason ?? "")")
    }

    @Test func unsatisfiableJobIsQueuedWithReasonsAndRunsWhenANodeJoins() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "plain", labels: ["gpu": "false"])
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile(
            "hello",
            """
            version: v1
            name: needs-gpu
            constraints: ["gpu = true"]
            engine: {type: wasm, module: ./hello.wasm}
            """, wat: Modules.hello)
        let id = try e2e.submit(spec)
        let queued = try await e2e.waitForState(id) { $0 == .queued }
        #expect(queued.executions.isEmpty)
        let plain = try await e2e.nodeID(named: "plain")
        let reasons = queued.placementFailures[plain.rawValue]?.joined() ?? ""
        #expect(reasons.contains("gpu"), "placement failures: \(queued.placementFailures)")
        let described = try e2e.cli(["job", "describe", id])
        #expect(described.stdout.contains("Placement failures"))
        #expect(described.stdout.contains("gpu"))

        try e2e.cluster.startAgent(name: "gpu-node", labels: ["gpu": "true"])
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed)
        #expect(done.executions.map(\.nodeID) == [try await e2e.nodeID(named: "gpu-node")])
    }

    @Test func sandboxLimitsFailJobsWithClearReasons() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try FileManager.default.createDirectory(atPath: e2e.root + "/data", withIntermediateDirectories: true)
        try e2e.cluster.startAgent(name: "node", datasets: ["files": e2e.root + "/data"])
        try await e2e.cluster.waitForNodes(1)

        let memory = try e2e.specFile(
            "memory",
            """
            version: v1
            name: memory-hog
            engine: {type: wasm, module: ./memory.wasm, memory: 16Mi}
            """, wat: Modules.memoryHog)
        let timeout = try e2e.specFile(
            "spin",
            """
            version: v1
            name: spinner
            engine: {type: wasm, module: ./spin.wasm}
            timeout: 1s
            """, wat: Modules.spin)
        let escape = try e2e.specFile(
            "escape",
            """
            version: v1
            name: escape
            inputs: [{dataset: files, target: /data}]
            engine: {type: wasm, module: ./escape.wasm}
            """, wat: Modules.escape)

        let started = ContinuousClock.now
        let waited = try e2e.cli(["job", "run", timeout, "--wait"])
        #expect(waited.status != 0, "--wait must exit non-zero for a failed job")
        #expect(waited.stderr.contains("timeout") || waited.stderr.contains("timed out"), "\(waited.stderr)")
        #expect(ContinuousClock.now - started < .seconds(30))

        let memoryJob = try await e2e.waitForState(try e2e.submit(memory)) { $0.isTerminal }
        #expect(memoryJob.job.state == .failed)
        #expect(memoryJob.job.stateReason?.contains("memory") == true, "\(memoryJob.job.stateReason ?? "")")

        let escapeJob = try await e2e.waitForState(try e2e.submit(escape)) { $0.isTerminal }
        #expect(escapeJob.job.state == .failed, "a module must not open a path outside its mounts")
        let exit = escapeJob.executions.first?.exitCode
        #expect(exit != nil && exit != 0)

        let network = try e2e.specFile(
            "socket",
            """
            version: v1
            name: socket
            engine: {type: wasm, module: ./socket.wasm}
            retry: {attempts: 1}
            """, wat: Modules.socketOpener)
        let networkJob = try await e2e.waitForState(try e2e.submit(network)) { $0.isTerminal }
        #expect(networkJob.job.state == .failed, "a module that asks for a socket must not run")
        #expect(networkJob.executions.first?.stateReason?.contains("sock_open") == true, "\(networkJob.executions)")
    }

    @Test func aNodeThatLosesItsOrchestratorKeepsWorkingAndReportsWhenItIsBack() async throws {
        let e2e = try await E2E.withOneNode("edge")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile(
            "sleeper",
            """
            version: v1
            name: outlives-its-orchestrator
            engine: {type: wasm, module: ./sleeper.wasm}
            """, wat: Modules.sleeper)
        let id = try e2e.submit(spec)
        _ = try await e2e.waitForState(id) { $0 == .running }
        let started = ContinuousClock.now
        try await waitUntil(timeout: .seconds(10), "the node to report the execution running") {
            try await e2e.cluster.client.job(id).executions.first?.state == .running
        }
        // The orchestrator dies while the module sleeps; the node finishes it alone and keeps
        // the result until it can deliver it.
        e2e.cluster.killOrchestrator(signal: SIGKILL)
        try await Task.sleep(until: started + .seconds(3))
        try await e2e.cluster.startOrchestrator()
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
        #expect(done.results.count == 1)
        let logs = try e2e.cli(["job", "logs", id])
        #expect(logs.stdout == "woke up\n")
    }

    @Test func processJobsRunOnlyWhereTheNodeEnablesThem() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try SyntheticPatients(site: "p", rows: 5, seed: 1).write(to: e2e.root + "/patients")
        try e2e.cluster.startAgent(name: "wasm-only", datasets: ["patients": e2e.root + "/patients"])
        // Unsandboxed, where the dataset is a symlink in the work directory (relative path below).
        try e2e.cluster.startAgent(
            name: "native", datasets: ["patients": e2e.root + "/patients"], processEngine: true, processSettings: ["sandbox": "none"])
        try await e2e.cluster.waitForNodes(2)
        let spec = try e2e.specFile(
            "native",
            """
            version: v1
            name: head
            inputs: [{dataset: patients, target: /data}]
            engine: {type: process, command: /usr/bin/head}
            args: ["-n", "1", "data/patients.csv"]
            """)
        let id = try e2e.submit(spec)
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
        #expect(done.executions.map(\.nodeID) == [try await e2e.nodeID(named: "native")])
        let logs = try e2e.cli(["job", "logs", id])
        #expect(logs.stdout == SyntheticPatients.header + "\n")
    }

    @Test func nodesHeartbeatAtTheIntervalTheOrchestratorAsksFor() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator(extraArguments: ["--heartbeat-interval", "0.2"])
        try e2e.cluster.startAgent(name: "idle")
        try await e2e.cluster.waitForNodes(1)
        let before = try #require(try await e2e.cluster.client.nodes().first).lastSeen
        // No job runs: only heartbeats can move lastSeen forward.
        try await waitUntil(timeout: .seconds(3), "a heartbeat from the idle node") {
            let now = try await e2e.cluster.client.nodes().first?.lastSeen
            return now.map { $0 > before } ?? false
        }
    }

    @Test func aRestartedNodeKeepsItsIdentity() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let first = try e2e.cluster.startAgent(name: "site", labels: ["zone": "a"])
        try await e2e.cluster.waitForNodes(1)
        let id = try await e2e.nodeID(named: "site")
        first.stop(signal: SIGTERM)
        try await waitUntil(timeout: .seconds(10), "the orchestrator to see the node leave") {
            try await e2e.cluster.client.nodes().first?.liveness == .disconnected
        }
        try e2e.cluster.startAgent(name: "site", labels: ["zone": "a"])
        try await e2e.cluster.waitForNodes(1)
        let nodes = try await e2e.cluster.client.nodes()
        #expect(nodes.map(\.id) == [id], "the same node, not a second one")
        let shown = try e2e.cli(["node", "describe", "site"])
        #expect(shown.stdout.contains(id.rawValue) && shown.stdout.contains("connected"))
    }

    /// WasmKit's runner process is what gets killed here; wasmtime stops its guests in process
    /// (`WasmRuntimeClusterTests`).
    @Test func stoppingAJobKillsItsRunningModule() async throws {
        let e2e = try await E2E.withOneNode("node", wasmRuntime: "wasmkit")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile(
            "spin",
            """
            version: v1
            name: forever
            engine: {type: wasm, module: ./spin.wasm}
            """, wat: Modules.spin)
        let id = try e2e.submit(spec)
        let running = try await e2e.waitForState(id) { $0 == .running }
        let execution = try #require(running.executions.first).id.rawValue
        try await waitUntil(timeout: .seconds(30), "the module to start") { runnerProcesses(for: execution) > 0 }

        let stop = try e2e.cli(["job", "stop", id])
        #expect(stop.status == 0, "\(stop.stderr)")
        let stopped = try await e2e.cluster.client.job(id)
        #expect(stopped.job.state == .stopped)
        #expect(stopped.executions.allSatisfy { $0.state == .cancelled })
        try await waitUntil(timeout: .seconds(10), "the module's process to be killed") { runnerProcesses(for: execution) == 0 }
    }

    /// Live `insitu-wasm-runner` processes running `execution`.
    func runnerProcesses(for execution: String) -> Int {
        ProcessTable.live(commandContaining: ["insitu-wasm-runner", execution])
    }

    @Test func invalidSpecIsRejectedWithEveryProblemAndNotStored() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let spec = try e2e.specFile(
            "bad",
            """
            version: v1
            name: Bad_Name
            count: 0
            engine: {type: wasm, module: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
            timeout: soon
            """)
        let run = try e2e.cli(["job", "run", spec])
        #expect(run.status != 0)
        // The CLI reports what it can check locally (whether a digest is stored, only the
        // orchestrator knows).
        for path in ["name", "count", "timeout"] {
            #expect(run.stderr.contains("- \(path):"), "missing problem for \(path) in: \(run.stderr)")
        }
        // The orchestrator validates on its own too: the same spec posted directly is refused.
        let text = try String(contentsOfFile: spec, encoding: .utf8)
        do {
            _ = try await e2e.cluster.client.submit(SubmitJobRequest(spec: text))
            Issue.record("the orchestrator accepted an invalid spec")
        } catch let failure as InsituClient.Failure {
            #expect(failure.status == 422)
            #expect(failure.code == "invalid_spec")
            #expect(Set(failure.problems.map(\.path)).isSuperset(of: ["name", "count", "timeout", "engine.module"]))
            #expect(failure.problems.first { $0.path == "engine.module" }?.message.contains("is not known") == true)
        }
        #expect(try await e2e.cluster.client.jobs().isEmpty)
    }

    @Test func acceptedJobsSurviveKillNineOfTheOrchestrator() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let spec = try e2e.specFile(
            "hello",
            """
            version: v1
            name: durable
            count: 2
            engine: {type: wasm, module: ./hello.wasm}
            """, wat: Modules.hello)
        // No node yet: every job is accepted and queued.
        var ids: [String] = []
        for _ in 0..<5 { ids.append(try e2e.submit(spec)) }
        e2e.cluster.killOrchestrator(signal: SIGKILL)
        try await e2e.cluster.startOrchestrator()

        let listed = try await e2e.cluster.client.jobs()
        #expect(Set(listed.map(\.id.rawValue)) == Set(ids))
        try e2e.cluster.startAgent(name: "late")
        for id in ids {
            let detail = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(detail.job.state == .completed)
            #expect(detail.executions.count == 2)
        }

        // A job running while the orchestrator dies also finishes after the restart.
        let running = try e2e.submit(spec)
        e2e.cluster.killOrchestrator(signal: SIGKILL)
        try await e2e.cluster.startOrchestrator()
        let finished = try await e2e.waitForState(running) { $0.isTerminal }
        #expect(finished.job.state == .completed)
        let history = try await e2e.cluster.client.history(running)
        #expect(history.map(\.sequence) == Array(1...Int64(history.count)), "events are ordered without gaps")
    }

    struct CountsFile: Decodable {
        var rows: Int
        var counts: [String: Int]
    }
}
