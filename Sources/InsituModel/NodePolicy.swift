/// The data owner's rules for one node (`policy:` in its config): what may run there, which code
/// and which namespaces may read which dataset, and what may leave the node. The node enforces
/// it on every execution; it also advertises it in its hello so the scheduler does not send work
/// the node would refuse. Evaluation and the digest live in `InsituPolicy`; this is the value.
///
/// Every list is kept sorted and without repeats (`normalised()`), so two configs that say the
/// same thing in a different order are the same policy, with the same digest.
public struct NodePolicy: Hashable, Codable, Sendable {
    /// Engines that may run; nil: every engine the node enables.
    public var engines: [EngineKind]?
    /// Rules per dataset name; a dataset without a rule may be read by any job that names it.
    public var datasets: [String: DatasetRule]
    /// Hosts (`name` or `name:port`) a job's module URL may name; nil: any. The node's
    /// orchestrators, which serve uploaded modules, are always allowed.
    public var moduleHosts: [String]?
    public var output: OutputRules

    public init(engines: [EngineKind]? = nil, datasets: [String: DatasetRule] = [:], moduleHosts: [String]? = nil, output: OutputRules = OutputRules()) {
        self.engines = engines
        self.datasets = datasets
        self.moduleHosts = moduleHosts
        self.output = output
    }

    /// Who may read one dataset.
    public struct DatasetRule: Hashable, Codable, Sendable {
        /// Namespaces whose jobs may read it; nil: any.
        public var namespaces: [String]?
        /// Modules (by the SHA-256 of their bytes) that may read it. When this or `trustedKeys`
        /// is set, only such modules may: a listed one, or one signed by a trusted key; jobs
        /// without a module (process, container and sql jobs) may not.
        public var modules: [ContentDigest]?
        /// Ed25519 public keys (`ed25519:<base64 of 32 bytes>`) whose signature over a module's
        /// digest admits the module.
        public var trustedKeys: [String]?

        public init(namespaces: [String]? = nil, modules: [ContentDigest]? = nil, trustedKeys: [String]? = nil) {
            self.namespaces = namespaces
            self.modules = modules
            self.trustedKeys = trustedKeys
        }

        /// Whether only some modules may read the dataset.
        public var restrictsModules: Bool { modules != nil || trustedKeys != nil }
    }

    /// What of an execution's output may leave the node.
    public struct OutputRules: Hashable, Codable, Sendable {
        /// Most bytes one execution's result may carry (stdout, stderr and output files together,
        /// as far as they may leave); nil: the node's built-in limit alone.
        public var maxBytes: Int64?
        /// Whether the job's standard output leaves the node (streamed logs and the `stdout` file).
        public var stdout: Bool
        public var stderr: Bool

        public init(maxBytes: Int64? = nil, stdout: Bool = true, stderr: Bool = true) {
            self.maxBytes = maxBytes
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// Whether this policy allows everything (no config, or an empty `policy:` section).
    public var isOpen: Bool { self == NodePolicy() }

    /// The same policy with every list sorted and without repeats.
    public func normalised() -> NodePolicy {
        func tidy<T: Comparable & Hashable>(_ list: [T]?) -> [T]? { list.map { Array(Set($0)).sorted() } }
        var copy = self
        copy.engines = engines.map { Array(Set($0)).sorted { $0.rawValue < $1.rawValue } }
        copy.moduleHosts = tidy(moduleHosts?.map { $0.lowercased() })
        copy.datasets = datasets.mapValues { rule in
            DatasetRule(
                namespaces: tidy(rule.namespaces), modules: rule.modules.map { Array(Set($0)).sorted { $0.rawValue < $1.rawValue } },
                trustedKeys: tidy(rule.trustedKeys))
        }
        return copy
    }
}

/// Bounds on an advertised policy (it crosses a trust boundary in the hello, like the rest of
/// `NodeInfo`): far above a real configuration, low enough to keep frames and the store small.
public enum NodePolicyLimits {
    public static let maxDatasetRules = NodeInfoLimits.maxDatasets
    public static let maxNamespacesPerDataset = 256
    public static let maxModulesPerDataset = 1_024
    public static let maxKeysPerDataset = 64
    public static let maxModuleHosts = 256
    /// `ed25519:` and the base64 of 32 bytes is 52; room for other key types later.
    public static let maxKeyBytes = 128
    public static let maxHostBytes = 261
    /// The digest as advertised: `sha256:` and 64 hex digits.
    public static let maxDigestBytes = 71
}
