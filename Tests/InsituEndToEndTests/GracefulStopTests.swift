import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// `SIGTERM` stops each daemon within 5 s (issue 9: the orchestrator took 28 s with a client
/// waiting on a job). Named `…ReturnsPromptly` so `scripts/test.sh` runs them in its quiet pass:
/// they assert wall-clock bounds.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct GracefulStopTests {
    @Test func anOrchestratorWithAWaitingClientStopsOnSIGTERMAndReturnsPromptly() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator(extraArguments: ["--metrics-listen", "127.0.0.1:0"])
        let metrics = try #require(
            e2e.cluster.orchestratorStartLines.first { $0.hasPrefix(MetricsScrape.announcement) }?.split(separator: " ").last.map(String.init))
        let spec = try e2e.specFile(
            "queued", "version: v1\nname: waits\nconstraints: [\"gpu = true\"]\nengine: {type: wasm, module: ./queued.wasm}\n",
            wat: Modules.hello)
        let id = try e2e.submit(spec)
        _ = try await e2e.waitForState(id) { $0 == .queued }
        let client = e2e.cluster.client
        let waiter = Task { try await client.wait(id, timeoutSeconds: 60) }
        try await waitUntil(timeout: .seconds(10), "the client's wait to be parked in the orchestrator") {
            try MetricsScrape(url: metrics)["insitu_job_waiters"] == 1
        }
        let started = ContinuousClock.now
        e2e.cluster.killOrchestrator(signal: SIGTERM)
        let took = ContinuousClock.now - started
        #expect(took < .seconds(5), "the orchestrator took \(took) to stop")
        let answer = try? await waiter.value
        #expect(answer.map { !$0.state.isTerminal } ?? true, "the waiter got the job as it was, or the connection closed")
    }

    @Test func anAgentRunningAJobStopsOnSIGTERMAndReturnsPromptly() async throws {
        let e2e = try await E2E.withOneNode("node")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile("spin", "version: v1\nname: spins\nengine: {type: wasm, module: ./spin.wasm}\n", wat: Modules.spin)
        let id = try e2e.submit(spec)
        try await waitUntil(timeout: .seconds(30), "the spinning execution to run") {
            try await e2e.cluster.client.job(id).executions.first?.state == .running
        }
        let agent = try #require(e2e.cluster.agents["node"])
        let started = ContinuousClock.now
        agent.stop(signal: SIGTERM)
        let took = ContinuousClock.now - started
        #expect(took < .seconds(5), "the agent took \(took) to stop")
    }
}
