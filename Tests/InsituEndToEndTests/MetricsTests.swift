import Foundation
import InsituLocalCluster
import InsituModel
import Testing

/// Prometheus `/metrics` on the orchestrator (`--metrics-listen`) and the agent
/// (`metrics_listen:`), scraped over real sockets before, during and after a job.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MetricsTests {
    @Test func metricsCountersMoveWithAJob() async throws {
        // With tokens: the API needs one, the metrics listener does not (it listens only where
        // the operator asks).
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator(extraArguments: ["--metrics-listen", "127.0.0.1:0", "--heartbeat-interval", "0.5"])
        let orchestrator = try #require(
            e2e.cluster.orchestratorStartLines.first { $0.hasPrefix(MetricsScrape.announcement) }?.split(separator: " ").last.map(String.init),
            "the orchestrator printed its metrics address before its API address: \(e2e.cluster.orchestratorStartLines)")
        let agentProcess = try e2e.cluster.startAgent(name: "node-a", extraConfig: "metrics_listen: 127.0.0.1:0\n")
        var agentURL: String?
        try await waitUntil(timeout: .seconds(30), "the agent to print its metrics address") {
            agentURL = agentProcess.log().split(separator: "\n").first { $0.hasPrefix(MetricsScrape.announcement) }?
                .split(separator: " ").last.map(String.init)
            return agentURL != nil
        }
        let agent = try #require(agentURL)
        try await e2e.cluster.waitForNodes(1)

        let before = try MetricsScrape(url: orchestrator)
        #expect(before[#"insitu_nodes{liveness="connected"}"#] == 1)
        #expect(before["insitu_ready"] == 1)
        #expect(before[#"insitu_jobs{state="running"}"#] == 0)
        #expect((before[#"insitu_node_messages_total{direction="in",type="hello"}"#] ?? 0) >= 1)
        #expect((before[#"insitu_node_messages_total{direction="out",type="welcome"}"#] ?? 0) >= 1)
        let agentBefore = try MetricsScrape(url: agent)
        #expect(agentBefore["insitu_agent_link_up"] == 1)
        #expect((agentBefore["insitu_agent_link_sessions_total"] ?? 0) >= 1)
        #expect(agentBefore["insitu_agent_executions_running"] == 0)

        // During: a job that sleeps 1.5 s is seen running on both sides.
        let spec = try e2e.specFile(
            "sleeper", "version: v1\nname: metered\nengine: {type: wasm, module: ./sleeper.wasm}\n", wat: Modules.sleeper)
        let id = try e2e.submit(spec)
        try await waitUntil(timeout: .seconds(30), "the job to show as running in both scrapes") {
            let during = try MetricsScrape(url: orchestrator)
            let agentDuring = try MetricsScrape(url: agent)
            return during[#"insitu_jobs{state="running"}"#] == 1 && agentDuring["insitu_agent_executions_running"] == 1
        }
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed)

        let after = try MetricsScrape(url: orchestrator)
        #expect(after.delta("insitu_jobs_submitted_total", since: before) == 1)
        #expect(after.delta("insitu_placements_total", since: before) == 1)
        #expect(after.delta(#"insitu_jobs_finished_total{state="completed"}"#, since: before) == 1)
        #expect(after.delta(#"insitu_executions_finished_total{engine="wasm",outcome="succeeded"}"#, since: before) == 1)
        #expect(after.delta("insitu_store_commit_seconds_count", since: before) >= 3, "submit, running, result")
        #expect(after.delta(#"insitu_node_messages_total{direction="in",type="execution_result"}"#, since: before) == 1)
        #expect(after.delta(#"insitu_node_messages_total{direction="out",type="run_execution"}"#, since: before) == 1)
        #expect(after[#"insitu_jobs{state="running"}"#] == 0)
        let agentAfter = try MetricsScrape(url: agent)
        #expect(agentAfter.delta(#"insitu_agent_executions_finished_total{engine="wasm",outcome="succeeded"}"#, since: agentBefore) == 1)
        #expect(agentAfter["insitu_agent_executions_running"] == 0)
        #expect(agentAfter.delta(#"insitu_agent_messages_total{direction="in",type="run_execution"}"#, since: agentBefore) == 1)
        #expect(agentAfter.delta(#"insitu_agent_messages_total{direction="out",type="execution_result"}"#, since: agentBefore) == 1)
    }

    /// `serve` runs an orchestrator and a node in one process: both sets of metrics share its
    /// one registry and listener.
    @Test func aServedProcessShowsOrchestratorAndNodeMetricsOnOneListener() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: e2e.cluster.executable)
        process.arguments = [
            "serve", "--dev", "--port", "\(try ServeTests().freePort())", "--data-dir", e2e.root + "/state", "--metrics-listen",
            "127.0.0.1:0",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        // The address lines are written unbuffered, the metrics one first.
        var printed = ""
        while !printed.contains("listening on") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        let url = try #require(
            printed.split(separator: "\n").first { $0.hasPrefix(MetricsScrape.announcement) }?.split(separator: " ").last.map(String.init),
            "serve printed: \(printed)")
        try await waitUntil(timeout: .seconds(30), "the served node's link and the orchestrator's view of it") {
            let scrape = try MetricsScrape(url: url)
            return scrape["insitu_agent_link_up"] == 1 && scrape[#"insitu_nodes{liveness="connected"}"#] == 1
        }
    }

    @Test func anInvalidMetricsAddressIsRefusedAtParseTime() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let run = try e2e.cli(["orchestrator", "--dev", "--metrics-listen", "localhost:99999", "--data-dir", e2e.root + "/state"])
        #expect(run.status == 64, "\(run.stderr)")
        #expect(run.stderr.contains("--metrics-listen"), "\(run.stderr)")
    }
}

/// One scrape of a Prometheus text exposition: each sample (name with its labels) and its value.
struct MetricsScrape {
    static let announcement = "insitu metrics served at"
    var samples: [String: Double] = [:]

    /// Scrapes `url` (`http://127.0.0.1:PORT/metrics`) over a plain socket.
    init(url: String) throws {
        guard let port = url.split(separator: ":").last?.split(separator: "/").first.flatMap({ Int($0) }) else {
            throw RawHTTPError("not a loopback metrics URL: \(url)")
        }
        let connection = try RawConnection(port: port)
        try connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let response = connection.read(timeout: .seconds(10)).bytes
        let text = String(decoding: response, as: UTF8.self)
        guard statusCode(of: response) == 200, let body = text.range(of: "\r\n\r\n") else {
            throw RawHTTPError("scraping \(url) answered: \(text.prefix(200))")
        }
        for line in text[body.upperBound...].split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
    }

    subscript(_ name: String) -> Double? { samples[name] }

    /// How much a counter grew since `earlier` (a counter not yet created counts as 0).
    func delta(_ name: String, since earlier: MetricsScrape) -> Double {
        (samples[name] ?? 0) - (earlier.samples[name] ?? 0)
    }
}
