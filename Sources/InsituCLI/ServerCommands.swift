import ArgumentParser
import Foundation
import Hummingbird
import InsituAgent
import InsituLocalCluster
import InsituOrchestrator
import InsituSpec
import InsituStoreSQLite
import Logging
import ServiceLifecycle

struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one; the chosen port is printed).") var port = 4646
    @Option(help: "Directory for the orchestrator's state (SQLite database, modules, results).")
    var dataDir = "./insitu-data"
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.") var logLevel: LogLevel = .info
    @Option(help: "Log format on stderr: text, or json (one object per line).") var logFormat: LogFormat = .text
    @Option(help: "HOST:PORT of a separate listener serving Prometheus metrics at /metrics, without a token (off by default).")
    var metricsListen: ListenAddress?
    @Option(help: "How often compute nodes send heartbeats, in seconds.") var heartbeatInterval = 5.0
    @Flag(
        help: "Development mode: no API authentication, loopback addresses only. Without it every API request needs a token; the first start prints an administrator token.")
    var dev = false
    @Option(help: "PEM certificate chain to serve instead of one issued by the cluster CA (with --tls-key).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(name: .customLong("tls-name"), help: "Another DNS name or IP address clients dial, for the generated server certificate (repeatable).")
    var tlsNames: [String] = []
    @Flag(help: "Create a new, empty state even though the data directory already holds blobs (after a lost database).")
    var `init` = false
    @Option(help: "Most connections served at once; more wait in the listen backlog.") var maxConnections = 512
    @Option(help: "Seconds a new connection may take to send its request head before it is closed.")
    var requestHeadTimeout = 10.0
    @Option(help: "Seconds a kept-alive connection may stay idle between requests.") var idleTimeout = 60.0
    @Option(help: "Wall-clock limit of an execution whose job spec sets no timeout, as a duration (30m, 1h, 24h).")
    var defaultTimeout = "1h"
    @Option(help: "How long a job whose spec sets no queueTimeout may wait for a node that can run it before it fails, as a duration.")
    var defaultQueueTimeout = "24h"
    @Option(help: "How long a node may stay disconnected before it is shown as lost, as a duration.")
    var nodeLostAfter = "10m"

    func validate() throws {
        guard (0...65_535).contains(port) else {
            throw ValidationError("--port \(port) is out of range: use 1 to 65535, or 0 for any free port")
        }
        if dev && !["127.0.0.1", "::1", "localhost"].contains(host) {
            throw ValidationError(
                "--dev serves the API without authentication, so it listens on loopback only; --host \(host) is not a loopback address. "
                    + "Drop --dev to serve other hosts (every request then needs a token)")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together: give both, or neither to use the cluster CA's certificate")
        }
        if dev && (tlsCert != nil || !tlsNames.isEmpty) {
            throw ValidationError("--dev serves plain HTTP: drop --tls-cert, --tls-key and --tls-name, or drop --dev")
        }
        guard (1...1_000_000).contains(maxConnections) else {
            throw ValidationError("--max-connections \(maxConnections) is out of range: use 1 to 1000000")
        }
        for (name, value) in [("--request-head-timeout", requestHeadTimeout), ("--idle-timeout", idleTimeout)]
        where !(value.isFinite && value >= 0.1 && value <= 86_400) {
            throw ValidationError("\(name) \(value) is out of range: use 0.1 to 86400 seconds")
        }
        guard let millis = SpecValues.parseDuration(defaultTimeout), (1...24 * 3_600_000).contains(millis) else {
            throw ValidationError("--default-timeout \(defaultTimeout) is not a duration from 1ms to 24h, such as 30m or 1h")
        }
        guard let millis = SpecValues.parseDuration(defaultQueueTimeout), (1...30 * 24 * 3_600_000).contains(millis) else {
            throw ValidationError("--default-queue-timeout \(defaultQueueTimeout) is not a duration from 1ms to 30 days, such as 10m or 24h")
        }
        guard let millis = SpecValues.parseDuration(nodeLostAfter), (1...30 * 24 * 3_600_000).contains(millis) else {
            throw ValidationError("--node-lost-after \(nodeLostAfter) is not a duration from 1ms to 30 days, such as 10m or 1h")
        }
        guard heartbeatInterval.isFinite, (0.1...3_600).contains(heartbeatInterval) else {
            throw ValidationError("--heartbeat-interval \(heartbeatInterval) is out of range: use 0.1 to 3600 seconds")
        }
    }
}

func duration(seconds: Double) -> Duration { .milliseconds(Int64((seconds * 1000).rounded())) }

/// Opens the orchestrator's state under `dataDirectory` and builds its server. The returned lock
/// keeps other orchestrators off the directory for as long as it is alive.
func makeOrchestrator(
    _ options: ServerOptions, logger: Logger, metrics: DaemonMetrics? = nil, orchestratorMetrics: OrchestratorMetrics = .disabled
) async throws -> (some ApplicationProtocol, DataDirectoryLock, SQLiteStore, ServerTLS?) {
    let directory = URL(fileURLWithPath: options.dataDir).standardized.path
    try StartupProblems.prepareDirectory(directory, origin: "--data-dir")
    let lock = try DataDirectoryLock(directory: directory)
    let databasePath = directory + "/insitu.sqlite"
    let blobs = try BlobStore(root: directory + "/blobs")
    if !FileManager.default.fileExists(atPath: databasePath) && !blobs.isEmpty && !options.`init` {
        throw CLIFailure(
            "\(directory) holds blobs but no database (\(databasePath) is missing): the orchestrator's state was lost or moved. "
                + "Restore insitu.sqlite from a backup, or start with --init to begin with an empty state beside the old blobs.")
    }
    let store = try SQLiteStore(path: databasePath)
    if options.dev {
        logger.warning("--dev: the API requires no token; listening on loopback only")
    } else if let bootstrap = try await OrchestratorServer.bootstrapAdminToken(store) {
        // Printed once, on stdout only (not in the log): the operator stores it; the orchestrator
        // keeps only its hash.
        let expires = bootstrap.expiresAt.map { Output.time($0) } ?? "never"
        FileHandle.standardOutput.write(Data(
            "\(LocalCluster.bootstrapTokenPrefix) (shown once; expires \(expires); create others with 'insitu token create'): \(bootstrap.token)\n".utf8))
    }
    let tls = try ServerTLS.make(options, dataDirectory: directory)
    if let tls, let caPath = tls.caPath, let fingerprint = tls.caFingerprint {
        // Clients and nodes trust this CA (insitu login --ca-cert, the node's orchestrator_ca).
        FileHandle.standardOutput.write(Data("\(LocalCluster.clusterCAPrefix) \(fingerprint) \(caPath)\n".utf8))
    }
    let scheme = tls == nil ? "http" : "https"
    let audit = try AuditTrail(directory: directory, logger: logger)
    let app = try await OrchestratorServer.make(
        configuration: .init(
            host: options.host, port: options.port, maxConnections: options.maxConnections,
            requestHeadTimeout: duration(seconds: options.requestHeadTimeout), idleTimeout: duration(seconds: options.idleTimeout)),
        store: store, blobs: blobs, tokens: store, identities: store, authentication: options.dev ? .development : .tokens,
        tls: tls?.configuration, clusterCA: tls?.clusterCA,
        settings: .init(
            heartbeatInterval: duration(seconds: options.heartbeatInterval),
            defaultExecutionTimeout: .milliseconds(SpecValues.parseDuration(options.defaultTimeout) ?? 3_600_000),
            defaultQueueTimeout: .milliseconds(SpecValues.parseDuration(options.defaultQueueTimeout) ?? 86_400_000),
            nodeLostAfter: .milliseconds(SpecValues.parseDuration(options.nodeLostAfter) ?? 600_000)),
        logger: logger, audit: audit, metrics: orchestratorMetrics
    ) { port in
        await metrics?.waitUntilBound()
        // Printed on stdout so scripts and tests can find a port chosen with --port 0.
        FileHandle.standardOutput.write(Data("insitu orchestrator listening on \(scheme)://\(options.host):\(port)\n".utf8))
    }
    return (app, lock, store, tls)
}

struct OrchestratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orchestrator", abstract: "Run an orchestrator: the REST API and the endpoint nodes dial into.")
    @OptionGroup var options: ServerOptions
    @Option(help: "YAML file with the orchestrator's settings, one key per flag (docs/OPERATIONS.md); flags override it.")
    var config: String?

    func run() async throws {
        let options = try config.map {
            try OrchestratorConfigFile.options(file: $0, commandLine: OrchestratorConfigFile.commandLineArguments())
        } ?? self.options
        let logger = makeLogger("insitu.orchestrator", level: options.logLevel, format: options.logFormat)
        let metrics = options.metricsListen.map { DaemonMetrics.bootstrap(listen: $0) }
        let orchestratorMetrics = metrics.map { OrchestratorMetrics(factory: $0.factory) } ?? .disabled
        let (app, lock, store, _) = try await makeOrchestrator(
            options, logger: logger, metrics: metrics, orchestratorMetrics: orchestratorMetrics)
        // The lock is released when the process exits; keep it alive until then.
        defer { withExtendedLifetime(lock) {} }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ExplainedListener(inner: app, host: options.host, port: options.port, flag: "--port"))
        ]
        if let metrics {
            services.append(.init(service: metrics.explainedListener(logger: logger) { await orchestratorMetrics.recordGauges() }))
        }
        try await ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        ).run()
        try await store.checkpoint()
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Run a compute node that dials out to an orchestrator.")
    @Option(help: "Path of the node's YAML config file.") var config: String
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.") var logLevel: LogLevel = .info
    @Option(help: "Log format on stderr: text, or json (one object per line).") var logFormat: LogFormat = .text

    func run() async throws {
        let logger = makeLogger("insitu.agent", level: logLevel, format: logFormat)
        let nodeConfig = try AgentConfig.load(path: config)
        try StartupProblems.prepareDirectory(nodeConfig.dataDirectory, origin: "data_dir (\(config))")
        let metrics = nodeConfig.metricsListen.map { DaemonMetrics.bootstrap(listen: $0) }
        let agent = try await Agent(
            config: nodeConfig, logger: logger, version: InsituVersion.current,
            metrics: metrics.map { AgentMetrics(factory: $0.factory) } ?? .disabled)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: agent)]
        if let metrics { services.append(.init(service: metrics.explainedListener(logger: logger))) }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the embedded default: an orchestrator and one compute node in one process.")
    @OptionGroup var options: ServerOptions
    @Option(name: .customLong("dataset"), help: "A dataset this node holds, as NAME=DIRECTORY (repeatable).")
    var datasets: [String] = []
    @Option(name: .customLong("label"), help: "A node label, as KEY=VALUE (repeatable).") var labels: [String] = []

    func run() async throws {
        guard options.port != 0 else { throw ValidationError("serve needs a fixed --port so its own node can dial in") }
        let logger = makeLogger("insitu.serve", level: options.logLevel, format: options.logFormat)
        let metrics = options.metricsListen.map { DaemonMetrics.bootstrap(listen: $0) }
        let orchestratorMetrics = metrics.map { OrchestratorMetrics(factory: $0.factory) } ?? .disabled
        let (app, lock, store, tls) = try await makeOrchestrator(
            options, logger: logger, metrics: metrics, orchestratorMetrics: orchestratorMetrics)
        var nodeDatasets: [AgentConfig.Dataset] = []
        for item in datasets {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--dataset \(item): expected NAME=DIRECTORY") }
            nodeDatasets.append(.init(name: parts[0], path: URL(fileURLWithPath: parts[1]).standardized.path, description: nil, labels: [:]))
        }
        var nodeLabels: [String: String] = [:]
        for item in labels {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--label \(item): expected KEY=VALUE") }
            nodeLabels[parts[0]] = parts[1]
        }
        // A wildcard listen address is not one to dial (nor one the certificate names).
        let dialHost = ["0.0.0.0", "::"].contains(options.host) ? "127.0.0.1" : options.host
        let nodeDirectory = URL(fileURLWithPath: options.dataDir).standardized.path + "/node"
        // The embedded node joins with a token of its own the first time (it has no certificate yet).
        var joinToken: String?
        if tls != nil && !FileManager.default.fileExists(atPath: nodeDirectory + "/identity.json") {
            joinToken = try await OrchestratorServer.embeddedNodeJoinToken(store)
        }
        let agentConfig = AgentConfig(
            name: "local", orchestrators: ["\(tls == nil ? "http" : "https")://\(dialHost):\(options.port)"],
            dataDirectory: nodeDirectory, labels: nodeLabels, datasets: nodeDatasets,
            orchestratorCA: tls?.caPath,
            joinToken: joinToken)
        let agent = try await Agent(
            config: agentConfig, logger: logger, version: InsituVersion.current,
            metrics: metrics.map { AgentMetrics(factory: $0.factory) } ?? .disabled)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ExplainedListener(inner: app, host: options.host, port: options.port, flag: "--port")), .init(service: agent),
        ]
        if let metrics {
            services.append(.init(service: metrics.explainedListener(logger: logger) { await orchestratorMetrics.recordGauges() }))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        defer { withExtendedLifetime(lock) {} }
        try await group.run()
        try await store.checkpoint()
    }
}
