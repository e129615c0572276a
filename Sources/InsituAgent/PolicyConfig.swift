import InsituModel
import InsituPolicy
import InsituSpec

/// Reads the `policy:` section of a node config (docs/POLICY.md) strictly: an unknown key, a
/// wrong type or a malformed entry is a problem with its path, never silently ignored, because a
/// policy that is not what its owner wrote protects nothing.
enum PolicyConfig {
    static let keys = AgentConfigShape.keys(under: "policy")
    static let datasetKeys = AgentConfigShape.keys(under: "policy.datasets.<name>")
    static let outputKeys = AgentConfigShape.keys(under: "policy.output")

    /// The policy in `value` (nil when the section is absent: everything is allowed).
    /// `declaredDatasets` are the names under `datasets:`; a rule for any other name is a typo.
    static func parse(_ value: Any?, declaredDatasets: [String], problems: inout [String]) -> NodePolicy {
        var policy = NodePolicy()
        guard let value else { return policy }
        guard let section = value as? [String: Any] else {
            problems.append("policy: write a mapping with any of: \(keys.joined(separator: ", "))")
            return policy
        }
        problems += AgentConfigShape.unknownKeys(in: section, section: "policy")
        if let engines = section["engines"] {
            policy.engines = strings(engines, at: "policy.engines", example: "[wasm, sql]", problems: &problems)?.compactMap { name in
                guard let kind = EngineKind(rawValue: name) else {
                    problems.append(
                        "policy.engines: \"\(name)\" is not an engine (one of: \(EngineKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                    return nil
                }
                return kind
            }
        }
        if let datasets = section["datasets"] {
            if let mapping = datasets as? [String: Any] {
                for name in mapping.keys.sorted() {
                    let path = "policy.datasets.\(name)"
                    if !declaredDatasets.contains(name) {
                        problems.append(
                            "\(path): no dataset \"\(name)\" is declared under datasets (declared: \(declaredDatasets.sorted().joined(separator: ", ")))")
                    }
                    policy.datasets[name] = datasetRule(mapping[name], at: path, problems: &problems)
                }
            } else {
                problems.append("policy.datasets: write a mapping from dataset name to its rule, e.g. {patients: {namespaces: [clinical]}}")
            }
        }
        if let output = section["output"] {
            policy.output = outputRules(output, problems: &problems)
        }
        if let hosts = section["module_hosts"] {
            policy.moduleHosts = moduleHosts(hosts, at: "policy.module_hosts", problems: &problems)
        }
        return policy.normalised()
    }

    /// A list of host names (`name` or `name:port`), as `policy.module_hosts` and the older
    /// `modules.allowed_hosts` take it.
    static func moduleHosts(_ value: Any, at path: String, problems: inout [String]) -> [String]? {
        guard let hosts = strings(value, at: path, example: "[example.org, \"10.0.0.5:8080\"]", problems: &problems) else { return nil }
        for host in hosts where host.isEmpty || host.contains("/") || host.contains(" ") || host.utf8.count > NodePolicyLimits.maxHostBytes {
            problems.append("\(path): \"\(host)\" is not a host name, like example.org or 10.0.0.5:8080")
        }
        return hosts
    }

    private static func datasetRule(_ value: Any?, at path: String, problems: inout [String]) -> NodePolicy.DatasetRule {
        var rule = NodePolicy.DatasetRule()
        guard let section = value as? [String: Any] else {
            problems.append("\(path): write a mapping with any of: \(datasetKeys.joined(separator: ", "))")
            return rule
        }
        problems += AgentConfigShape.unknownKeys(in: section, section: "policy.datasets.<name>", at: path)
        if let value = section["namespaces"] {
            rule.namespaces = strings(value, at: path + ".namespaces", example: "[clinical]", problems: &problems)
            for namespace in rule.namespaces ?? [] {
                if let problem = Namespace.problem(in: namespace) { problems.append("\(path).namespaces: \"\(namespace)\": \(problem)") }
            }
        }
        if let value = section["modules"] {
            rule.modules = strings(value, at: path + ".modules", example: "[\"sha256:<64 hex digits>\"]", problems: &problems)?.compactMap {
                text in
                let hex = text.lowercased().hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
                guard let digest = ContentDigest(rawValue: hex.lowercased()) else {
                    problems.append("\(path).modules: \"\(text)\" is not a module digest; write sha256: and the 64 hex digits of the module's SHA-256")
                    return nil
                }
                return digest
            }
        }
        if let value = section["trusted_keys"] {
            rule.trustedKeys = strings(value, at: path + ".trusted_keys", example: "[\"ed25519:<base64>\"]", problems: &problems)
            for key in rule.trustedKeys ?? [] where ModuleSignature.publicKey(key) == nil {
                problems.append("\(path).trusted_keys: \"\(key)\" is not a public key; write ed25519: and the base64 of the 32-byte Ed25519 public key")
            }
        }
        if let namespaces = rule.namespaces, namespaces.count > NodePolicyLimits.maxNamespacesPerDataset {
            problems.append("\(path).namespaces: at most \(NodePolicyLimits.maxNamespacesPerDataset) entries")
        }
        if let modules = rule.modules, modules.count > NodePolicyLimits.maxModulesPerDataset {
            problems.append("\(path).modules: at most \(NodePolicyLimits.maxModulesPerDataset) entries")
        }
        if let keys = rule.trustedKeys, keys.count > NodePolicyLimits.maxKeysPerDataset {
            problems.append("\(path).trusted_keys: at most \(NodePolicyLimits.maxKeysPerDataset) entries")
        }
        return rule
    }

    private static func outputRules(_ value: Any, problems: inout [String]) -> NodePolicy.OutputRules {
        var rules = NodePolicy.OutputRules()
        guard let section = value as? [String: Any] else {
            problems.append("policy.output: write a mapping with any of: \(outputKeys.joined(separator: ", "))")
            return rules
        }
        problems += AgentConfigShape.unknownKeys(in: section, section: "policy.output")
        if let value = section["max_bytes"] {
            if !(value is Bool), let bytes = SpecValues.parseBytes("\(value)"), bytes > 0 {
                rules.maxBytes = bytes
            } else {
                problems.append("policy.output.max_bytes: \"\(value)\" is not a positive size like 1Mi or 65536")
            }
        }
        for key in ["stdout", "stderr"] {
            guard let value = section[key] else { continue }
            guard let flag = value as? Bool else {
                problems.append("policy.output.\(key): \"\(value)\" must be true or false")
                continue
            }
            if key == "stdout" { rules.stdout = flag } else { rules.stderr = flag }
        }
        return rules
    }

    /// A YAML list of scalars as strings; nil (with a problem) for anything else.
    private static func strings(_ value: Any, at path: String, example: String, problems: inout [String]) -> [String]? {
        guard let list = value as? [Any] else {
            problems.append("\(path): write a list, e.g. \(example)")
            return nil
        }
        var result: [String] = []
        for (index, item) in list.enumerated() {
            if item is [Any] || item is [String: Any] {
                problems.append("\(path)[\(index)]: expected a plain value, found a list or mapping")
            } else {
                result.append("\(item)")
            }
        }
        return result
    }
}
