import Foundation
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// How the daemons behave for the people who run them: health probes, JSON logs, the
/// orchestrator's config file and the demo's clean exit.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DaemonOperationsTests {
    @Test func healthProbesAnswerWithoutAToken() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let anonymous = e2e.cluster.client(token: nil)
        #expect(try await anonymous.live() == ["status": "live"])
        #expect(try await anonymous.ready() == ["status": "ready"])
        #expect(try await anonymous.health()["status"] == "ok", "the old probe keeps working")
        let refused = await apiFailure { try await anonymous.nodes() }
        #expect(refused?.status == 401, "other routes still need a token")
    }

    @Test func jsonLogsAreOneObjectPerLine() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator(extraArguments: ["--log-format", "json", "--log-level", "debug"])
        let agent = try e2e.cluster.startAgent(name: "node-a", agentArguments: ["--log-format", "json"])
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile("hello", "version: v1\nname: logged\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)
        let done = try await e2e.waitForState(try e2e.submit(spec)) { $0.isTerminal }
        #expect(done.job.state == .completed)
        try await waitUntil(timeout: .seconds(10), "the agent to log the execution's end") { agent.log().contains("execution finished") }
        agent.stop()
        e2e.cluster.killOrchestrator(signal: SIGTERM)

        for (name, path) in [("orchestrator", e2e.root + "/logs/orchestrator.log"), ("agent", agent.logPath)] {
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            #expect(lines.count >= 2, "\(name) logged: \(lines)")
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object != nil, "\(name): not a JSON object: \(line)")
                guard let object else { continue }
                let time = object["time"] as? String ?? ""
                #expect((try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(time)) != nil, "\(name): time \(time)")
                #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(object["level"] as? String ?? ""))
                #expect((object["label"] as? String)?.hasPrefix("insitu.") == true, "\(name): \(line)")
                #expect(object["message"] is String && object["metadata"] is [String: Any], "\(name): \(line)")
            }
        }
        let agentLog = agent.log()
        #expect(agentLog.contains(#""message":"registered with orchestrator""#))
        #expect(agentLog.contains(#""state":"succeeded""#), "metadata keeps its keys")
    }

    @Test func invalidLogSettingsAreRefusedAtParseTime() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let format = try e2e.cli(["orchestrator", "--dev", "--log-format", "xml", "--data-dir", e2e.root + "/state"])
        #expect(format.status == 64, "\(format.stderr)")
        #expect(format.stderr.contains("xml") && format.stderr.contains("text") && format.stderr.contains("json"), "\(format.stderr)")
        let level = try e2e.cli(["agent", "--config", "/nonexistent.yaml", "--log-level", "verbose"])
        #expect(level.status == 64, "\(level.stderr)")
        #expect(level.stderr.contains("verbose"), "\(level.stderr)")
        #expect(!FileManager.default.fileExists(atPath: e2e.root + "/state"), "nothing started")
    }

    @Test func theOrchestratorStartsFromAConfigFileAndFlagsOverrideIt() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let config = e2e.root + "/orchestrator.yaml"
        try Data(
            """
            log_format: json
            heartbeat_interval: 0.5
            metrics_listen: 127.0.0.1:0
            node_lost_after: 1h
            """.utf8
        ).write(to: URL(fileURLWithPath: config))
        // LocalCluster adds --port 0, --data-dir and --dev; the file gives the rest.
        try await e2e.cluster.startOrchestrator(extraArguments: ["--config", config, "--log-level", "debug"])
        #expect(e2e.cluster.orchestratorStartLines.contains { $0.hasPrefix(MetricsScrape.announcement) }, "metrics_listen was applied")
        try e2e.cluster.startAgent(name: "node-a")
        try await e2e.cluster.waitForNodes(1)
        e2e.cluster.killOrchestrator(signal: SIGTERM)
        let lines = try String(contentsOfFile: e2e.root + "/logs/orchestrator.log", encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "log_format: json")
        #expect(lines.contains { $0.contains(#""level":"debug""#) }, "--log-level debug on the command line")

        let bad = e2e.root + "/bad.yaml"
        try Data("tls:\n  cert: 5\nprot: 1\n".utf8).write(to: URL(fileURLWithPath: bad))
        let refused = try e2e.cli(["orchestrator", "--dev", "--config", bad, "--data-dir", e2e.root + "/other"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("\(bad): tls.cert: expected a string"), "\(refused.stderr)")
        #expect(refused.stderr.contains("\(bad): prot: unknown key"), "\(refused.stderr)")
    }

    @Test func theDemoStopsItsProcessesOnSIGTERM() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: e2e.cluster.executable)
        let directory = e2e.root + "/demo"
        process.arguments = ["demo", "--keep-running", "--dir", directory, "--module", E2E.demoModule]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // Each node logs the end of its execution of the demo job; then the demo keeps running.
        let sites = ["hospital-a", "hospital-b", "hospital-c"]
        try await waitUntil(timeout: .seconds(90), "the demo's job to finish on every site", interval: .milliseconds(250)) {
            sites.allSatisfy { site in
                ((try? String(contentsOfFile: "\(directory)/logs/agent-\(site).log", encoding: .utf8)) ?? "").contains("execution finished")
            }
        }
        let children = childProcesses(of: process.processIdentifier)
        #expect(children.count == 4, "an orchestrator and three nodes: \(children)")

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGTERM)
        let survivors = children.filter(isRunning)
        #expect(survivors.isEmpty, "processes the demo left running: \(survivors)")
        for pid in survivors { kill(pid, SIGKILL) }
    }

    /// The processes whose parent is `pid`, from /proc.
    func childProcesses(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            guard let status = try? String(contentsOfFile: "/proc/\(child)/status", encoding: .utf8) else { return false }
            return status.split(separator: "\n").contains { $0.hasPrefix("PPid:") && $0.split(separator: "\t").last.map(String.init) == "\(pid)" }
        }
    }

    /// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
    func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
