import Crypto
public import InsituModel

/// What an entry says about a job's code and data, the same on the orchestrator and the node.
///
/// Never values that may hold secrets: `env` is recorded by variable names only, `args` and a
/// container's command not at all, a module URL not at all (it may carry a token in its query);
/// code is identified by digest (a wasm module's sha256, a SQL query's sha256, an image reference,
/// a process engine's command path).
public enum AuditDetails {
    public static func job(_ spec: JobSpec) -> [String: AuditValue] {
        var details: [String: AuditValue] = [
            "name": .string(spec.name), "type": .string(spec.type.rawValue), "count": .int(Int64(spec.count)),
            "engine": .string(spec.engine.kind.rawValue),
        ]
        if let wasm = spec.engine.wasm { details["module_sha256"] = .string(wasm.module.digest.rawValue) }
        if let container = spec.engine.container { details["image"] = .string(container.image) }
        if let process = spec.engine.process { details["command"] = .string(process.command) }
        if let sql = spec.engine.sql {
            details["query_sha256"] = .string(Hex.encode(Array(SHA256.hash(data: Array(sql.query.utf8)))))
        }
        let datasets = spec.datasetNames
        if !datasets.isEmpty { details["datasets"] = .list(datasets.map { .string($0) }) }
        if !spec.env.isEmpty { details["env_names"] = .list(spec.env.keys.sorted().map { .string($0) }) }
        if !spec.outputs.isEmpty { details["outputs"] = .list(spec.outputs.map { .string($0.name) }) }
        return details
    }

    /// One result file: its path in the result, sha256 and size in bytes.
    public static func file(path: String, sha256: String, size: Int64) -> AuditValue {
        .object(["path": .string(path), "sha256": .string(sha256), "size": .int(size)])
    }
}
