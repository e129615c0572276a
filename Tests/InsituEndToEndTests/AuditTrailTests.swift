import Foundation
import InsituAPI
import InsituAudit
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// The audit trail with real processes: what a job leaves in the orchestrator's and the node's
/// logs, refusals, `insitu audit verify` as a command, a node whose log was rewritten, and
/// secrets that must appear nowhere.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct AuditTrailTests {
    func orchestratorLog(_ e2e: E2E) -> String { e2e.root + "/orchestrator/audit.log" }
    func agentLog(_ e2e: E2E, _ name: String) -> String { e2e.root + "/agents/\(name)/state/audit.log" }

    /// The verified entries of a log; records an issue if it does not verify.
    func entries(_ path: String) throws -> [AuditEntry] {
        let read = AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(read.problem == nil, "\(path): \(String(describing: read.problem))")
        return read.entries
    }

    func withNode(
        _ name: String = "site", datasets: [String: String] = [:], test: String = #function, _ body: (E2E) async throws -> Void
    ) async throws {
        let e2e = try E2E.make(test)
        defer { e2e.tearDown() }
        // Heartbeats every half second, so the node's audit head reaches the orchestrator quickly.
        try await e2e.cluster.startOrchestrator(extraArguments: ["--heartbeat-interval", "0.5", "--log-level", "trace"])
        try e2e.cluster.startAgent(name: name, datasets: datasets)
        try await e2e.cluster.waitForNodes(1)
        try await body(e2e)
    }

    @Test func aJobRunLeavesItsTrailOnTheOrchestratorAndOnTheNode() async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-audit-data-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        _ = try SyntheticPatients(site: "a", rows: 50, seed: 3).write(to: data)
        try await withNode(datasets: ["patients": data]) { e2e in
            let spec = try e2e.specFile(
                "count",
                """
                version: v1
                name: audited-count
                inputs: [{dataset: patients, target: /data}]
                engine: {type: wasm, module: \(E2E.demoModule)}
                outputs: [{name: counts, path: /outputs}]
                """)
            let id = try e2e.submit(spec)
            let detail = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(detail.job.state == .completed, "\(detail.job.stateReason ?? "")")
            let node = try await e2e.nodeID(named: "site")
            let module = try #require(detail.job.spec.engine.wasm?.module.digest.rawValue)
            let stored = try #require(detail.results.first?.files)

            // The orchestrator: who submitted what code for which data, the node, what came back.
            let orchestrator = try entries(orchestratorLog(e2e))
            #expect(orchestrator.first?.event.action == "orchestrator.start")
            let submit = try #require(orchestrator.first { $0.event.action == "job.submit" })
            #expect(submit.event.actor == .anonymous)
            #expect(submit.event.details["job"]?.string == id)
            #expect(submit.event.details["module_sha256"]?.string == module)
            #expect(submit.event.details["datasets"] == .list(["patients"]))
            #expect(orchestrator.contains { $0.event.action == "module.upload" && $0.event.details["sha256"]?.string == module })
            #expect(orchestrator.contains { $0.event.action == "node.connect" && $0.event.actor == .node(node) && $0.event.outcome == .ok })
            let accepted = try #require(orchestrator.first { $0.event.action == "result.accept" })
            #expect(accepted.event.actor == .node(node))
            #expect(accepted.event.details["execution"]?.string == detail.executions.first?.id.rawValue)
            let acceptedFiles = try #require(accepted.event.details["files"]?.list)
            #expect(acceptedFiles.count == stored.count)
            for file in stored {
                #expect(
                    acceptedFiles.contains {
                        $0["path"]?.string == file.path && $0["sha256"]?.string == file.digest.rawValue && $0["size"]?.int == file.size
                    }, "\(file.path)")
            }

            // The node: the module's hash met the dataset, and each file that left it.
            let nodeEntries = try entries(agentLog(e2e, "site"))
            #expect(nodeEntries.first?.event.action == "agent.start")
            let admit = try #require(nodeEntries.first { $0.event.action == "execution.admit" })
            #expect(admit.event.details["job"]?.string == id)
            #expect(admit.event.details["module_sha256"]?.string == module)
            #expect(admit.event.details["datasets"] == .list(["patients"]))
            let sent = try #require(nodeEntries.first { $0.event.action == "result.send" }?.event.details["files"]?.list)
            for file in stored {
                #expect(
                    sent.contains {
                        $0["path"]?.string == file.path && $0["sha256"]?.string == file.digest.rawValue && $0["size"]?.int == file.size
                    }, "\(file.path)")
            }

            // The node's head reaches the orchestrator and matches the node's own log.
            let head = try #require(nodeEntries.last?.head)
            try await waitUntil(timeout: .seconds(15), "the node's audit head at the orchestrator") {
                try await e2e.cluster.client.node(node.rawValue).auditHead.map { $0.seq >= head.seq } ?? false
            }
            let summary = try await e2e.cluster.client.node(node.rawValue)
            #expect(summary.auditAlert == nil)
            if summary.auditHead?.seq == head.seq { #expect(summary.auditHead == head) }

            // Reading a result is recorded too.
            let download = try e2e.cli(["job", "results", id, "--dest", e2e.root + "/results"])
            #expect(download.status == 0, "\(download.stderr)")
            let reads = try entries(orchestratorLog(e2e)).filter { $0.event.action == "blob.read" }
            let read = Set(reads.compactMap { $0.event.details["sha256"]?.string })
            #expect(read.isSuperset(of: stored.map(\.digest.rawValue)), "\(read)")
        }
    }

    /// Refused requests (an invalid spec, a malformed body, an unknown job) each leave an entry.
    @Test func aRefusedRequestLeavesAnAuditEntry() async throws {
        try await withNode { e2e in
            // Posted as it is: `job run` checks a spec before sending it.
            await #expect(throws: (any Error).self) {
                _ = try await e2e.cluster.client.submit(SubmitJobRequest(spec: "version: v1\nname: broken\nengine: {type: teleport}\n"))
            }
            let port = try #require(Int(e2e.cluster.apiURL.split(separator: ":").last ?? ""))
            let connection = try RawConnection(port: port)
            try connection.send("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\nnot json")
            #expect(statusCode(of: connection.read(timeout: .seconds(10)).bytes) == 400)
            await #expect(throws: (any Error).self) { _ = try await e2e.cluster.client.job("j-does-not-exist") }

            let refusals = try entries(orchestratorLog(e2e)).filter { $0.event.action == "request.refused" }
            #expect(refusals.allSatisfy { $0.event.outcome == .refused && $0.event.actor == .anonymous })
            let spec = try #require(refusals.first { $0.event.details["code"]?.string == "invalid_spec" })
            #expect(spec.event.details["status"]?.int == 422)
            #expect(spec.event.details["path"]?.string == "/v1/jobs")
            #expect(spec.event.details["problems"]?.list?.contains("engine.type") == true, "\(spec.event.details)")
            #expect(refusals.contains { $0.event.details["status"]?.int == 400 && $0.event.details["method"]?.string == "POST" })
            #expect(refusals.contains { $0.event.details["status"]?.int == 404 && $0.event.details["path"]?.string == "/v1/jobs/j-does-not-exist" })
        }
    }

    /// `GET /v1/audit` pages through the log's own lines, which a reader can check.
    @Test func theAuditLogIsReadablePageByPageOverTheAPI() async throws {
        try await withNode { e2e in
            for _ in 0..<3 {
                _ = try? await e2e.cluster.client.submit(SubmitJobRequest(spec: "version: v1\nname: broken\nengine: {type: teleport}\n"))
            }
            let lines = try String(contentsOfFile: orchestratorLog(e2e), encoding: .utf8).split(separator: "\n").map(String.init)
            let port = try #require(Int(e2e.cluster.apiURL.split(separator: ":").last ?? ""))
            let connection = try RawConnection(port: port)
            try connection.send("GET /v1/audit?after=1&limit=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let response = String(decoding: connection.read(timeout: .seconds(10)).bytes, as: UTF8.self)
            #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
            let body = response.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            #expect(body == lines[1] + "\n" + lines[2] + "\n", "\(body)")
            #expect(try entries(orchestratorLog(e2e)).contains { $0.event.action == "audit.read" })
            let refused = try RawConnection(port: port)
            try refused.send("GET /v1/audit?limit=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(statusCode(of: refused.read(timeout: .seconds(10)).bytes) == 400)
        }
    }

    /// `insitu audit verify` as a command: ok on the untouched log, and a non-zero exit naming the
    /// line once one byte is changed or one entry removed.
    @Test func auditVerifyPassesOnTheUntouchedLogAndNamesTheLineOfAChangedByteOrARemovedEntry() async throws {
        try await withNode { e2e in
            for _ in 0..<3 {
                _ = try? await e2e.cluster.client.submit(SubmitJobRequest(spec: "version: v1\nname: broken\nengine: {type: teleport}\n"))
            }
            let path = orchestratorLog(e2e)
            let count = try entries(path).count
            #expect(count >= 5)

            let untouched = try e2e.cli(["audit", "verify", path])
            #expect(untouched.status == 0, "\(untouched.stderr)")
            #expect(untouched.stdout.contains("ok, \(count) entries"), "\(untouched.stdout)")
            let byDirectory = try e2e.cli(["audit", "verify", "--data-dir", e2e.root + "/orchestrator"])
            #expect(byDirectory.status == 0, "\(byDirectory.stderr)")

            var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            // One byte changed in line 3: a digit of its time.
            let edited = e2e.root + "/edited.log"
            var changed = lines
            changed[2] = changed[2].replacingOccurrences(of: "\"time\":1", with: "\"time\":2")
            #expect(changed[2] != lines[2])
            try changed.joined(separator: "\n").write(toFile: edited, atomically: true, encoding: .utf8)
            let editedRun = try e2e.cli(["audit", "verify", edited])
            #expect(editedRun.status == 1)
            #expect(editedRun.stderr.contains("line 3:") && editedRun.stderr.contains("edited"), "\(editedRun.stderr)")

            // Entry 2 removed.
            let removed = e2e.root + "/removed.log"
            lines.remove(at: 1)
            try lines.joined(separator: "\n").write(toFile: removed, atomically: true, encoding: .utf8)
            let removedRun = try e2e.cli(["audit", "verify", removed])
            #expect(removedRun.status == 1)
            #expect(removedRun.stderr.contains("line 2:") && removedRun.stderr.contains("removed"), "\(removedRun.stderr)")

            let missing = try e2e.cli(["audit", "verify", e2e.root + "/nothing.log"])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("there is no audit log at"), "\(missing.stderr)")
        }
    }

    /// Stop the agent, cut its audit log, start it again: its head went back, and the
    /// orchestrator says so on the node and in its own log.
    @Test func theOrchestratorFlagsANodeWhoseAuditLogWasRewritten() async throws {
        try await withNode { e2e in
            let spec = try e2e.specFile(
                "hello", "version: v1\nname: hello\nengine: {type: wasm, module: hello.wasm}\n", wat: Modules.hello)
            let id = try e2e.submit(spec)
            let done = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(done.job.state == .completed)
            let node = try await e2e.nodeID(named: "site")
            let path = agentLog(e2e, "site")
            let head = try #require(try entries(path).last?.head)
            try await waitUntil(timeout: .seconds(15), "the node's audit head at the orchestrator") {
                try await e2e.cluster.client.node(node.rawValue).auditHead == head
            }
            #expect(try await e2e.cluster.client.node(node.rawValue).auditAlert == nil)

            e2e.cluster.agents["site"]?.stop(signal: SIGTERM)
            // Keep only the first entry: a valid, shorter log that `audit verify` alone cannot fault.
            let first = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first.map { $0 + "\n" } ?? ""
            try first.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(try e2e.cli(["audit", "verify", path]).status == 0)
            try e2e.cluster.startAgent(name: "site")

            try await waitUntil(timeout: .seconds(30), "the orchestrator to flag the node's audit log") {
                try await e2e.cluster.client.node(node.rawValue).auditAlert != nil
            }
            let alert = try await e2e.cluster.client.node(node.rawValue).auditAlert ?? ""
            #expect(alert.contains("went back from entry \(head.seq)"), "\(alert)")
            let described = try e2e.cli(["node", "describe", node.rawValue])
            #expect(described.stdout.contains("ALERT: the node's audit log went back"), "\(described.stdout)")
            let flagged = try #require(try entries(orchestratorLog(e2e)).first { $0.event.action == "node.audit_rewritten" })
            #expect(flagged.event.outcome == .alert)
            #expect(flagged.event.details["node"]?.string == node.rawValue)
        }
    }

    /// A job's env value may be a secret: it reaches the job, and no audit log or process log.
    @Test func aSecretEnvValueAppearsInNoAuditLogAndNoProcessLog() async throws {
        try await withNode { e2e in
            let secret = "s3cr3t-\(UUID().uuidString)"
            let spec = try e2e.specFile(
                "secret",
                """
                version: v1
                name: uses-a-secret
                engine: {type: wasm, module: secret.wasm}
                args: ["--api-key", "\(secret)"]
                env: {DB_PASSWORD: "\(secret)"}
                """, wat: Modules.hello)
            let id = try e2e.submit(spec)
            let done = try await e2e.waitForState(id) { $0.isTerminal }
            #expect(done.job.state == .completed)
            try await waitUntil(timeout: .seconds(15), "the node's result entry") {
                try entries(agentLog(e2e, "site")).contains { $0.event.action == "result.send" }
            }
            let files = [
                orchestratorLog(e2e), agentLog(e2e, "site"), e2e.root + "/logs/orchestrator.log", e2e.root + "/logs/agent-site.log",
            ]
            for file in files {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                #expect(!text.isEmpty, "\(file) is empty")
                #expect(!text.contains(secret), "the secret is in \(file)")
            }
            // The variable's name is recorded where the job was submitted and where it ran.
            #expect(try entries(orchestratorLog(e2e)).contains { $0.event.details["env_names"] == .list(["DB_PASSWORD"]) })
            #expect(try entries(agentLog(e2e, "site")).contains { $0.event.details["env_names"] == .list(["DB_PASSWORD"]) })
        }
    }
}
