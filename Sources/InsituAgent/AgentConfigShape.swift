/// The structure of a node config: sections that must be mappings, values that must be strings,
/// and the keys each section may hold. `AgentConfig.parse` checks the values it reads; this
/// catches what reading alone would pass over (a misspelt key in a dataset, `engines.wsam`, a
/// `labels:` list, `data_dir: 5`), so a config that says something this agent does not act on
/// is refused instead of silently half-applied.
enum AgentConfigShape {
    static let datasetKeys = ["name", "path", "description", "labels"]
    static let sections: [(path: String, keys: [String]?)] = [
        ("resources", ["cpu", "memory"]),
        ("engines", ["process", "wasm", "container", "sql"]),
        ("engines.process", nil), ("engines.wasm", nil), ("engines.sql", nil),
        ("limits", nil), ("modules", nil), ("connection", nil), ("identity", nil),
    ]
    static let strings = [
        "name", "orchestrator", "orchestrator_ca", "data_dir", "metrics_listen", "engines.wasm.isolation", "engines.wasm.runtime",
        "engines.wasm.wasmtime_library",
    ]

    static func problems(in root: [String: Any]) -> [String] {
        var problems: [String] = []
        for (path, keys) in sections {
            guard let value = lookup(path, in: root) else { continue }
            guard let section = value as? [String: Any] else {
                problems.append("\(path): expected a mapping")
                continue
            }
            if let keys {
                for key in section.keys.sorted() where !keys.contains(key) {
                    problems.append("\(path): unknown key \"\(key)\" (allowed: \(keys.joined(separator: ", ")))")
                }
            }
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
                for key in entry.keys.sorted() where !datasetKeys.contains(key) {
                    problems.append("\(path): unknown key \"\(key)\" (allowed: \(datasetKeys.joined(separator: ", ")))")
                }
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
