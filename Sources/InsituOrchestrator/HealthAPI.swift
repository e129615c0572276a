import Hummingbird
import InsituModel
import InsituStore

/// Whether the orchestrator can serve its API.
public enum Readiness: Sendable, Equatable {
    /// The state is being loaded from the store (`Orchestrator.recover()`).
    case recovering
    case ready
    /// Serving would answer from a state that may not match the store.
    case failed(String)
}

/// `/v1/health/live` and `/v1/health/ready`, open without a token like `/v1/health`: a process
/// supervisor restarts an orchestrator that is not live, a load balancer sends requests only to
/// one that is ready.
struct HealthAPI: Sendable {
    let orchestrator: Orchestrator
    let store: any OrchestratorStore

    static let paths: Set = ["/v1/health", "/v1/health/live", "/v1/health/ready"]

    func register(on router: Router<APIRequestContext>) {
        // Answering at all is the proof: the process runs and its event loops serve requests.
        router.get("/v1/health/live") { _, _ in try json(["status": "live"]) }
        router.get("/v1/health/ready") { _, _ in
            if let problem = await readinessProblem() {
                throw APIError(.serviceUnavailable, code: "not_ready", message: problem)
            }
            return try json(["status": "ready"])
        }
    }

    /// Why the orchestrator is not ready, or nil when it is: its state is recovered and the store
    /// answers a read.
    func readinessProblem() async -> String? {
        switch await orchestrator.readiness {
        case .recovering:
            return "the orchestrator is still loading its state from the store; retry in a moment"
        case .failed(let reason):
            return "\(reason); restart the orchestrator once the store is writable again"
        case .ready:
            break
        }
        do {
            _ = try await store.job(JobID("health-probe"))
        } catch {
            return "the store does not answer: \(error)"
        }
        return nil
    }
}

extension Orchestrator {
    /// Records the gauges (jobs by state, queue depth, nodes by liveness, readiness) from the
    /// state as it is now; called just before each scrape.
    public func recordGauges() {
        let nodes = core.nodeStatuses().reduce(into: [NodeLiveness: Int]()) { counts, status in counts[status.liveness, default: 0] += 1 }
        metrics.record(
            jobStates: core.activeJobStates(), queueDepth: core.queueDepth, waitingExecutions: core.waitingExecutionCount, nodes: nodes,
            ready: readiness == .ready, waiters: waiters.values.reduce(0) { $0 + $1.count })
    }
}
