/// The structure of a node config: sections that must be mappings, values that must be strings,
/// and the keys each section may hold. `AgentConfig.parse` checks the values it reads; this
/// catches what reading alone would pass over (a misspelt key in a dataset, `engines.wsam`, a
/// `labels:` list, `data_dir: 5`), so a config that says something this agent does not act on
/// is refused instead of silently half-applied.
enum AgentConfigShape {
    /// Every key path the node config may hold, the one list the unknown-key checks of every
    /// section are drawn from (and docs/OPERATIONS.md, "Node config reference", is checked
    /// against): a key the parser reads but this list lacks is refused, so it cannot be left out.
    /// `datasets[]` is each entry of the `datasets` list, `<name>` any dataset's name. The order
    /// is the order the "allowed:" lists of the error messages name the keys in.
    static let keyPaths = [
        "name", "orchestrator", "orchestrators", "orchestrator_ca", "join_token", "join_token_file", "data_dir", "metrics_listen",
        "labels",
        "datasets[].name", "datasets[].path", "datasets[].description", "datasets[].labels",
        "resources.cpu", "resources.memory",
        "engines.process.enabled", "engines.process.sandbox", "engines.process.user", "engines.process.cgroup_parent",
        "engines.process.bwrap", "engines.process.system_paths",
        "engines.wasm.isolation", "engines.wasm.runtime", "engines.wasm.wasmtime_library",
        "engines.container.socket", "engines.container.allowed_images", "engines.container.pids_limit",
        "engines.sql.enabled", "engines.sql.max_rows",
        "limits.outputs_disk",
        "modules.allowed_hosts", "modules.cross_host_redirects",
        "connection.handshake_timeout",
        "identity.renew_before",
        "policy.engines",
        "policy.datasets.<name>.namespaces", "policy.datasets.<name>.modules", "policy.datasets.<name>.trusted_keys",
        "policy.output.max_bytes", "policy.output.stdout", "policy.output.stderr",
        "policy.module_hosts",
    ]

    /// The keys directly under `section` (`""` for the top level, `datasets[]` for a dataset), in
    /// the order of `keyPaths`.
    static func keys(under section: String) -> [String] {
        let prefix = section.isEmpty ? "" : section + "."
        var names: [String] = []
        for path in keyPaths where path.hasPrefix(prefix) {
            var name = String(path.dropFirst(prefix.count).prefix { $0 != "." })
            if name.hasSuffix("[]") { name.removeLast(2) }
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// A problem for each key of the mapping at `section` that `keyPaths` does not name there;
    /// `path` is where it is in this file, when that differs (`datasets[2]` for `datasets[]`).
    static func unknownKeys(in mapping: [String: Any], section: String, at path: String? = nil) -> [String] {
        let allowed = keys(under: section)
        return mapping.keys.sorted().filter { !allowed.contains($0) }.map {
            "\(path ?? section): unknown key \"\($0)\" (allowed: \(allowed.joined(separator: ", ")))"
        }
    }

    /// Sections that must be mappings; `checksKeys` where no parser of its own checks its keys.
    static let sections: [(path: String, checksKeys: Bool)] = [
        ("resources", true), ("engines", true),
        ("engines.process", false), ("engines.wasm", false), ("engines.sql", false),
        ("limits", false), ("modules", false), ("connection", false), ("identity", false),
    ]
    static let strings = [
        "name", "orchestrator", "orchestrator_ca", "data_dir", "metrics_listen", "engines.wasm.isolation", "engines.wasm.runtime",
        "engines.wasm.wasmtime_library",
    ]

    static func problems(in root: [String: Any]) -> [String] {
        var problems: [String] = []
        for (path, checksKeys) in sections {
            guard let value = lookup(path, in: root) else { continue }
            guard let section = value as? [String: Any] else {
                problems.append("\(path): expected a mapping")
                continue
            }
            if checksKeys { problems += unknownKeys(in: section, section: path) }
        }
        for path in strings {
            if let value = lookup(path, in: root), !(value is String) { problems.append("\(path): expected a string") }
        }
        if let value = root["orchestrators"] {
            if let list = value as? [Any] {
                for (index, item) in list.enumerated() where !(item is String) {
                    problems.append("orchestrators[\(index)]: expected a URL string")
                }
            } else {
                problems.append("orchestrators: expected a list of URLs")
            }
        }
        problems += labelProblems(root["labels"], at: "labels")
        if let value = root["datasets"] {
            guard let list = value as? [Any] else { return problems + ["datasets: expected a list of datasets, each with name and path"] }
            for (index, item) in list.enumerated() {
                let path = "datasets[\(index)]"
                guard let entry = item as? [String: Any] else { continue }  // parse reports it (needs name and path)
                problems += unknownKeys(in: entry, section: "datasets[]", at: path)
                for key in ["name", "path", "description"] {
                    if let value = entry[key], !(value is String) { problems.append("\(path).\(key): expected a string") }
                }
                problems += labelProblems(entry["labels"], at: "\(path).labels")
            }
        }
        return problems
    }

    /// Labels are a mapping of names to scalar values (written as strings).
    static func labelProblems(_ value: Any?, at path: String) -> [String] {
        guard let value else { return [] }
        guard let labels = value as? [String: Any] else { return ["\(path): expected a mapping of label names to values"] }
        return labels.keys.sorted().compactMap { key in
            let label = labels[key]
            return label is String || label is Int || label is Double || label is Bool ? nil : "\(path).\(key): expected a string"
        }
    }

    /// The value at a dotted path of nested mappings, if each level is a mapping and it is there.
    static func lookup(_ path: String, in root: [String: Any]) -> Any? {
        var current: Any = root
        for part in path.split(separator: ".") {
            guard let mapping = current as? [String: Any], let next = mapping[String(part)] else { return nil }
            current = next
        }
        return current
    }
}
