public import ArgumentParser
import Foundation
import Hummingbird
public import InsituAgent
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `--metrics-listen`: refused at parse time unless it is `HOST:PORT`.
extension ListenAddress: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// The process's metrics: a Prometheus registry behind swift-metrics, bootstrapped once here in
/// the executable (library code only ever gets the factory), and the listener that serves it.
struct DaemonMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let address: ListenAddress
    /// Finished once the listener is bound and its address printed.
    private let bound: AsyncStream<Never>
    private let boundContinuation: AsyncStream<Never>.Continuation

    /// Only one daemon runs per process, so this is called at most once.
    static func bootstrap(listen address: ListenAddress) -> DaemonMetrics {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        MetricsSystem.bootstrap(factory)
        return DaemonMetrics(registry: registry, factory: factory, address: address)
    }

    private init(registry: PrometheusCollectorRegistry, factory: PrometheusMetricsFactory, address: ListenAddress) {
        self.registry = registry
        self.factory = factory
        self.address = address
        (bound, boundContinuation) = AsyncStream.makeStream()
    }

    /// Waits until the listener is bound (or the task is cancelled), so the daemon can print its
    /// own address after the metrics one.
    func waitUntilBound() async {
        for await _ in bound {}
    }

    /// The listener: `GET /metrics` in Prometheus' text format, with no token (it says how busy
    /// the cluster is, never what a job computes); it listens only where the operator asks.
    /// `beforeScrape` brings gauges up to date.
    func listener(logger: Logger, beforeScrape: @escaping @Sendable () async -> Void = {}) -> some Service {
        let router = Router()
        let registry = self.registry
        router.get("/metrics") { _, _ in
            await beforeScrape()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let address = self.address
        let continuation = boundContinuation
        return Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "insitu-metrics"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                let bound = ListenAddress("\(address.host.contains(":") ? "[\(address.host)]" : address.host):\(port)") ?? address
                // Printed so scripts and tests find a port chosen with :0.
                FileHandle.standardOutput.write(Data("\(Self.announcement) http://\(bound)/metrics\n".utf8))
                continuation.finish()
            },
            logger: logger)
    }

    /// `listener`, with a failure to bind reported against `--metrics-listen`.
    func explainedListener(logger: Logger, beforeScrape: @escaping @Sendable () async -> Void = {}) -> some Service {
        ExplainedListener(
            inner: listener(logger: logger, beforeScrape: beforeScrape), host: address.host, port: address.port,
            flag: "--metrics-listen (metrics_listen)")
    }

    /// How the line naming the metrics address starts.
    static let announcement = "insitu metrics served at"
}
