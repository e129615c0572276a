import Foundation
@testable import InsituOrchestrator
import InsituModel
import InsituTestKit
import Prometheus
import Testing

/// The orchestrator's metrics, written to a registry of the test's own (no process-wide
/// bootstrap, so suites running in parallel never see each other's counts).
struct OrchestratorMetricsTests {
    @Test func committedWorkMovesTheJobPlacementAndExecutionCounters() async throws {
        let registry = PrometheusCollectorRegistry()
        let harness = try await Harness(metrics: OrchestratorMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture(count: 2))
        try await harness.succeed(node.assignments[0].executionID, on: "node-a")
        try await harness.succeed(node.assignments[1].executionID, on: "node-a")
        #expect(try await harness.store.job(job.id)?.state == .completed)

        let samples = Scrape(registry.emitToString())
        #expect(samples["insitu_jobs_submitted_total"] == 1)
        #expect(samples["insitu_placements_total"] == 2)
        #expect(samples[#"insitu_executions_finished_total{engine="wasm",outcome="succeeded"}"#] == 2)
        #expect(samples[#"insitu_jobs_finished_total{state="completed"}"#] == 1)
        #expect((samples["insitu_store_commit_seconds_count"] ?? 0) >= 4, "a commit per submit, hello and result at least")
    }

    @Test func gaugesShowTheStateAtScrapeTime() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = OrchestratorMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let harness = try await Harness(metrics: metrics)
        _ = try await harness.connect("small", cpu: 1000)
        _ = try await harness.orchestrator.submit(.fixture(count: 1, cpu: 500))
        _ = try await harness.orchestrator.submit(.fixture(datasets: ["absent"]))
        await metrics.recordGauges()
        let samples = Scrape(registry.emitToString())
        #expect(samples[#"insitu_jobs{state="running"}"#] == 1)
        #expect(samples[#"insitu_jobs{state="queued"}"#] == 1)
        #expect(samples["insitu_queue_depth"] == 1)
        #expect(samples["insitu_executions_waiting"] == 1, "dispatched, not yet reported running")
        #expect(samples[#"insitu_nodes{liveness="connected"}"#] == 1)
        #expect(samples[#"insitu_nodes{liveness="lost"}"#] == 0)
        #expect(samples["insitu_ready"] == 1)
    }

    @Test func aFailedCommitIsCounted() async throws {
        let registry = PrometheusCollectorRegistry()
        let harness = try await Harness(metrics: OrchestratorMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        harness.faults.failNextCommits(1)
        await #expect(throws: (any Error).self) { _ = try await harness.orchestrator.submit(.fixture()) }
        #expect(Scrape(registry.emitToString())["insitu_store_commit_failures_total"] == 1)
    }

    @Test func notReadyUntilTheStateIsRecovered() async throws {
        let harness = try await Harness(recover: false)
        let health = HealthAPI(orchestrator: harness.orchestrator, store: harness.store)
        let problem = try #require(await health.readinessProblem())
        #expect(problem.contains("loading its state"), "\(problem)")
        try await harness.orchestrator.recover()
        #expect(await health.readinessProblem() == nil)
    }
}

/// A Prometheus text exposition as sample name (with its labels) to value.
struct Scrape {
    var samples: [String: Double] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
    }

    subscript(_ name: String) -> Double? { samples[name] }
}
