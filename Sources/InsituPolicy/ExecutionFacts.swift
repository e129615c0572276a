public import InsituModel

/// What a node policy looks at in an execution: the same facts on the node (from the
/// assignment) and in the scheduler (from the job spec), so both decide alike.
public struct ExecutionFacts: Hashable, Sendable {
    public var engine: EngineKind
    /// The WebAssembly module's digest; nil for engines without a module.
    public var module: ContentDigest?
    /// `engine.signature` as the spec carries it.
    public var signature: String?
    /// Where the module is fetched from when that is a URL: its host, lowercased, and port
    /// (explicit, or the scheme's default). Nil when the module comes from an orchestrator.
    public var moduleHost: ModuleHost?
    /// The datasets the job reads, in the order the spec names them.
    public var datasets: [String]
    public var namespace: String

    public struct ModuleHost: Hashable, Sendable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public init(
        engine: EngineKind, module: ContentDigest? = nil, signature: String? = nil, moduleHost: ModuleHost? = nil,
        datasets: [String] = [], namespace: String = JobSpec.defaultNamespace
    ) {
        self.engine = engine
        self.module = module
        self.signature = signature
        self.moduleHost = moduleHost
        self.datasets = datasets
        self.namespace = namespace
    }

    /// The facts of `spec`. A module URL whose host cannot be read gets the empty host, which
    /// no `module_hosts` list names.
    public init(spec: JobSpec) {
        self.init(
            engine: spec.engine.kind, module: spec.engine.wasm?.module.digest, signature: spec.engine.wasm?.signature,
            moduleHost: spec.engine.wasm?.module.url.map { Self.host(ofURL: $0) ?? ModuleHost(host: "", port: 0) },
            datasets: spec.datasetNames, namespace: spec.namespace)
    }

    /// The host and port of an `http(s)://` URL, read the way URL parsers read an authority:
    /// after the scheme, up to the first `/`, `?`, `#` or `\`, without the user info before the
    /// last `@`; a bracketed IPv6 literal keeps its brackets. Nil for anything else.
    public static func host(ofURL url: String) -> ModuleHost? {
        let lowered = url.lowercased()
        let defaultPort: Int
        let rest: Substring
        if lowered.hasPrefix("https://") {
            defaultPort = 443
            rest = lowered.dropFirst(8)
        } else if lowered.hasPrefix("http://") {
            defaultPort = 80
            rest = lowered.dropFirst(7)
        } else {
            return nil
        }
        let authority = rest.prefix { !"/?#\\".contains($0) }
        let hostPort = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
        var host = Substring(hostPort)
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            host = hostPort[...close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        }
        guard !host.isEmpty else { return nil }
        var port = defaultPort
        if let portText, !portText.isEmpty {
            guard portText.count <= 5, let value = Int(portText), (0...65_535).contains(value) else { return nil }
            port = value
        }
        return ModuleHost(host: String(host), port: port)
    }
}
