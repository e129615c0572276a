public import InsituModel

/// Writes a validated `JobSpec` back as a job spec document (docs/JOBSPEC.md), the inverse of
/// `JobSpecParser`: `parse(write(spec)) == spec` for every spec the parser accepts. This is what
/// lets `insitu job describe -o yaml` output be submitted again with `insitu job run`: the stored
/// spec speaks the model's field names (`timeoutMillis`, `engine.kind`), which the document
/// format does not accept.
///
/// The document is JSON (which YAML reads too), with keys sorted, values in the document's own
/// notations (`30m`, `64Mi`, `500m`) and every default written out, so it says exactly what runs.
/// A module is named by its digest (`sha256:...`), as the orchestrator stored it.
public enum JobSpecWriter {
    public static func document(_ spec: JobSpec) -> String {
        write(value(spec))
    }

    // MARK: - The document as a value

    indirect enum Value {
        case string(String)
        case integer(Int64)
        case number(Double)
        case bool(Bool)
        case list([Value])
        case mapping([(String, Value)])
    }

    static func value(_ spec: JobSpec) -> Value {
        var fields: [(String, Value)] = [
            ("version", .string(spec.version)),
            ("name", .string(spec.name)),
            ("namespace", .string(spec.namespace)),
            ("type", .string(spec.type.rawValue)),
            ("engine", engine(spec.engine)),
            ("resources", .mapping([("cpu", .string("\(spec.resources.cpuMillis)m")), ("memory", .string(size(spec.resources.memoryBytes)))])),
        ]
        // `count` is a problem for an ops job, which runs once per matching node.
        if spec.type == .batch { fields.append(("count", .integer(Int64(spec.count)))) }
        if !spec.constraints.isEmpty {
            fields.append(
                (
                    "constraints",
                    .list(
                        spec.constraints.map {
                            .mapping([("key", .string($0.key)), ("operator", .string($0.operator.rawValue)), ("values", .list($0.values.map(Value.string)))])
                        })
                ))
        }
        if !spec.inputs.isEmpty {
            fields.append(
                (
                    "inputs",
                    .list(
                        spec.inputs.map { input in
                            switch input.source {
                            case .dataset(let name): .mapping([("dataset", .string(name)), ("target", .string(input.target))])
                            case .inline(let content): .mapping([("inline", .string(content)), ("target", .string(input.target))])
                            }
                        })
                ))
        }
        // The sql engine refuses `args` and `env` even when empty-handed, so they appear only when set.
        if !spec.args.isEmpty { fields.append(("args", .list(spec.args.map(Value.string)))) }
        if !spec.env.isEmpty { fields.append(("env", .mapping(spec.env.map { ($0.key, Value.string($0.value)) }))) }
        if let timeout = spec.timeoutMillis { fields.append(("timeout", .string(duration(timeout)))) }
        if let queueTimeout = spec.queueTimeoutMillis { fields.append(("queueTimeout", .string(duration(queueTimeout)))) }
        if !spec.outputs.isEmpty {
            fields.append(("outputs", .list(spec.outputs.map { .mapping([("name", .string($0.name)), ("path", .string($0.path))]) })))
        }
        if let retry = spec.retry {
            fields.append(
                (
                    "retry",
                    .mapping([
                        ("attempts", .integer(Int64(retry.attempts))), ("delay", .string(duration(retry.delayMillis))),
                        ("backoff", .number(retry.backoff)), ("maxDelay", .string(duration(retry.maxDelayMillis))),
                    ])
                ))
        }
        if let nodeLoss = spec.nodeLoss {
            fields.append(("nodeLoss", .mapping([("action", .string(nodeLoss.action.rawValue)), ("grace", .string(duration(nodeLoss.graceMillis)))])))
        }
        return .mapping(fields)
    }

    static func engine(_ engine: EngineSpec) -> Value {
        var fields: [(String, Value)] = [("type", .string(engine.kind.rawValue))]
        switch engine.kind {
        case .wasm:
            guard let wasm = engine.wasm else { break }
            if let url = wasm.module.url {
                fields += [("module", .string(url)), ("sha256", .string(wasm.module.digest.rawValue))]
            } else {
                fields.append(("module", .string("sha256:" + wasm.module.digest.rawValue)))
            }
            fields += [("entrypoint", .string(wasm.entrypoint)), ("memory", .string(size(wasm.memoryLimitBytes)))]
            if let fuel = wasm.fuel {
                // Fuel is at most 2^63-1 (docs/JOBSPEC.md), so it fits.
                fields.append(("fuel", Int64(exactly: fuel).map(Value.integer) ?? .string(String(fuel))))
            }
            if let signature = wasm.signature { fields.append(("signature", .string(signature))) }
        case .process:
            if let process = engine.process { fields.append(("command", .string(process.command))) }
        case .container:
            guard let container = engine.container else { break }
            fields.append(("image", .string(container.image)))
            if !container.command.isEmpty { fields.append(("command", .list(container.command.map(Value.string)))) }
        case .sql:
            guard let sql = engine.sql else { break }
            fields += [("query", .string(sql.query)), ("memory", .string(size(sql.memoryLimitBytes)))]
            if let maxRows = sql.maxRows { fields.append(("maxRows", .integer(maxRows))) }
        }
        return .mapping(fields)
    }

    /// `1h30m`, `45s`, `250ms`: the largest units that say it exactly (the CLI shows durations so too).
    public static func duration(_ millis: Int64) -> String {
        guard millis % 1000 == 0 else { return "\(millis)ms" }
        var seconds = millis / 1000
        var text = ""
        if seconds >= 3600 {
            text += "\(seconds / 3600)h"
            seconds %= 3600
        }
        if seconds >= 60 {
            text += "\(seconds / 60)m"
            seconds %= 60
        }
        if seconds > 0 || text.isEmpty { text += "\(seconds)s" }
        return text
    }

    /// `64Mi`, `1Gi`, `1536Ki`, or plain bytes: the largest binary unit that says it exactly.
    static func size(_ bytes: Int64) -> String {
        for (unit, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] where bytes != 0 && bytes % (Int64(1) << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }

    // MARK: - JSON text

    static func write(_ value: Value, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .string(let text): return quoted(text)
        case .integer(let number): return String(number)
        case .number(let number):
            // Whole numbers without a fraction (`2`, not `2.0`); the parser reads both.
            if number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
            return "\(number)"
        case .bool(let flag): return flag ? "true" : "false"
        case .list(let items):
            guard !items.isEmpty else { return "[]" }
            return "[\n" + items.map { inner + write($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .mapping(let fields):
            guard !fields.isEmpty else { return "{}" }
            return "{\n"
                + fields.sorted { $0.0 < $1.0 }.map { inner + quoted($0.0) + ": " + write($0.1, indent: inner) }.joined(separator: ",\n")
                + "\n" + indent + "}"
        }
    }

    /// A JSON string: `"`, `\` and every control character escaped, the rest as is (UTF-8).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
                    || scalar.value == 0x2028 || scalar.value == 0x2029
                {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
