import InsituAPI
public import InsituModel
public import Metrics

/// The agent's metrics (docs/OPERATIONS.md, "Metrics"), through swift-metrics to the factory it
/// is given; served by the listener `metrics_listen` opens.
public struct AgentMetrics: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    public static let disabled = AgentMetrics(factory: NOOPMetricsHandler.instance)

    enum Name {
        static let executionsFinished = "insitu_agent_executions_finished_total"
        static let executionsRunning = "insitu_agent_executions_running"
        static let linkUp = "insitu_agent_link_up"
        static let dials = "insitu_agent_link_dials_total"
        static let sessions = "insitu_agent_link_sessions_total"
        static let messages = "insitu_agent_messages_total"
    }

    func executionStarted() {
        Meter(label: Name.executionsRunning, factory: factory).increment()
    }

    /// An execution ended: `outcome` is its final state, or `interrupted` when the agent's
    /// shutdown stopped it (it is reported after the next start).
    func executionFinished(engine: EngineKind, outcome: String) {
        Meter(label: Name.executionsRunning, factory: factory).decrement()
        Counter(label: Name.executionsFinished, dimensions: [("engine", engine.rawValue), ("outcome", outcome)], factory: factory)
            .increment()
    }

    func dialed() { Counter(label: Name.dials, factory: factory).increment() }

    func link(up: Bool) {
        if up { Counter(label: Name.sessions, factory: factory).increment() }
        Gauge(label: Name.linkUp, factory: factory).record(up ? 1 : 0)
    }

    /// A frame on the link: `direction` is `in` (from the orchestrator) or `out`.
    func message(_ direction: String, _ type: String) {
        Counter(label: Name.messages, dimensions: [("direction", direction), ("type", type)], factory: factory).increment()
    }

    /// Creates the gauges and unlabelled counters at their start values, so a scrape before the
    /// first link shows them.
    func start() {
        Gauge(label: Name.linkUp, factory: factory).record(0)
        Meter(label: Name.executionsRunning, factory: factory).set(0)
        Counter(label: Name.dials, factory: factory).increment(by: 0)
        Counter(label: Name.sessions, factory: factory).increment(by: 0)
    }
}
