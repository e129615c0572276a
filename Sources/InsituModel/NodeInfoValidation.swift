/// Bounds on what a node may advertise in its hello. A node is not trusted: whatever it sends is
/// stored, summed by the scheduler and shown to users, so every field is checked against these
/// before the orchestrator accepts it. The bounds are far above any real machine or
/// configuration; they exist so that no value can overflow arithmetic or bloat the store.
public enum NodeInfoLimits {
    /// Node IDs, names and dataset names: at most this many UTF-8 bytes.
    public static let maxIdentifierBytes = 128
    public static let maxLabels = 64
    public static let maxLabelKeyBytes = 128
    public static let maxLabelValueBytes = 256
    public static let maxDatasets = 256
    public static let maxDatasetDescriptionBytes = 1024
    public static let maxEngines = 8
    public static let maxVersionBytes = 64
    public static let maxWasmRuntimeBytes = 32
    /// 10,000 cores.
    public static let maxCPUMillis = 10_000_000
    /// 64 PiB.
    public static let maxMemoryBytes: Int64 = 1 << 56
}

/// Why a node's advertised info was refused: the offending field (a path such as
/// `datasets[3].name`) and what is wrong with it.
public struct NodeInfoProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension NodeInfo {
    /// The first field that breaks `NodeInfoLimits`, or nil when the info is acceptable.
    /// Pure: the same info always gives the same answer.
    public func validationProblem() -> NodeInfoProblem? {
        if let problem = Self.checkText(id.rawValue, field: "id", max: NodeInfoLimits.maxIdentifierBytes) { return problem }
        if let problem = Self.checkText(name, field: "name", max: NodeInfoLimits.maxIdentifierBytes) { return problem }
        if let problem = Self.checkLabels(labels, field: "labels") { return problem }
        if resources.cpuMillis < 0 || resources.cpuMillis > NodeInfoLimits.maxCPUMillis {
            return NodeInfoProblem(
                field: "resources.cpuMillis",
                message: "\(resources.cpuMillis) is outside 0...\(NodeInfoLimits.maxCPUMillis)")
        }
        if resources.memoryBytes < 0 || resources.memoryBytes > NodeInfoLimits.maxMemoryBytes {
            return NodeInfoProblem(
                field: "resources.memoryBytes",
                message: "\(resources.memoryBytes) is outside 0...\(NodeInfoLimits.maxMemoryBytes)")
        }
        if datasets.count > NodeInfoLimits.maxDatasets {
            return NodeInfoProblem(
                field: "datasets", message: "\(datasets.count) datasets, at most \(NodeInfoLimits.maxDatasets) are allowed")
        }
        var seen = Set<String>()
        for (index, dataset) in datasets.enumerated() {
            let field = "datasets[\(index)]"
            if let problem = Self.checkText(dataset.name, field: field + ".name", max: NodeInfoLimits.maxIdentifierBytes) {
                return problem
            }
            if !seen.insert(dataset.name).inserted {
                return NodeInfoProblem(field: field + ".name", message: "dataset \"\(dataset.name)\" is listed twice")
            }
            if let description = dataset.description, description.utf8.count > NodeInfoLimits.maxDatasetDescriptionBytes {
                return NodeInfoProblem(
                    field: field + ".description",
                    message: "\(description.utf8.count) bytes, at most \(NodeInfoLimits.maxDatasetDescriptionBytes) are allowed")
            }
            if let problem = Self.checkLabels(dataset.labels, field: field + ".labels") { return problem }
        }
        if engines.count > NodeInfoLimits.maxEngines {
            return NodeInfoProblem(field: "engines", message: "\(engines.count) entries, at most \(NodeInfoLimits.maxEngines) are allowed")
        }
        if let runtime = wasmRuntime,
            runtime.utf8.count > NodeInfoLimits.maxWasmRuntimeBytes || runtime.unicodeScalars.contains(where: Self.isControl)
        {
            return NodeInfoProblem(
                field: "wasmRuntime", message: "must be at most \(NodeInfoLimits.maxWasmRuntimeBytes) bytes without control characters")
        }
        if version.utf8.count > NodeInfoLimits.maxVersionBytes || version.unicodeScalars.contains(where: Self.isControl) {
            return NodeInfoProblem(
                field: "version", message: "must be at most \(NodeInfoLimits.maxVersionBytes) bytes without control characters")
        }
        if let digest = policyDigest,
            digest.utf8.count > NodePolicyLimits.maxDigestBytes || digest.unicodeScalars.contains(where: Self.isControl)
        {
            return NodeInfoProblem(
                field: "policyDigest", message: "must be at most \(NodePolicyLimits.maxDigestBytes) bytes without control characters")
        }
        if let policy, let problem = Self.checkPolicy(policy) { return problem }
        return nil
    }

    /// Bounded counts and texts, and every namespace, digest and host well formed: the scheduler
    /// evaluates this policy for every job it considers for the node.
    private static func checkPolicy(_ policy: NodePolicy) -> NodeInfoProblem? {
        if let engines = policy.engines, engines.count > NodeInfoLimits.maxEngines {
            return NodeInfoProblem(field: "policy.engines", message: "\(engines.count) entries, at most \(NodeInfoLimits.maxEngines) are allowed")
        }
        if policy.datasets.count > NodePolicyLimits.maxDatasetRules {
            return NodeInfoProblem(
                field: "policy.datasets", message: "\(policy.datasets.count) rules, at most \(NodePolicyLimits.maxDatasetRules) are allowed")
        }
        for name in policy.datasets.keys.sorted() {
            let field = "policy.datasets.\(name.prefix(NodeInfoLimits.maxIdentifierBytes))"
            if let problem = checkText(name, field: field, max: NodeInfoLimits.maxIdentifierBytes) { return problem }
            let rule = policy.datasets[name] ?? NodePolicy.DatasetRule()
            if let namespaces = rule.namespaces {
                if namespaces.count > NodePolicyLimits.maxNamespacesPerDataset {
                    return NodeInfoProblem(
                        field: field + ".namespaces",
                        message: "\(namespaces.count) entries, at most \(NodePolicyLimits.maxNamespacesPerDataset) are allowed")
                }
                for namespace in namespaces where Namespace.problem(in: namespace) != nil {
                    return NodeInfoProblem(field: field + ".namespaces", message: "an entry is not a namespace")
                }
            }
            if let modules = rule.modules, modules.count > NodePolicyLimits.maxModulesPerDataset {
                return NodeInfoProblem(
                    field: field + ".modules", message: "\(modules.count) entries, at most \(NodePolicyLimits.maxModulesPerDataset) are allowed")
            }
            if let keys = rule.trustedKeys {
                if keys.count > NodePolicyLimits.maxKeysPerDataset {
                    return NodeInfoProblem(
                        field: field + ".trustedKeys", message: "\(keys.count) entries, at most \(NodePolicyLimits.maxKeysPerDataset) are allowed")
                }
                for key in keys {
                    if let problem = checkText(key, field: field + ".trustedKeys", max: NodePolicyLimits.maxKeyBytes) { return problem }
                }
            }
        }
        if let hosts = policy.moduleHosts {
            if hosts.count > NodePolicyLimits.maxModuleHosts {
                return NodeInfoProblem(
                    field: "policy.moduleHosts", message: "\(hosts.count) entries, at most \(NodePolicyLimits.maxModuleHosts) are allowed")
            }
            for host in hosts {
                if let problem = checkText(host, field: "policy.moduleHosts", max: NodePolicyLimits.maxHostBytes) { return problem }
            }
        }
        if let maxBytes = policy.output.maxBytes, maxBytes < 0 {
            return NodeInfoProblem(field: "policy.output.maxBytes", message: "must not be negative")
        }
        return nil
    }

    private static func checkLabels(_ labels: Labels, field: String) -> NodeInfoProblem? {
        if labels.count > NodeInfoLimits.maxLabels {
            return NodeInfoProblem(field: field, message: "\(labels.count) labels, at most \(NodeInfoLimits.maxLabels) are allowed")
        }
        // Sorted so the problem reported for the same info is always the same one.
        for key in labels.keys.sorted() {
            if let problem = checkText(key, field: "\(field) key", max: NodeInfoLimits.maxLabelKeyBytes) { return problem }
            let value = labels[key] ?? ""
            if value.utf8.count > NodeInfoLimits.maxLabelValueBytes || value.unicodeScalars.contains(where: isControl) {
                return NodeInfoProblem(
                    field: "\(field).\(key)",
                    message: "the value must be at most \(NodeInfoLimits.maxLabelValueBytes) bytes without control characters")
            }
        }
        return nil
    }

    /// Non-empty, bounded, and free of control characters (they would garble logs and tables).
    private static func checkText(_ text: String, field: String, max: Int) -> NodeInfoProblem? {
        if text.isEmpty { return NodeInfoProblem(field: field, message: "must not be empty") }
        if text.utf8.count > max {
            return NodeInfoProblem(field: field, message: "\(text.utf8.count) bytes, at most \(max) are allowed")
        }
        if text.unicodeScalars.contains(where: isControl) {
            return NodeInfoProblem(field: field, message: "must not contain control characters")
        }
        return nil
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
