import Foundation
public import InsituModel
import InsituSpec
import InsituTLS
import Yams

/// A compute node's configuration file (YAML). Only what is declared here is exposed: a job can
/// read a dataset only if the node owner listed it, and the process engine is off unless enabled.
public struct AgentConfig: Sendable {
    public struct Dataset: Sendable {
        public var name: String
        /// Local directory holding the data; mounted read-only into jobs.
        public var path: String
        public var description: String?
        public var labels: Labels

        public init(name: String, path: String, description: String? = nil, labels: Labels = [:]) {
            self.name = name
            self.path = path
            self.description = description
            self.labels = labels
        }
    }

    /// The container engine (`engines.container`): off unless a socket is configured.
    public struct Container: Sendable {
        /// Unix socket of a Docker Engine API server (Docker, or `podman system service`).
        public var socket: String
        /// Images jobs may run (`allowed_images`), normalised (`ImageReference.canonical`).
        public var allowedImages: [String]
        /// Most processes one container may have (`pids_limit`).
        public var pidsLimit: Int

        public static let defaultPidsLimit = 256

        public init(socket: String, allowedImages: [String], pidsLimit: Int = Container.defaultPidsLimit) {
            self.socket = socket
            self.allowedImages = allowedImages
            self.pidsLimit = pidsLimit
        }
    }

    public var name: String
    /// Orchestrator base URLs (`http://host:port`); the agent uses the first and fails over in order.
    public var orchestrators: [String]
    public var dataDirectory: String
    public var labels: Labels
    public var datasets: [Dataset]
    /// Overrides of the detected capacity.
    public var cpuMillis: Int?
    public var memoryBytes: Int64?
    public var processEngineEnabled: Bool
    /// How the process engine confines jobs (`engines.process.sandbox` and friends).
    public var processEngine: ProcessEngineConfig
    public var wasmIsolation: String
    /// Which runtime runs `wasm` jobs (`engines.wasm.runtime`): wasmtime, wasmkit, or auto
    /// (wasmtime when its library loads, WasmKit otherwise).
    public var wasmRuntime: String
    /// wasmtime's C library (`engines.wasm.wasmtime_library`); when nil, `INSITU_WASMTIME_LIB`.
    public var wasmtimeLibrary: String?
    /// Whether this node runs `sql` jobs (`engines.sql.enabled`, default false).
    public var sqlEngineEnabled: Bool
    /// Most rows one SQL result may have on this node (`engines.sql.max_rows`).
    public var sqlMaxRows: Int64
    /// Most disk one execution's output directories may use (`limits.outputs_disk`); an
    /// execution over it is stopped and fails.
    public var outputQuotaBytes: Int64
    /// The data owner's rules for this node (`policy:`; docs/POLICY.md), enforced on every
    /// execution and advertised in the hello.
    public var policy: NodePolicy
    /// Hosts (`name` or `name:port`) a job's module URL may name (`policy.module_hosts`, or
    /// `modules.allowed_hosts`, its older name); nil allows any. The orchestrators' hosts are
    /// always allowed.
    public var moduleAllowedHosts: [String]? {
        get { policy.moduleHosts }
        set { policy.moduleHosts = newValue }
    }
    /// Whether a module URL may redirect to another scheme, host or port
    /// (`modules.cross_host_redirects`, default false).
    public var moduleCrossHostRedirects: Bool
    /// How long a new link may take to be welcomed by the orchestrator before the agent gives up
    /// on it and dials again (`connection.handshake_timeout`, default 10s).
    public var handshakeTimeoutMillis: Int64
    public var container: Container?
    /// PEM file of the CA that signed the orchestrator's certificate (`orchestrator_ca`, normally
    /// the cluster CA's `ca.crt`); when nil, `https` orchestrators are checked against the system's
    /// trusted CAs.
    public var orchestratorCA: String?
    /// The token this node joins the cluster with (`join_token` or `join_token_file`), needed
    /// only until it holds a certificate. A secret: never logged.
    public var joinToken: String?
    /// How long before its certificate expires the node asks for a new one
    /// (`identity.renew_before`); nil: when a third of its lifetime is left.
    public var certificateRenewBeforeMillis: Int64?
    /// Where the agent serves Prometheus metrics (`metrics_listen`); nil (the default) serves none.
    public var metricsListen: ListenAddress? = nil

    public static let defaultOutputQuotaBytes: Int64 = 1 << 30
    public static let defaultHandshakeTimeoutMillis: Int64 = 10_000
    public static let defaultSQLMaxRows: Int64 = 100_000

    public init(
        name: String, orchestrators: [String], dataDirectory: String, labels: Labels = [:], datasets: [Dataset] = [],
        cpuMillis: Int? = nil, memoryBytes: Int64? = nil, processEngineEnabled: Bool = false, wasmIsolation: String = "process",
        wasmRuntime: String = "auto", wasmtimeLibrary: String? = nil,
        outputQuotaBytes: Int64 = AgentConfig.defaultOutputQuotaBytes, moduleAllowedHosts: [String]? = nil,
        moduleCrossHostRedirects: Bool = false, handshakeTimeoutMillis: Int64 = AgentConfig.defaultHandshakeTimeoutMillis,
        processEngine: ProcessEngineConfig = ProcessEngineConfig(), container: Container? = nil,
        sqlEngineEnabled: Bool = false, sqlMaxRows: Int64 = AgentConfig.defaultSQLMaxRows, policy: NodePolicy = NodePolicy(),
        orchestratorCA: String? = nil, joinToken: String? = nil, certificateRenewBeforeMillis: Int64? = nil
    ) {
        self.joinToken = joinToken
        self.certificateRenewBeforeMillis = certificateRenewBeforeMillis
        self.policy = policy
        self.orchestratorCA = orchestratorCA
        self.processEngine = processEngine
        self.container = container
        self.sqlEngineEnabled = sqlEngineEnabled
        self.sqlMaxRows = sqlMaxRows
        self.name = name
        self.orchestrators = orchestrators
        self.dataDirectory = dataDirectory
        self.labels = labels
        self.datasets = datasets
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.processEngineEnabled = processEngineEnabled
        self.wasmIsolation = wasmIsolation
        self.wasmRuntime = wasmRuntime
        self.wasmtimeLibrary = wasmtimeLibrary
        self.outputQuotaBytes = outputQuotaBytes
        if let moduleAllowedHosts { self.policy.moduleHosts = moduleAllowedHosts }
        self.moduleCrossHostRedirects = moduleCrossHostRedirects
        self.handshakeTimeoutMillis = handshakeTimeoutMillis
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var file: String
        public var problems: [String]
        public var description: String {
            "invalid agent config \(file):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        }
    }

    /// Loads a config file; relative paths in it are resolved against the file's directory.
    public static func load(path: String) throws -> AgentConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(file: path, problems: ["cannot read the file"])
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(String(decoding: data, as: UTF8.self), file: path, baseDirectory: base)
    }

    public static func parse(_ text: String, file: String, baseDirectory: String) throws -> AgentConfig {
        var problems: [String] = []
        let root: [String: Any]
        do {
            root = (try Yams.load(yaml: text) as? [String: Any]) ?? [:]
        } catch {
            throw Invalid(file: file, problems: ["not valid YAML: \(error)"])
        }
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") ? path : URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).standardized.path
        }
        let known = Set(AgentConfigShape.keys(under: ""))
        for key in root.keys where !known.contains(key) {
            problems.append("unknown key \"\(key)\" (allowed: \(known.sorted().joined(separator: ", ")))")
        }
        problems += AgentConfigShape.problems(in: root)
        var metricsListen: ListenAddress?
        if let text = root["metrics_listen"] as? String {
            metricsListen = ListenAddress(text)
            if metricsListen == nil { problems.append("metrics_listen: \(ListenAddress.problem(text))") }
        }
        let name = root["name"] as? String ?? ""
        if name.isEmpty { problems.append("name: required, e.g. `name: hospital-a`") }
        var orchestrators = (root["orchestrators"] as? [Any])?.map { "\($0)" } ?? []
        if let single = root["orchestrator"] as? String { orchestrators.insert(single, at: 0) }
        if orchestrators.isEmpty {
            problems.append("orchestrators: at least one orchestrator URL is required, e.g. `orchestrator: http://127.0.0.1:4646`")
        }
        for url in orchestrators where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            problems.append("orchestrators: \"\(url)\" must start with http:// or https://")
        }
        var orchestratorCA: String?
        if let value = root["orchestrator_ca"] {
            if let path = value as? String, !path.isEmpty {
                orchestratorCA = resolve(path)
            } else {
                problems.append("orchestrator_ca: write the path of the cluster CA's PEM file (the orchestrator prints it at start)")
            }
        }
        var joinToken: String?
        if let value = root["join_token"] {
            if let text = value as? String, !text.isEmpty { joinToken = text } else {
                problems.append("join_token: write the token 'insitu node join-token create' printed")
            }
        }
        if let value = root["join_token_file"] {
            if joinToken != nil {
                problems.append("join_token_file: give the join token once, as join_token or join_token_file")
            } else if let path = value as? String, !path.isEmpty {
                do {
                    joinToken = try SecretFiles.read(resolve(path), secret: true).trimmingCharacters(in: .whitespacesAndNewlines)
                } catch {
                    problems.append("join_token_file: \(error)")
                }
            } else {
                problems.append("join_token_file: write the path of a file (mode 0600) holding the join token")
            }
        }
        var renewBefore: Int64?
        let identity = root["identity"] as? [String: Any] ?? [:]
        problems += AgentConfigShape.unknownKeys(in: identity, section: "identity")
        if let value = identity["renew_before"] {
            if let millis = SpecValues.parseDuration("\(value)"), millis >= 1 { renewBefore = millis } else {
                problems.append("identity.renew_before: \"\(value)\" is not a duration, like 240h")
            }
        }
        let dataDirectory = resolve(root["data_dir"] as? String ?? "./insitu-agent-\(name)")
        let labels = ((root["labels"] as? [String: Any]) ?? [:]).mapValues { "\($0)" }
        var datasets: [Dataset] = []
        for (index, item) in ((root["datasets"] as? [Any]) ?? []).enumerated() {
            guard let entry = item as? [String: Any], let datasetName = entry["name"] as? String,
                let datasetPath = entry["path"] as? String
            else {
                problems.append("datasets[\(index)]: needs `name` and `path`")
                continue
            }
            let resolved = resolve(datasetPath)
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) || !isDirectory.boolValue {
                problems.append("datasets[\(index)].path: \(resolved) is not a directory (a dataset is a directory mounted read-only)")
            }
            datasets.append(
                Dataset(
                    name: datasetName, path: resolved, description: entry["description"] as? String,
                    labels: ((entry["labels"] as? [String: Any]) ?? [:]).mapValues { "\($0)" }))
        }
        var cpuMillis: Int?
        var memoryBytes: Int64?
        if let resources = root["resources"] as? [String: Any] {
            if let cpu = resources["cpu"] {
                cpuMillis = SpecValues.parseCPU("\(cpu)")
                if cpuMillis == nil { problems.append("resources.cpu: \"\(cpu)\" is not a CPU amount like 2 or 500m") }
            }
            if let memory = resources["memory"] {
                memoryBytes = SpecValues.parseBytes("\(memory)")
                if memoryBytes == nil { problems.append("resources.memory: \"\(memory)\" is not a size like 4Gi") }
            }
        }
        let engines = root["engines"] as? [String: Any] ?? [:]
        let process = engines["process"] as? [String: Any] ?? [:]
        let processEngine = ProcessEngineConfig.parse(process, resolve: resolve, problems: &problems)
        let wasm = engines["wasm"] as? [String: Any] ?? [:]
        let isolation = wasm["isolation"] as? String ?? "process"
        if !["auto", "in-process", "process"].contains(isolation) {
            problems.append("engines.wasm.isolation: \"\(isolation)\" must be process, auto or in-process")
        }
        problems += AgentConfigShape.unknownKeys(in: wasm, section: "engines.wasm")
        let runtime = wasm["runtime"].map { "\($0)" } ?? "auto"
        if !["auto", "wasmtime", "wasmkit"].contains(runtime) {
            problems.append("engines.wasm.runtime: \"\(runtime)\" must be wasmtime, wasmkit or auto")
        }
        var wasmtimeLibrary: String?
        if let library = wasm["wasmtime_library"] {
            if let path = library as? String, !path.isEmpty {
                wasmtimeLibrary = resolve(path)
            } else {
                problems.append("engines.wasm.wasmtime_library: write the path of wasmtime's _libwasmtime.so")
            }
        }
        let container = parseContainer(engines["container"], resolve: resolve, problems: &problems)
        let sql = engines["sql"] as? [String: Any] ?? [:]
        problems += AgentConfigShape.unknownKeys(in: sql, section: "engines.sql")
        var sqlEnabled = false
        if let value = sql["enabled"] {
            if let flag = value as? Bool { sqlEnabled = flag } else { problems.append("engines.sql.enabled: \"\(value)\" must be true or false") }
        }
        var sqlMaxRows = defaultSQLMaxRows
        if let value = sql["max_rows"] {
            if let rows = value as? Int, rows > 0 { sqlMaxRows = Int64(rows) } else {
                problems.append("engines.sql.max_rows: \"\(value)\" is not a positive number of rows, like 100000")
            }
        }
        var outputQuota = defaultOutputQuotaBytes
        let limits = root["limits"] as? [String: Any] ?? [:]
        problems += AgentConfigShape.unknownKeys(in: limits, section: "limits")
        if let quota = limits["outputs_disk"] {
            if let bytes = SpecValues.parseBytes("\(quota)"), bytes > 0 {
                outputQuota = bytes
            } else {
                problems.append("limits.outputs_disk: \"\(quota)\" is not a positive size like 1Gi")
            }
        }
        let modules = root["modules"] as? [String: Any] ?? [:]
        problems += AgentConfigShape.unknownKeys(in: modules, section: "modules")
        var policy = PolicyConfig.parse(root["policy"], declaredDatasets: datasets.map(\.name), problems: &problems)
        if let hosts = modules["allowed_hosts"] {
            if policy.moduleHosts != nil {
                problems.append("modules.allowed_hosts: give the module hosts once, as policy.module_hosts (allowed_hosts is its older name)")
            } else {
                policy.moduleHosts = PolicyConfig.moduleHosts(hosts, at: "modules.allowed_hosts", problems: &problems)
            }
        }
        var crossHostRedirects = false
        if let value = modules["cross_host_redirects"] {
            if let flag = value as? Bool {
                crossHostRedirects = flag
            } else {
                problems.append("modules.cross_host_redirects: \"\(value)\" must be true or false")
            }
        }
        let connection = root["connection"] as? [String: Any] ?? [:]
        problems += AgentConfigShape.unknownKeys(in: connection, section: "connection")
        var handshakeTimeout = defaultHandshakeTimeoutMillis
        if let value = connection["handshake_timeout"] {
            if let millis = SpecValues.parseDuration("\(value)"), millis >= 100 {
                handshakeTimeout = millis
            } else {
                problems.append("connection.handshake_timeout: \"\(value)\" is not a duration of at least 100ms, like 10s")
            }
        }
        guard problems.isEmpty else { throw Invalid(file: file, problems: problems) }
        var config = AgentConfig(
            name: name, orchestrators: orchestrators, dataDirectory: dataDirectory, labels: labels, datasets: datasets,
            cpuMillis: cpuMillis, memoryBytes: memoryBytes, processEngineEnabled: process["enabled"] as? Bool ?? false,
            wasmIsolation: isolation, wasmRuntime: runtime, wasmtimeLibrary: wasmtimeLibrary, outputQuotaBytes: outputQuota,
            moduleCrossHostRedirects: crossHostRedirects, handshakeTimeoutMillis: handshakeTimeout, processEngine: processEngine,
            container: container, sqlEngineEnabled: sqlEnabled, sqlMaxRows: sqlMaxRows, policy: policy, orchestratorCA: orchestratorCA,
            joinToken: joinToken, certificateRenewBeforeMillis: renewBefore)
        config.metricsListen = metricsListen
        return config
    }

    /// `engines.container: {socket, allowed_images, pids_limit}`; nil (the engine is off) when absent.
    static func parseContainer(_ value: Any?, resolve: (String) -> String, problems: inout [String]) -> Container? {
        guard let value else { return nil }
        guard let section = value as? [String: Any] else {
            problems.append("engines.container: write a mapping with socket and allowed_images")
            return nil
        }
        problems += AgentConfigShape.unknownKeys(in: section, section: "engines.container")
        guard let socket = section["socket"] as? String, !socket.isEmpty else {
            problems.append(
                "engines.container.socket: required, the unix socket of a Docker Engine API server, e.g. /run/podman/podman.sock or /var/run/docker.sock")
            return nil
        }
        var allowed: [String] = []
        if let list = section["allowed_images"] as? [Any], !list.isEmpty {
            for (index, item) in list.enumerated() {
                let text = "\(item)"
                if let reference = ImageReference(text) {
                    allowed.append(reference.canonical)
                } else {
                    problems.append(
                        "engines.container.allowed_images[\(index)]: \"\(text)\" is not an image reference: \(ImageReference.problem(in: text) ?? "")")
                }
            }
        } else {
            problems.append(
                "engines.container.allowed_images: list the images jobs may run (name:tag or name@sha256:<digest>), e.g. [docker.io/library/python:3.12]")
        }
        var pidsLimit = Container.defaultPidsLimit
        if let limit = section["pids_limit"] {
            if let number = limit as? Int, (8...65_536).contains(number) {
                pidsLimit = number
            } else {
                problems.append("engines.container.pids_limit: \"\(limit)\" must be a whole number from 8 to 65536")
            }
        }
        return Container(socket: resolve(socket), allowedImages: allowed, pidsLimit: pidsLimit)
    }
}

/// What this machine offers, detected at start-up.
enum MachineResources {
    static func detect() -> Resources {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let pages = Int64(sysconf(Int32(_SC_PHYS_PAGES)))
        let pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))
        return Resources(cpuMillis: cores * 1000, memoryBytes: max(0, pages * pageSize))
    }
}

/// The node's stable identity, created on first start and kept in its data directory so a
/// restarted node is recognised as the same node.
enum NodeIdentity {
    static func loadOrCreate(dataDirectory: String, makeID: () -> NodeID) throws -> NodeID {
        let path = dataDirectory + "/node-id"
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return NodeID(text) }
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let id = makeID()
        try Data((id.rawValue + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return id
    }
}
