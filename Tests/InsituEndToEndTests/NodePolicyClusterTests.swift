import Crypto
import Foundation
import InsituAPI
import InsituAudit
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituTestKit
import Testing
import WAT

/// Issue 8, item 4: the data owner's policy on real nodes. The scheduler reads what each node
/// advertises and does not place what it would refuse, the user is told why, and the agent
/// enforces its policy itself when work arrives anyway.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct NodePolicyClusterTests {
    static func sha256(ofFile path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }

    static func countJob(name: String, namespace: String? = nil, queueTimeout: String? = nil) -> String {
        """
        version: v1
        name: \(name)
        \(namespace.map { "namespace: \($0)" } ?? "")
        \(queueTimeout.map { "queueTimeout: \($0)" } ?? "")
        inputs: [{dataset: patients, target: /data}]
        engine: {type: wasm, module: \(E2E.demoModule)}
        outputs: [{name: counts, path: /outputs}]
        """
    }

    /// (1) The node approves only another module for its dataset: the job is not placed, the
    /// user reads the node's policy in `job describe` and through the REST API, and once its
    /// queue timeout passes the job fails with that reason.
    @Test func aModuleTheDatasetDoesNotApproveIsRefusedAndTheUserIsToldWhy() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        _ = try SyntheticPatients(site: "a", rows: 50, seed: 1).write(to: e2e.root + "/data")
        let approved = String(repeating: "e", count: 64)
        try e2e.cluster.startAgent(
            name: "hospital", datasets: ["patients": e2e.root + "/data"],
            extraConfig: "policy:\n  datasets:\n    patients:\n      modules: [\"sha256:\(approved)\"]\n")
        try await e2e.cluster.waitForNodes(1)
        let demo = try Self.sha256(ofFile: E2E.demoModule)

        let id = try e2e.submit(try e2e.specFile("count", Self.countJob(name: "unapproved", queueTimeout: "3s")))
        let expected = "node policy: module sha256:\(demo) may not read dataset \"patients\""
        let queued = try await e2e.waitForState(id) { $0 == .queued || $0.isTerminal }
        let node = try await e2e.nodeID(named: "hospital").rawValue
        if queued.job.state == .queued {
            #expect(queued.placementFailures[node]?.joined().contains(expected) == true, "\(queued.placementFailures)")
            let described = try e2e.cli(["job", "describe", id])
            #expect(described.stdout.contains(expected), "\(described.stdout)")
        }
        let failed = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(failed.job.state == .failed)
        #expect(failed.job.stateReason?.contains(expected) == true, "\(failed.job.stateReason ?? "")")
        #expect(failed.executions.isEmpty, "nothing was sent to the node")
        let rest = try await e2e.cluster.client.job(id)
        #expect(rest.job.stateReason?.contains(expected) == true)
        let described = try e2e.cli(["job", "describe", id])
        #expect(described.stdout.contains(expected), "\(described.stdout)")
    }

    /// (2) and (5) Two nodes hold the dataset; one lets only `clinical` use it. A `research` job
    /// runs on the other. With only the refusing node, the job waits and the placement
    /// explanation names the policy.
    @Test func theSchedulerSkipsANodeWhosePolicyWouldRefuseAndSaysWhy() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        _ = try SyntheticPatients(site: "a", rows: 50, seed: 1).write(to: e2e.root + "/data-a")
        _ = try SyntheticPatients(site: "b", rows: 50, seed: 2).write(to: e2e.root + "/data-b")
        let clinicalOnly = "policy:\n  datasets:\n    patients:\n      namespaces: [clinical]\n"
        try e2e.cluster.startAgent(name: "strict", datasets: ["patients": e2e.root + "/data-a"], extraConfig: clinicalOnly)
        try e2e.cluster.startAgent(name: "open", datasets: ["patients": e2e.root + "/data-b"])
        try await e2e.cluster.waitForNodes(2)
        let strict = try await e2e.nodeID(named: "strict")
        let open = try await e2e.nodeID(named: "open")

        // The node advertises its policy and digest; the open one advertises none of its own.
        let nodes = try await e2e.cluster.client.nodes()
        let strictSummary = try #require(nodes.first { $0.id == strict })
        #expect(strictSummary.policy?.datasets["patients"]?.namespaces == ["clinical"])
        #expect(strictSummary.policyDigest?.hasPrefix("sha256:") == true)
        #expect(strictSummary.policyDigest != nodes.first { $0.id == open }?.policyDigest)

        let ran = try await e2e.waitForState(try e2e.submit(try e2e.specFile("research", Self.countJob(name: "research-count", namespace: "research")))) {
            $0.isTerminal
        }
        #expect(ran.job.state == .completed, "\(ran.job.stateReason ?? "")")
        #expect(ran.executions.map(\.nodeID) == [open])
        #expect(ran.job.spec.namespace == "research")

        // A clinical job may run on either.
        let clinical = try await e2e.waitForState(try e2e.submit(try e2e.specFile("clinical", Self.countJob(name: "clinical-count", namespace: "clinical")))) {
            $0.isTerminal
        }
        #expect(clinical.job.state == .completed, "\(clinical.job.stateReason ?? "")")

        e2e.cluster.agents["open"]?.stop()
        try await waitUntil(timeout: .seconds(30), "the open node to be seen gone") {
            try await e2e.cluster.client.nodes().first { $0.id == open }?.liveness != .connected
        }
        let id = try e2e.submit(try e2e.specFile("waits", Self.countJob(name: "research-waits", namespace: "research")))
        let queued = try await e2e.waitForState(id) { $0 == .queued }
        let expected = "node policy: namespace \"research\" may not use dataset \"patients\" (allowed: clinical)"
        #expect(queued.placementFailures[strict.rawValue]?.joined().contains(expected) == true, "\(queued.placementFailures)")
        let described = try e2e.cli(["job", "describe", id])
        #expect(described.stdout.contains("Namespace: research"))
        #expect(described.stdout.contains(expected), "\(described.stdout)")
    }

    /// (3) A result over the node's `max_bytes` fails the execution on the node; none of it is
    /// stored on the orchestrator, and live output stays within the limit.
    @Test func outputOverTheNodesLimitFailsAndNoneOfTheResultLeavesTheNode() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        _ = try SyntheticPatients(site: "a", rows: 50, seed: 1).write(to: e2e.root + "/data")
        try e2e.cluster.startAgent(
            name: "hospital", datasets: ["patients": e2e.root + "/data"], extraConfig: "policy:\n  output: {max_bytes: 64}\n")
        try await e2e.cluster.waitForNodes(1)
        let spec = Self.countJob(name: "too-much") + "\nretry: {attempts: 1}\n"
        let id = try e2e.submit(try e2e.specFile("count", spec))
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .failed)
        let reason = done.executions.first?.stateReason ?? ""
        #expect(reason.hasPrefix("node policy: "), "\(reason)")
        #expect(reason.contains("over this node's limit of 64 bytes per result (policy.output.max_bytes)"), "\(reason)")
        #expect(done.results.isEmpty)
        let download = try e2e.cli(["job", "results", id, "--dest", e2e.root + "/results"])
        let files = FileManager.default.enumerator(atPath: e2e.root + "/results")?.allObjects as? [String] ?? []
        #expect(!files.contains { $0.hasSuffix("counts.json") }, "\(files) \(download)")
        // At most 64 bytes of the job's stdout streamed live, then the node's note of what it dropped.
        let logs = try await e2e.cluster.client.logs(id, after: 0).entries.map(\.text).joined()
        let streamed = try #require(logs.components(separatedBy: "\n[insitu: ").first)
        #expect(streamed.utf8.count <= 64, "\(logs)")
        #expect(logs.contains("were dropped: a node ships at most 64 bytes of live output per stream"), "\(logs)")

        // The node's audit log records the failed result and why, and no file of it as sent.
        let audit = AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/agents/hospital/state/audit.log"))))
        #expect(audit.problem == nil)
        let sent = try #require(audit.entries.last { $0.event.action == "result.send" })
        #expect(sent.event.outcome == .failed)
        #expect(sent.event.details["reason"]?.string?.hasPrefix("node policy: ") == true, "\(sent.event.details)")
    }

    /// (4) A node that keeps stdout: the job succeeds, its output files come back, its stdout
    /// neither streams to the orchestrator nor comes back with the result.
    @Test func stdoutThePolicyKeepsOnTheNodeNeverReachesTheOrchestrator() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "quiet", extraConfig: "policy:\n  output: {stdout: false}\n")
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile("hello", "version: v1\nname: hello\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)
        let id = try e2e.submit(spec)
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
        let logs = try e2e.cli(["job", "logs", id])
        #expect(!logs.stdout.contains("hello from insitu"), "\(logs.stdout)")
        #expect(done.results.first?.files.contains { $0.path == "stdout" } == false, "\(done.results)")
    }

    /// (6) A node enforces its policy when the orchestrator sends work anyway: a fake
    /// orchestrator hands a real agent a job of a namespace the dataset refuses and a module it
    /// does not approve; both fail with the policy's reason, and an approved one runs.
    @Test func aRealAgentRefusesWhatItsPolicyForbidsWhateverTheOrchestratorSends() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-policy-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let orchestrator = try await FakeOrchestrator()
        defer { orchestrator.stop() }
        let approved = orchestrator.serveModule(Data(try wat2wasm(Modules.hello)))
        let other = orchestrator.serveModule(Data(try wat2wasm(Modules.spin)))
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        let agent = try RealAgent(
            root: root, name: "hospital", orchestrator: orchestrator.url,
            extraConfig: """
                datasets: [{name: patients, path: \(root)/data}]
                policy:
                  datasets:
                    patients: {namespaces: [clinical], modules: ["sha256:\(approved.rawValue)"]}

                """)
        defer { agent.kill() }
        try await waitUntil(timeout: .seconds(30), "the agent to say hello") { orchestrator.connectionCount > 0 }

        func work(_ job: String, namespace: String, module: ContentDigest) -> ExecutionAssignment {
            ExecutionAssignment(
                executionID: ExecutionID(job: JobID(rawValue: job), partition: 0, attempt: 1), jobID: JobID(rawValue: job), partition: 0,
                spec: JobSpec(
                    name: job, namespace: namespace, inputs: [InputSpec(source: .dataset(name: "patients"), target: "/data")],
                    engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: module))), timeoutMillis: 10_000))
        }
        orchestrator.send(.runExecution(work("j-namespace", namespace: "research", module: approved)))
        orchestrator.send(.runExecution(work("j-module", namespace: "clinical", module: other)))
        orchestrator.send(.runExecution(work("j-allowed", namespace: "clinical", module: approved)))
        try await waitUntil(timeout: .seconds(30), "three results") { orchestrator.results.count >= 3 }

        let results = Dictionary(orchestrator.results.map { ($0.executionID.rawValue, $0) }, uniquingKeysWith: { first, _ in first })
        let namespace = try #require(results["j-namespace-p0-a1"])
        #expect(namespace.state == .failed)
        #expect(
            namespace.reason?.hasPrefix("node policy: namespace \"research\" may not use dataset \"patients\" (allowed: clinical)") == true,
            "\(namespace.reason ?? "")")
        let module = try #require(results["j-module-p0-a1"])
        #expect(module.state == .failed)
        #expect(module.reason?.hasPrefix("node policy: module \(other) may not read dataset \"patients\"") == true, "\(module.reason ?? "")")
        #expect(results["j-allowed-p0-a1"]?.state == .succeeded, "\(results["j-allowed-p0-a1"]?.reason ?? "")")
        #expect(agent.log.contains("refused an assignment"))

        // Each refusal is in the node's own audit log, with its reason.
        let audit = AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: root + "/hospital/state/audit.log"))))
        #expect(audit.problem == nil)
        let refused = audit.entries.filter { $0.event.action == "execution.refuse" }
        #expect(Set(refused.compactMap { $0.event.details["execution"]?.string }) == ["j-namespace-p0-a1", "j-module-p0-a1"])
        #expect(refused.allSatisfy { $0.event.details["reason"]?.string?.hasPrefix("node policy: ") == true }, "\(refused)")
    }
}
