import InsituAPI
import InsituControlPlane
public import InsituModel
import InsituStore
public import Metrics
import Synchronization

/// The orchestrator's metrics (docs/OPERATIONS.md, "Metrics"), written through swift-metrics to
/// whichever factory it is given: the executable bootstraps Prometheus and passes that factory,
/// tests pass a registry of their own, so no test depends on a process-wide bootstrap.
public struct OrchestratorMetrics: Sendable {
    let factory: any MetricsFactory
    /// Brings the gauges up to date; the orchestrator registers itself here when it is created.
    let gaugeSource = GaugeSource()

    public init(factory: any MetricsFactory) {
        self.factory = factory
        // Unlabelled counters exist from the start, so a rate over the first scrapes is right.
        for name in [Name.jobsSubmitted, Name.placements, Name.commitFailures] {
            Counter(label: name, factory: factory).increment(by: 0)
        }
    }

    /// Records the gauges from the orchestrator's current state: call before rendering a scrape.
    public func recordGauges() async {
        guard let orchestrator = gaugeSource.orchestrator else { return }
        await orchestrator.recordGauges()
    }

    /// Records nothing: for tests and embeddings that do not scrape.
    public static var disabled: OrchestratorMetrics { OrchestratorMetrics(factory: NOOPMetricsHandler.instance) }

    enum Name {
        static let jobs = "insitu_jobs"
        static let jobsSubmitted = "insitu_jobs_submitted_total"
        static let jobsFinished = "insitu_jobs_finished_total"
        static let placements = "insitu_placements_total"
        static let queueDepth = "insitu_queue_depth"
        static let waitingExecutions = "insitu_executions_waiting"
        static let executionsFinished = "insitu_executions_finished_total"
        static let commitSeconds = "insitu_store_commit_seconds"
        static let commitFailures = "insitu_store_commit_failures_total"
        static let nodes = "insitu_nodes"
        static let nodeMessages = "insitu_node_messages_total"
        static let ready = "insitu_ready"
        static let waiters = "insitu_job_waiters"
    }

    /// A batch the store committed in `duration`. `engine` names the engine of a job's executions
    /// (the batch's own copy of the job, or the core's).
    func committed(_ batch: StoreBatch, duration: Duration, engine: (JobID) -> EngineKind?) {
        Timer(label: Name.commitSeconds, factory: factory).recordNanoseconds(duration.nanoseconds)
        if !batch.createdJobs.isEmpty {
            Counter(label: Name.jobsSubmitted, factory: factory).increment(by: batch.createdJobs.count)
        }
        for job in batch.jobs where job.state.isTerminal {
            Counter(label: Name.jobsFinished, dimensions: [("state", job.state.rawValue)], factory: factory).increment()
        }
        let placements = batch.events.count { $0.kind == .placement }
        if placements > 0 { Counter(label: Name.placements, factory: factory).increment(by: placements) }
        let engines = Dictionary(batch.jobs.map { ($0.id, $0.spec.engine.kind) }, uniquingKeysWith: { first, _ in first })
        for execution in batch.executions where execution.state.isTerminal {
            let kind = engines[execution.jobID] ?? engine(execution.jobID)
            Counter(
                label: Name.executionsFinished,
                dimensions: [("engine", kind?.rawValue ?? "unknown"), ("outcome", execution.state.rawValue)], factory: factory
            ).increment()
        }
    }

    func commitFailed() {
        Counter(label: Name.commitFailures, factory: factory).increment()
    }

    /// A frame on a node link: `direction` is `in` (from a node) or `out` (to one).
    func nodeMessage(_ direction: String, _ type: String) {
        Counter(label: Name.nodeMessages, dimensions: [("direction", direction), ("type", type)], factory: factory).increment()
    }

    /// The gauges, from the control plane as it is now (taken just before each scrape).
    func record(jobStates: [JobState: Int], queueDepth: Int, waitingExecutions: Int, nodes: [NodeLiveness: Int], ready: Bool, waiters: Int) {
        for state in JobState.allCases where !state.isTerminal {
            Gauge(label: Name.jobs, dimensions: [("state", state.rawValue)], factory: factory).record(jobStates[state] ?? 0)
        }
        Gauge(label: Name.queueDepth, factory: factory).record(queueDepth)
        Gauge(label: Name.waitingExecutions, factory: factory).record(waitingExecutions)
        for liveness in NodeLiveness.allCases {
            Gauge(label: Name.nodes, dimensions: [("liveness", liveness.rawValue)], factory: factory).record(nodes[liveness] ?? 0)
        }
        Gauge(label: Name.ready, factory: factory).record(ready ? 1 : 0)
        Gauge(label: Name.waiters, factory: factory).record(waiters)
    }
}

/// The orchestrator whose state the gauges show; held weakly, as the orchestrator holds its metrics.
final class GaugeSource: Sendable {
    private let reference = Mutex<WeakOrchestrator>(WeakOrchestrator())

    struct WeakOrchestrator: @unchecked Sendable {
        weak var value: Orchestrator?
    }

    var orchestrator: Orchestrator? {
        get { reference.withLock { $0.value } }
        set { reference.withLock { $0.value = newValue } }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }
}
