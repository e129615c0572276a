/// The validated, typed form of a job specification. Parsing and validation of the YAML/JSON
/// document live in `InsituSpec`; everything downstream (scheduler, store, agents) sees only this.
/// See docs/JOBSPEC.md for the document format.
public struct JobSpec: Hashable, Codable, Sendable {
    /// Version of the document format; only "v1" exists today.
    public var version: String
    public var name: String
    /// Who the job belongs to (`default` unless the spec or, later, the submitter's token says
    /// otherwise). Nodes decide per dataset which namespaces may read it (their policy).
    public var namespace: String
    public var type: JobType
    /// Executions to run for a `batch` job (each one a partition). Ignored for `ops` jobs, which
    /// run once on every matching node.
    public var count: Int
    /// Every constraint must match a node's labels for the node to be eligible.
    public var constraints: [LabelConstraint]
    public var inputs: [InputSpec]
    public var engine: EngineSpec
    public var args: [String]
    public var env: [String: String]
    public var resources: Resources
    /// Wall-clock limit for one execution, in milliseconds; nil means the cluster default.
    public var timeoutMillis: Int64?
    public var outputs: [OutputSpec]
    /// Nil means `RetryPolicy.default(for: type)`.
    public var retry: RetryPolicy?
    /// Nil means `NodeLossPolicy.default(for: type)`.
    public var nodeLoss: NodeLossPolicy?
    /// How long the job may wait for a node that can run (the rest of) it before it fails with
    /// the per-node reasons; nil means the cluster default.
    public var queueTimeoutMillis: Int64?

    public init(
        version: String = "v1", name: String, namespace: String = JobSpec.defaultNamespace, type: JobType = .batch, count: Int = 1,
        constraints: [LabelConstraint] = [], inputs: [InputSpec] = [], engine: EngineSpec,
        args: [String] = [], env: [String: String] = [:],
        resources: Resources = JobSpec.defaultResources, timeoutMillis: Int64? = nil,
        outputs: [OutputSpec] = [], retry: RetryPolicy? = nil, nodeLoss: NodeLossPolicy? = nil,
        queueTimeoutMillis: Int64? = nil
    ) {
        self.retry = retry
        self.nodeLoss = nodeLoss
        self.queueTimeoutMillis = queueTimeoutMillis
        self.version = version
        self.name = name
        self.namespace = namespace
        self.type = type
        self.count = count
        self.constraints = constraints
        self.inputs = inputs
        self.engine = engine
        self.args = args
        self.env = env
        self.resources = resources
        self.timeoutMillis = timeoutMillis
        self.outputs = outputs
    }

    public var effectiveRetry: RetryPolicy { retry ?? .default(for: type) }
    public var effectiveNodeLoss: NodeLossPolicy { nodeLoss ?? .default(for: type) }

    public static let defaultResources = Resources(cpuMillis: 100, memoryBytes: 64 << 20)
    public static let defaultNamespace = "default"

    /// Names of node-local datasets this job reads; it may only be placed where all of them live.
    public var datasetNames: [String] {
        inputs.compactMap { if case .dataset(let name) = $0.source { return name } else { return nil } }
    }
}

extension JobSpec {
    private enum CodingKeys: String, CodingKey {
        case version, name, namespace, type, count, constraints, inputs, engine, args, env, resources, timeoutMillis, outputs, retry,
            nodeLoss, queueTimeoutMillis
    }

    /// Specs stored, or sent in assignments, before namespaces existed have none: they belong to
    /// `default`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(String.self, forKey: .version)
        name = try container.decode(String.self, forKey: .name)
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace) ?? JobSpec.defaultNamespace
        type = try container.decode(JobType.self, forKey: .type)
        count = try container.decode(Int.self, forKey: .count)
        constraints = try container.decode([LabelConstraint].self, forKey: .constraints)
        inputs = try container.decode([InputSpec].self, forKey: .inputs)
        engine = try container.decode(EngineSpec.self, forKey: .engine)
        args = try container.decode([String].self, forKey: .args)
        env = try container.decode([String: String].self, forKey: .env)
        resources = try container.decode(Resources.self, forKey: .resources)
        timeoutMillis = try container.decodeIfPresent(Int64.self, forKey: .timeoutMillis)
        outputs = try container.decode([OutputSpec].self, forKey: .outputs)
        retry = try container.decodeIfPresent(RetryPolicy.self, forKey: .retry)
        nodeLoss = try container.decodeIfPresent(NodeLossPolicy.self, forKey: .nodeLoss)
        queueTimeoutMillis = try container.decodeIfPresent(Int64.self, forKey: .queueTimeoutMillis)
    }
}

public enum JobType: String, Hashable, Codable, Sendable, CaseIterable {
    /// Run `count` executions, each placed on any eligible node.
    case batch
    /// Run exactly one execution on every eligible node.
    case ops
}

public struct InputSpec: Hashable, Codable, Sendable {
    public enum Source: Hashable, Codable, Sendable {
        /// A dataset the node declares in its config, mounted read-only.
        case dataset(name: String)
        /// Content carried in the spec itself, written to a read-only file.
        case inline(content: String)
    }
    public var source: Source
    /// Absolute path inside the sandbox where the input appears.
    public var target: String

    public init(source: Source, target: String) {
        self.source = source
        self.target = target
    }
}

public struct OutputSpec: Hashable, Codable, Sendable {
    public var name: String
    /// Absolute path inside the sandbox of a writable directory whose files are collected.
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }
}

public enum EngineKind: String, Hashable, Codable, Sendable, CaseIterable {
    case wasm
    case process
    case container
    /// A read-only SQL query over the node's datasets (docs/ENGINES.md, `## sql`).
    case sql
}

public struct EngineSpec: Hashable, Codable, Sendable {
    public var kind: EngineKind
    public var wasm: WasmSettings?
    public var process: ProcessSettings?
    public var container: ContainerSettings?
    public var sql: SQLSettings?

    public init(wasm: WasmSettings) {
        self.kind = .wasm
        self.wasm = wasm
        self.process = nil
    }

    public init(process: ProcessSettings) {
        self.kind = .process
        self.wasm = nil
        self.process = process
    }

    public init(container: ContainerSettings) {
        self.kind = .container
        self.container = container
        self.sql = nil
    }

    public init(sql: SQLSettings) {
        self.kind = .sql
        self.sql = sql
        self.container = nil
    }
}

/// Where a WebAssembly module comes from. It is always pinned by digest once the job is accepted.
public struct ModuleReference: Hashable, Codable, Sendable {
    public var digest: ContentDigest
    /// Set when the module is fetched from a URL rather than from the orchestrator's module store.
    public var url: String?

    public init(digest: ContentDigest, url: String? = nil) {
        self.digest = digest
        self.url = url
    }
}

public struct WasmSettings: Hashable, Codable, Sendable {
    public var module: ModuleReference
    /// Exported function to call; `_start` (WASI command) by default.
    public var entrypoint: String
    /// Upper bound on the module's linear memory.
    public var memoryLimitBytes: Int64
    /// Optional instruction budget (about one unit per WebAssembly operator).
    public var fuel: UInt64?
    /// `ed25519:<base64 of 64 bytes>`: a signature of the module's 32-byte SHA-256 digest, which a
    /// node whose policy trusts the signer's key admits where it admits that key's modules.
    public var signature: String?

    public init(
        module: ModuleReference, entrypoint: String = "_start", memoryLimitBytes: Int64 = 64 << 20, fuel: UInt64? = nil,
        signature: String? = nil
    ) {
        self.signature = signature
        self.module = module
        self.entrypoint = entrypoint
        self.memoryLimitBytes = memoryLimitBytes
        self.fuel = fuel
    }
}

public struct ProcessSettings: Hashable, Codable, Sendable {
    /// Executable to run on the node; found on the node's PATH if not absolute.
    public var command: String

    public init(command: String) {
        self.command = command
    }
}

/// An OCI image run through the node's container engine (Docker Engine API).
public struct ContainerSettings: Hashable, Codable, Sendable {
    /// As the job wrote it: `name:tag` or `name@sha256:<64 hex>`; the node admits it only when its
    /// allow-list names the same image (see `ImageReference`).
    public var image: String
    /// Replaces the image's entrypoint; the job's `args` follow it. Empty: the image's own
    /// entrypoint, with `args` (when given) replacing the image's default command.
    public var command: [String]

    public init(image: String, command: [String] = []) {
        self.image = image
        self.command = command
    }
}

public struct SQLSettings: Hashable, Codable, Sendable {
    /// One read-only SQL statement (SQLite's dialect) over the tables the job's inputs provide.
    public var query: String
    /// Upper bound on the memory SQLite may allocate for this execution (imported tables,
    /// page cache, sorting).
    public var memoryLimitBytes: Int64
    /// Most rows the result may have; the node's own limit (`engines.sql.max_rows`) applies too,
    /// and the lower of the two wins. Nil: the node's limit alone.
    public var maxRows: Int64?

    public init(query: String, memoryLimitBytes: Int64 = 256 << 20, maxRows: Int64? = nil) {
        self.query = query
        self.memoryLimitBytes = memoryLimitBytes
        self.maxRows = maxRows
    }
}
