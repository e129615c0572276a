public import InsituModel
import Yams

/// Where a job spec says its WebAssembly module comes from, before it is pinned.
public enum ModuleSource: Hashable, Sendable {
    /// A path on the submitter's machine, relative to the spec file; the CLI uploads it.
    case localFile(String)
    /// A module already stored on the orchestrator (`sha256:<64 hex>`).
    case digest(ContentDigest)
    /// An http(s) URL, with the digest the spec requires beside it (nil only when the spec
    /// omitted it, which `parse` reports as a problem).
    case url(String, ContentDigest?)
}

/// Turns a job spec document (YAML, or JSON, which is YAML) into a validated `JobSpec`.
/// See docs/JOBSPEC.md for the format. Pure: no I/O; module resolution is delegated to the caller.
public enum JobSpecParser {
    /// Parses and validates `text`, collecting every problem rather than stopping at the first.
    ///
    /// `resolveModule` maps the document's module source to a pinned reference, or returns nil if
    /// it cannot; it is called at most once, and only when the module field itself is valid.
    public static func parse(_ text: String, resolveModule: (ModuleSource) -> ModuleReference?) -> Result<
        JobSpec, SpecValidationError
    > {
        var reader = DocumentReader()
        let spec = compose(text, &reader).flatMap { reader.job($0, resolveModule: resolveModule) }
        if let spec, reader.problems.isEmpty { return .success(spec) }
        if reader.problems.isEmpty {
            // Defensive: a nil spec always comes with a problem; never fail without saying why.
            reader.report("", "the job spec could not be read")
        }
        return .failure(SpecValidationError(problems: reader.reportedProblems))
    }

    /// Finds the module source without full validation (the CLI uses it to upload a local module
    /// before submitting). nil if the document or its `engine.module` is absent or unparseable.
    public static func moduleSource(in text: String) -> ModuleSource? {
        var reader = DocumentReader()
        guard let root = compose(text, &reader), case .mapping(let top) = root,
            let engineNode = top["engine"], case .mapping(let engine) = engineNode,
            let moduleNode = engine["module"]
        else { return nil }
        return reader.moduleSource(moduleNode, sha256: engine["sha256"], at: "engine")
    }

    /// The root node, or nil after reporting a syntax error or an empty document.
    /// Whether a spec that `parse` accepted names its namespace itself (rather than taking the
    /// default): a submitter's credentials may then decide it.
    public static func namesNamespace(_ text: String) -> Bool {
        guard let root = try? Yams.compose(yaml: text), let mapping = root.mapping else { return false }
        return mapping.keys.contains { $0.string == "namespace" }
    }

    private static func compose(_ text: String, _ reader: inout DocumentReader) -> Node? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            if case .duplicatedKeysInMapping = error {
                reader.report("", syntaxMessage(error), hint: "give each key once per mapping")
            } else {
                reader.report("", syntaxMessage(error), hint: "fix the YAML syntax at that position")
            }
            return nil
        } catch {
            reader.report("", "the document is not valid YAML: \(error)")
            return nil
        }
        guard let root, !DocumentReader.isNull(root) else {
            reader.report("", "the document is empty", hint: "a job spec is a mapping starting with `version: v1`; see docs/JOBSPEC.md")
            return nil
        }
        return root
    }

    private static func syntaxMessage(_ error: YamlError) -> String {
        func located(_ mark: Mark, _ context: YamlError.Context?, _ problem: String) -> String {
            let detail = context.map { "\($0.text): " } ?? ""
            return "YAML syntax error at line \(mark.line), column \(mark.column): \(detail)\(problem)"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return located(mark, context, problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            return "YAML error at line \(context.mark.line), column \(context.mark.column): duplicate key \(keys) in a mapping"
        case .reader(let problem, let offset, _, _):
            return "the document cannot be read: \(problem)" + (offset.map { " at offset \($0)" } ?? "")
        default:
            return "the document is not valid YAML: \(error)"
        }
    }
}

// MARK: - The job document

extension DocumentReader {
    static let topKeys = [
        "version", "name", "namespace", "type", "count", "constraints", "inputs", "engine", "args", "env", "resources",
        "timeout", "outputs", "retry", "nodeLoss", "queueTimeout",
    ]
    static let retryKeys = ["attempts", "delay", "backoff", "maxDelay"]
    static let nodeLossKeys = ["action", "grace"]
    static let engineCommonKeys = ["type"]
    static let wasmKeys = ["module", "sha256", "entrypoint", "memory", "fuel", "signature"]
    static let processKeys = ["command"]
    static let containerKeys = ["image", "command"]
    static let maxCommand = 256
    static let sqlKeys = ["query", "memory", "maxRows"]

    static let maxCount: Int64 = 10_000
    static let minWasmMemory: Int64 = 64 << 10
    static let maxWasmMemory: Int64 = 4 << 30
    static let maxTimeoutMillis: Int64 = 24 * 3_600_000
    /// Entry limits (docs/JOBSPEC.md, "Limits"): far above what a real job needs, low enough that
    /// no spec can make the orchestrator or a node do unbounded work.
    static let maxConstraints = 64
    static let maxConstraintValues = 256
    static let maxInputs = 64
    static let maxOutputs = 64
    static let maxArgs = 1_024
    static let maxEnv = 256
    static let maxQueryBytes = 64 << 10
    static let minSQLMemory: Int64 = 8 << 20
    static let maxSQLMemory: Int64 = 64 << 30
    static let maxSQLRows: Int64 = 100_000_000

    /// Reads the whole document. Returns nil only when nothing useful could be built; callers must
    /// still treat any recorded problem as failure.
    mutating func job(_ root: Node, resolveModule: (ModuleSource) -> ModuleReference?) -> JobSpec? {
        guard case .mapping = root else {
            report(
                "", "expected a mapping at the top level, found \(Self.describe(root))",
                hint: "a job spec is a mapping with keys such as version, name and engine; see docs/JOBSPEC.md")
            return nil
        }
        guard let top = fields(of: root, at: "", allowed: Self.topKeys) else { return nil }

        // version
        if let node = top["version"] {
            if let version = string(node, at: "version"), version != "v1" {
                report("version", "unsupported version \"\(Self.quote(version))\"", hint: "the only version is v1: write `version: v1`")
            }
        } else {
            missing("version", in: top, hint: "add `version: v1`")
        }

        // name
        var name = ""
        if let node = top["name"] {
            if let text = string(node, at: "name") {
                name = text
                validateJobName(text)
            }
        } else {
            missing("name", in: top, hint: "add a name such as `name: count-conditions`")
        }

        let namespace = top["namespace"].flatMap { self.namespace($0, at: "namespace") } ?? JobSpec.defaultNamespace

        // type and count
        var type = JobType.batch
        var typeKnown = true
        if let node = top["type"], let text = string(node, at: "type") {
            if let parsed = JobType(rawValue: text) {
                type = parsed
            } else {
                typeKnown = false
                report("type", "unknown job type \"\(Self.quote(text))\"", hint: choiceHint(text, JobType.allCases.map(\.rawValue)))
            }
        }
        var count = 1
        if let node = top["count"] {
            if type == .ops && typeKnown {
                report("count", "count applies only to batch jobs", hint: "remove it: an ops job runs once on every matching node")
            } else if let value = integer(node, at: "count") {
                if (1...Self.maxCount).contains(value) {
                    count = Int(value)
                } else {
                    report("count", "count \(value) is out of range", hint: "use a count from 1 to \(Self.maxCount)")
                }
            }
        }

        let constraints = top["constraints"].map { self.constraints($0, at: "constraints") } ?? []

        // inputs and outputs share one namespace of sandbox paths.
        var usedPaths: [String: String] = [:]
        let inputs = top["inputs"].map { self.inputs($0, at: "inputs", usedPaths: &usedPaths) } ?? []

        var engine: EngineSpec?
        if let node = top["engine"] {
            engine = self.engine(node, at: "engine", resolveModule: resolveModule)
        } else {
            missing("engine", in: top, hint: "add an engine mapping, e.g. `engine: { type: wasm, module: ./job.wasm }`")
        }

        var args: [String] = []
        if let node = top["args"], let items = list(node, at: "args", limit: Self.maxArgs, hint: "write args as a list, e.g. args: [\"--by\", \"condition\"]") {
            for (index, item) in items.enumerated() {
                if let text = string(item, at: Self.index("args", index)) { args.append(text) }
            }
        }

        let env = top["env"].map { self.env($0, at: "env") } ?? [:]
        let resources = top["resources"].map { self.resources($0, at: "resources") } ?? JobSpec.defaultResources

        var timeoutMillis: Int64?
        if let node = top["timeout"] {
            timeoutMillis = duration(node, at: "timeout")
            if let value = timeoutMillis, !(1...Self.maxTimeoutMillis).contains(value) {
                report("timeout", "timeout must be greater than 0 and at most 24h", hint: "use a duration such as 30s, 5m or 1h")
            }
        }

        var outputs = top["outputs"].map { self.outputs($0, at: "outputs", usedPaths: &usedPaths) } ?? []
        let retry = top["retry"].map { self.retry($0, at: "retry", type: type) }
        let nodeLoss = top["nodeLoss"].map { self.nodeLoss($0, at: "nodeLoss", type: type) }
        var queueTimeoutMillis: Int64?
        if let node = top["queueTimeout"] {
            queueTimeoutMillis = duration(node, at: "queueTimeout")
            if let value = queueTimeoutMillis, !(1...Self.maxQueueTimeoutMillis).contains(value) {
                report("queueTimeout", "queueTimeout must be greater than 0 and at most 30 days", hint: "use a duration such as 10m or 24h")
            }
        }

        guard var engine else { return nil }
        if engine.kind == .sql {
            sqlJob(&engine, top: top, resources: resources, outputs: &outputs, usedPaths: usedPaths)
        }
        return JobSpec(
            version: "v1", name: name, namespace: namespace, type: type, count: count, constraints: constraints, inputs: inputs,
            engine: engine, args: args, env: env, resources: resources, timeoutMillis: timeoutMillis,
            outputs: outputs, retry: retry, nodeLoss: nodeLoss, queueTimeoutMillis: queueTimeoutMillis)
    }

    static let maxQueueTimeoutMillis: Int64 = 30 * 24 * 3_600_000
    static let maxRetryDelayMillis: Int64 = 24 * 3_600_000
    static let maxGraceMillis: Int64 = 7 * 24 * 3_600_000

    /// `retry: {attempts, delay, backoff, maxDelay}`; what is left out keeps the job type's default.
    private mutating func retry(_ node: Node, at path: String, type: JobType) -> RetryPolicy {
        var policy = RetryPolicy.default(for: type)
        guard let fields = fields(of: node, at: path, allowed: Self.retryKeys) else { return policy }
        if let value = fields["attempts"].flatMap({ integer($0, at: fields.path("attempts")) }) {
            if (1...Int64(RetryPolicy.maxAttempts)).contains(value) {
                policy.attempts = Int(value)
            } else {
                report(
                    fields.path("attempts"), "attempts \(value) is out of range",
                    hint: "use 1 (no retry) to \(RetryPolicy.maxAttempts); attempts counts the first run too")
            }
        }
        if let value = fields["delay"].flatMap({ duration($0, at: fields.path("delay")) }) {
            if (0...Self.maxRetryDelayMillis).contains(value) { policy.delayMillis = value } else {
                report(fields.path("delay"), "delay must be at most 24h", hint: "use a duration such as 1s or 30s")
            }
        }
        if let value = fields["maxDelay"].flatMap({ duration($0, at: fields.path("maxDelay")) }) {
            if (0...Self.maxRetryDelayMillis).contains(value) { policy.maxDelayMillis = value } else {
                report(fields.path("maxDelay"), "maxDelay must be at most 24h", hint: "use a duration such as 1m")
            }
        }
        if let backoffNode = fields["backoff"] {
            let backoffPath = fields.path("backoff")
            if case .scalar(let scalar) = backoffNode, let factor = Double(scalar.string), factor.isFinite, (1...10).contains(factor) {
                policy.backoff = factor
            } else {
                report(backoffPath, "backoff must be a number from 1 to 10", hint: "each wait is the previous one times backoff, e.g. 2")
            }
        }
        return policy
    }

    /// `nodeLoss: {action: replace | wait, grace}`.
    private mutating func nodeLoss(_ node: Node, at path: String, type: JobType) -> NodeLossPolicy {
        var policy = NodeLossPolicy.default(for: type)
        guard let fields = fields(of: node, at: path, allowed: Self.nodeLossKeys) else { return policy }
        if let actionNode = fields["action"], let text = string(actionNode, at: fields.path("action")) {
            if let action = NodeLossPolicy.Action(rawValue: text) {
                policy.action = action
            } else {
                report(
                    fields.path("action"), "unknown action \"\(Self.quote(text))\"",
                    hint: choiceHint(text, NodeLossPolicy.Action.allCases.map(\.rawValue)))
            }
        }
        if let value = fields["grace"].flatMap({ duration($0, at: fields.path("grace")) }) {
            if (1...Self.maxGraceMillis).contains(value) { policy.graceMillis = value } else {
                report(fields.path("grace"), "grace must be greater than 0 and at most 7 days", hint: "use a duration such as 2m or 1h")
            }
        }
        return policy
    }

    /// `namespace: NAME`; nil after reporting a problem.
    private mutating func namespace(_ node: Node, at path: String) -> String? {
        guard let text = string(node, at: path) else { return nil }
        if let problem = Namespace.problem(in: text) {
            report(
                path, "invalid namespace \"\(Self.quote(text))\": \(problem)",
                hint: "use 1 to 63 lowercase letters, digits and '-', e.g. clinical-research; omit it for `default`")
            return nil
        }
        return text
    }

    private mutating func validateJobName(_ name: String) {
        if name.count > 63 {
            report("name", "name \"\(Self.quote(name))\" is \(name.count) characters long; at most 63 are allowed", hint: "shorten it")
        } else if !SpecValues.isJobName(name) {
            report(
                "name", "invalid name \"\(Self.quote(name))\"",
                hint: "use lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. count-conditions")
        }
    }

    private func choiceHint(_ value: String, _ choices: [String]) -> String {
        let list = "one of: \(choices.joined(separator: ", "))"
        return Suggestion.closest(to: value, among: choices).map { "did you mean \($0)? \(list)" } ?? list
    }

    // MARK: Constraints

    static let constraintKeys = ["key", "operator", "values", "value"]
    static let constraintForms = "write \"key = value\", \"key != value\", \"key in (a, b)\", \"key notin (a, b)\", \"key\" or \"!key\""

    private mutating func constraints(_ node: Node, at path: String) -> [LabelConstraint] {
        guard let items = list(node, at: path, limit: Self.maxConstraints, hint: "write constraints as a list, e.g. constraints: [\"region = eu\"]") else {
            return []
        }
        var result: [LabelConstraint] = []
        for (index, item) in items.enumerated() {
            let itemPath = Self.index(path, index)
            switch item {
            case .scalar where !Self.isNull(item):
                let text = item.scalar?.string ?? ""
                switch SpecValues.constraint(text) {
                case .success(let constraint): result.append(constraint)
                case .failure(let error):
                    report(itemPath, "invalid constraint \"\(Self.quote(text))\": \(error.reason)", hint: Self.constraintForms)
                }
            case .mapping:
                if let constraint = constraintMapping(item, at: itemPath) { result.append(constraint) }
            default:
                report(itemPath, "expected a constraint string or mapping, found \(Self.describe(item))", hint: Self.constraintForms)
            }
        }
        return result
    }

    private mutating func constraintMapping(_ node: Node, at path: String) -> LabelConstraint? {
        guard let fields = fields(of: node, at: path, allowed: Self.constraintKeys) else { return nil }
        var key: String?
        if let keyNode = fields["key"] {
            if let text = string(keyNode, at: fields.path("key")) {
                if SpecValues.isLabelKey(text) {
                    key = text
                } else {
                    report(fields.path("key"), "invalid label key \"\(Self.quote(text))\"", hint: "label keys match [A-Za-z0-9][-A-Za-z0-9_./]*")
                }
            }
        } else {
            missing("key", in: fields)
        }

        var op: ConstraintOperator?
        let operators = ConstraintOperator.allCases.map(\.rawValue)
        if let opNode = fields["operator"] {
            if let text = string(opNode, at: fields.path("operator")) {
                op = ConstraintOperator(rawValue: text)
                if op == nil {
                    report(fields.path("operator"), "unknown operator \"\(Self.quote(text))\"", hint: choiceHint(text, operators))
                }
            }
        } else {
            missing("operator", in: fields, hint: "one of: \(operators.joined(separator: ", "))")
        }

        var values: [String]?
        var valuesPath = fields.path("values")
        if fields["value"] != nil && fields["values"] != nil {
            report(fields.path("value"), "give either value or values, not both")
        } else if let valueNode = fields["value"] {
            valuesPath = fields.path("value")
            values = string(valueNode, at: valuesPath).map { [$0] }
        } else if let valuesNode = fields["values"] {
            if let items = list(valuesNode, at: valuesPath, limit: Self.maxConstraintValues) {
                var collected: [String] = []
                for (index, item) in items.enumerated() {
                    let itemPath = Self.index(valuesPath, index)
                    if let text = string(item, at: itemPath) {
                        if text.isEmpty { report(itemPath, "label values must not be empty") } else { collected.append(text) }
                    }
                }
                values = collected.count == items.count ? collected : nil
            }
        } else {
            values = []
        }
        if let value = values, value.count == 1, value[0].isEmpty {
            report(valuesPath, "label values must not be empty")
            values = nil
        }

        guard let key, let op, let values else { return nil }
        switch op {
        case .equals, .notEquals:
            guard values.count == 1 else {
                report(valuesPath, "operator \(op.rawValue) needs exactly one value, found \(values.count)", hint: "write `value: x`")
                return nil
            }
        case .in, .notIn:
            guard !values.isEmpty else {
                report(valuesPath, "operator \(op.rawValue) needs at least one value", hint: "write `values: [a, b]`")
                return nil
            }
        case .exists, .doesNotExist:
            guard values.isEmpty else {
                report(valuesPath, "operator \(op.rawValue) takes no values", hint: "remove the values")
                return nil
            }
        }
        return LabelConstraint(key: key, operator: op, values: values)
    }

    // MARK: Inputs and outputs

    static let inputKeys = ["dataset", "inline", "target"]
    static let outputKeys = ["name", "path"]

    private mutating func inputs(_ node: Node, at path: String, usedPaths: inout [String: String]) -> [InputSpec] {
        guard let items = list(node, at: path, limit: Self.maxInputs, hint: "write inputs as a list of mappings, e.g. - { dataset: patients, target: /data }") else {
            return []
        }
        var result: [InputSpec] = []
        for (index, item) in items.enumerated() {
            let itemPath = Self.index(path, index)
            guard let fields = fields(of: item, at: itemPath, allowed: Self.inputKeys) else { continue }
            var source: InputSpec.Source?
            switch (fields["dataset"], fields["inline"]) {
            case (let dataset?, nil):
                if let name = string(dataset, at: fields.path("dataset")) {
                    if SpecValues.isDatasetName(name) {
                        source = .dataset(name: name)
                    } else {
                        report(
                            fields.path("dataset"), "invalid dataset name \"\(Self.quote(name))\"",
                            hint: "dataset names match [a-zA-Z0-9][-a-zA-Z0-9_.]*")
                    }
                }
            case (nil, let inline?):
                source = string(inline, at: fields.path("inline")).map { .inline(content: $0) }
            case (_?, _?):
                report(itemPath, "an input has either dataset or inline, not both", hint: "split it into two inputs")
            case (nil, nil):
                report(itemPath, "missing the input source", hint: "add `dataset: NAME` or `inline: TEXT`")
            }
            let target = sandboxPath(fields, key: "target", usedPaths: &usedPaths)
            if let source, let target { result.append(InputSpec(source: source, target: target)) }
        }
        return result
    }

    private mutating func outputs(_ node: Node, at path: String, usedPaths: inout [String: String]) -> [OutputSpec] {
        guard let items = list(node, at: path, limit: Self.maxOutputs, hint: "write outputs as a list of mappings, e.g. - { name: results, path: /outputs }") else {
            return []
        }
        var result: [OutputSpec] = []
        var names: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let itemPath = Self.index(path, index)
            guard let fields = fields(of: item, at: itemPath, allowed: Self.outputKeys) else { continue }
            var name: String?
            if let node = fields["name"] {
                if let text = string(node, at: fields.path("name")) {
                    if !SpecValues.isOutputName(text) {
                        report(fields.path("name"), "invalid output name \"\(Self.quote(text))\"", hint: "output names match [a-z0-9][-a-z0-9_]*")
                    } else if let other = names[text] {
                        report(fields.path("name"), "output name \"\(text)\" is already used by \(other)", hint: "give every output its own name")
                    } else {
                        names[text] = fields.path("name")
                        name = text
                    }
                }
            } else {
                missing("name", in: fields, hint: "add a name such as `name: results`")
            }
            let outputPath = sandboxPath(fields, key: "path", usedPaths: &usedPaths)
            if let name, let outputPath { result.append(OutputSpec(name: name, path: outputPath)) }
        }
        return result
    }

    /// A required absolute sandbox path, normalised (no `.`, no repeated or trailing `/`), unique
    /// across inputs and outputs.
    private mutating func sandboxPath(_ fields: Fields, key: String, usedPaths: inout [String: String]) -> String? {
        let path = fields.path(key)
        guard let node = fields[key] else {
            missing(key, in: fields, hint: "add an absolute path inside the sandbox, e.g. `\(key): /data`")
            return nil
        }
        guard let text = string(node, at: path) else { return nil }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            report(path, "\"\(Self.quote(text))\" contains a control character", hint: "sandbox paths are plain text such as /data")
            return nil
        }
        guard text.hasPrefix("/") else {
            report(path, "\"\(Self.quote(text))\" is not an absolute path", hint: "start it with '/', e.g. /\(text)")
            return nil
        }
        let components = text.split(separator: "/").filter { $0 != "." }
        guard !components.contains("..") else {
            report(path, "\"\(Self.quote(text))\" contains '..'", hint: "write the path without '..' components")
            return nil
        }
        guard !components.isEmpty else {
            report(path, "\"\(Self.quote(text))\" is the sandbox root", hint: "use a directory below it, e.g. /data")
            return nil
        }
        let normalised = "/" + components.joined(separator: "/")
        if let other = usedPaths[normalised] {
            report(path, "path \"\(normalised)\" is already used by \(other)", hint: "every input target and output path must be different")
            return nil
        }
        usedPaths[normalised] = path
        return normalised
    }

    // MARK: Engine

    private mutating func engine(_ node: Node, at path: String, resolveModule: (ModuleSource) -> ModuleReference?) -> EngineSpec? {
        guard let entries = entries(of: node, at: path) else { return nil }
        let raw = Dictionary(entries, uniquingKeysWith: { first, _ in first })

        var kind: EngineKind?
        if let typeNode = raw["type"], !Self.isNull(typeNode) {
            if let text = string(typeNode, at: Self.join(path, "type")) {
                kind = EngineKind(rawValue: text)
                if kind == nil {
                    report(Self.join(path, "type"), "unknown engine type \"\(Self.quote(text))\"", hint: choiceHint(text, EngineKind.allCases.map(\.rawValue)))
                }
            }
        } else {
            report(Self.join(path, "type"), "missing required field \"type\"", hint: "one of: \(EngineKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }

        let keysByEngine: [(kind: EngineKind, keys: [String])] = [
            (.wasm, Self.wasmKeys), (.process, Self.processKeys), (.container, Self.containerKeys),
            (.sql, Self.sqlKeys),
        ]
        let ownKeys: [String]
        if let kind {
            ownKeys = Self.engineCommonKeys + keysByEngine.filter { $0.kind == kind }.flatMap(\.keys)
        } else {
            ownKeys = Self.engineCommonKeys + keysByEngine.flatMap(\.keys)
        }
        var values: [String: Node] = [:]
        for (key, value) in entries {
            let owners = keysByEngine.filter { $0.keys.contains(key) }.map(\.kind.rawValue)
            if ownKeys.contains(key) {
                values[key] = value
            } else if kind != nil, let owner = owners.first {
                report(
                    Self.join(path, key), "\"\(key)\" applies only to the \(owners.joined(separator: " and ")) engine\(owners.count > 1 ? "s" : "")",
                    hint: "remove it, or set engine.type to \(owner)")
            } else {
                reportUnknownKey(key, at: path, allowed: ownKeys)
            }
        }
        let fields = Fields(path: path, values: values)

        switch kind {
        case .wasm: return wasm(fields, resolveModule: resolveModule).map { EngineSpec(wasm: $0) }
        case .process: return process(fields).map { EngineSpec(process: $0) }
        case .container: return container(fields).map { EngineSpec(container: $0) }
        case .sql: return sql(fields).map { EngineSpec(sql: $0) }
        case nil: return nil
        }
    }

    /// `image` (required) and `command` (a list; optional).
    private mutating func container(_ fields: Fields) -> ContainerSettings? {
        var image: String?
        if let node = fields["image"] {
            if let text = string(node, at: fields.path("image")) {
                if let problem = ImageReference.problem(in: text) {
                    report(
                        fields.path("image"), "\"\(Self.quote(text))\" is not an image reference: \(problem)",
                        hint: "write name:tag or name@sha256:<64 hex>, e.g. docker.io/library/python:3.12; the node runs only images on its allow-list")
                } else {
                    image = text
                }
            }
        } else {
            missing("image", in: fields, hint: "name the image to run, e.g. `image: docker.io/library/python:3.12`")
        }
        var command: [String] = []
        if let node = fields["command"],
            let items = list(
                node, at: fields.path("command"), limit: Self.maxCommand,
                hint: "write command as a list, e.g. command: [python3, /job/main.py]; the job's args follow it")
        {
            for (index, item) in items.enumerated() {
                let itemPath = Self.index(fields.path("command"), index)
                guard let text = string(item, at: itemPath) else { continue }
                if index == 0 && text.isEmpty {
                    report(itemPath, "the command's program is empty", hint: "name the program to run, e.g. python3")
                } else {
                    command.append(text)
                }
            }
        }
        guard let image else { return nil }
        return ContainerSettings(image: image, command: command)
    }

    /// `engine: {type: sql, query, memory, maxRows}`. The memory default (the job's
    /// `resources.memory`) is filled in by `sqlJob`, which sees the resources.
    private mutating func sql(_ fields: Fields) -> SQLSettings? {
        let hint = "write one SELECT over the inputs' tables, e.g. `query: \"SELECT condition, count(*) FROM patients GROUP BY condition\"`"
        var query: String?
        if let node = fields["query"] {
            if let text = string(node, at: fields.path("query")) {
                if text.allSatisfy(\.isWhitespace) {
                    report(fields.path("query"), "query is empty", hint: hint)
                } else if text.utf8.count > Self.maxQueryBytes {
                    report(fields.path("query"), "query is \(text.utf8.count) bytes long; at most \(Self.maxQueryBytes) are allowed", hint: "shorten it")
                } else if text.utf8.contains(0) {
                    report(fields.path("query"), "query contains a NUL character", hint: "remove it")
                } else {
                    query = text
                }
            }
        } else {
            missing("query", in: fields, hint: hint)
        }
        var memory = JobSpec.defaultResources.memoryBytes
        if let node = fields["memory"], let bytes = bytes(node, at: fields.path("memory")) {
            if (Self.minSQLMemory...Self.maxSQLMemory).contains(bytes) {
                memory = bytes
            } else {
                report(fields.path("memory"), "memory \(node.scalar?.string ?? "") is out of range", hint: "the sql memory limit must be from 8Mi to 64Gi")
            }
        }
        var maxRows: Int64?
        if let node = fields["maxRows"], let value = integer(node, at: fields.path("maxRows")) {
            if (1...Self.maxSQLRows).contains(value) {
                maxRows = value
            } else {
                report(
                    fields.path("maxRows"), "maxRows \(value) is out of range",
                    hint: "use 1 to \(Self.maxSQLRows); the node's own limit (engines.sql.max_rows) applies too")
            }
        }
        guard let query else { return nil }
        return SQLSettings(query: query, memoryLimitBytes: memory, maxRows: maxRows)
    }

    /// What a sql job implies beyond its engine: the memory limit defaults to the job's
    /// `resources.memory` (at least 8Mi), the result goes to exactly one output (`result` at
    /// `/result` when none is declared), and args and env, which a query cannot read, are refused.
    private mutating func sqlJob(
        _ engine: inout EngineSpec, top: Fields, resources: Resources, outputs: inout [OutputSpec], usedPaths: [String: String]
    ) {
        if case .mapping(let mapping) = top["engine"],
            !mapping.contains(where: { $0.key.scalar?.string == "memory" && !Self.isNull($0.value) })
        {
            engine.sql?.memoryLimitBytes = min(max(resources.memoryBytes, Self.minSQLMemory), Self.maxSQLMemory)
        }
        for key in ["args", "env"] where top[key] != nil {
            report(key, "\(key) are not used by the sql engine", hint: "remove them: a query reads only its inputs' tables")
        }
        if outputs.isEmpty {
            if top["outputs"] != nil {
                report("outputs", "a sql job writes its result into one output, and none is declared", hint: "remove outputs for the default (`result`), or declare one")
            } else if let other = usedPaths["/result"] {
                report(
                    "outputs", "a sql job writes its result into an output, and the default path /result is already used by \(other)",
                    hint: "declare one, e.g. outputs: [{name: result, path: /out}]")
            } else {
                outputs = [OutputSpec(name: "result", path: "/result")]
            }
        } else if outputs.count > 1 {
            report(
                "outputs", "a sql job writes its result into exactly one output, found \(outputs.count)",
                hint: "keep one output (or none: the default is `result`)")
        }
    }

    private mutating func process(_ fields: Fields) -> ProcessSettings? {
        guard let node = fields["command"] else {
            missing("command", in: fields, hint: "name the executable to run, e.g. `command: /usr/bin/wc`")
            return nil
        }
        guard let command = string(node, at: fields.path("command")) else { return nil }
        guard !command.isEmpty else {
            report(fields.path("command"), "command is empty", hint: "name the executable to run, e.g. `command: /usr/bin/wc`")
            return nil
        }
        return ProcessSettings(command: command)
    }

    private mutating func wasm(_ fields: Fields, resolveModule: (ModuleSource) -> ModuleReference?) -> WasmSettings? {
        var module: ModuleReference?
        if let moduleNode = fields["module"] {
            let before = problems.count
            if let source = moduleSource(moduleNode, sha256: fields["sha256"], at: fields.path), problems.count == before {
                module = resolveModule(source)
                if module == nil { reportUnresolved(source, at: fields.path("module")) }
            }
        } else {
            missing("module", in: fields, hint: "a local path (./job.wasm), sha256:<64 hex>, or an https URL with sha256 beside it")
            if fields["sha256"] != nil {
                report(fields.path("sha256"), "sha256 is only used with a URL module", hint: "remove it")
            }
        }

        var entrypoint = "_start"
        if let node = fields["entrypoint"], let text = string(node, at: fields.path("entrypoint")) {
            if text.isEmpty {
                report(fields.path("entrypoint"), "entrypoint is empty", hint: "name an exported function, or omit it for _start")
            } else {
                entrypoint = text
            }
        }

        var memory: Int64 = 64 << 20
        if let node = fields["memory"], let bytes = bytes(node, at: fields.path("memory")) {
            if (Self.minWasmMemory...Self.maxWasmMemory).contains(bytes) {
                memory = bytes
            } else {
                report(
                    fields.path("memory"), "memory \(node.scalar?.string ?? "") is out of range",
                    hint: "the wasm memory limit must be from 64Ki to 4Gi")
            }
        }

        var fuel: UInt64?
        if let node = fields["fuel"] {
            if let value = integer(node, at: fields.path("fuel")) {
                if value > 0 { fuel = UInt64(value) } else {
                    report(fields.path("fuel"), "fuel must be greater than 0, found \(value)", hint: "omit it for no instruction budget")
                }
            }
        }

        var signature: String?
        if let node = fields["signature"], let text = string(node, at: fields.path("signature")) {
            if SpecValues.isSignature(text) {
                signature = text
            } else {
                report(
                    fields.path("signature"), "\"\(Self.quote(text))\" is not a module signature",
                    hint: "write ed25519: followed by the base64 of the 64-byte Ed25519 signature of the module's SHA-256 digest")
            }
        }

        guard let module else { return nil }
        return WasmSettings(module: module, entrypoint: entrypoint, memoryLimitBytes: memory, fuel: fuel, signature: signature)
    }

    /// Classifies `engine.module` (with `engine.sha256` for URLs), reporting what is wrong. Returns
    /// `.url(_, nil)` with a problem when a URL lacks its digest.
    mutating func moduleSource(_ node: Node, sha256: Node?, at enginePath: String) -> ModuleSource? {
        let modulePath = Self.join(enginePath, "module")
        let shaPath = Self.join(enginePath, "sha256")
        guard let text = string(node, at: modulePath) else { return nil }
        let lowered = text.lowercased()

        if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") {
            guard let sha256 else {
                report(shaPath, "a module URL needs its sha256", hint: "add `sha256: <64 hex digits>` beside module, so nodes can verify what they run")
                return .url(text, nil)
            }
            guard let shaText = string(sha256, at: shaPath) else { return .url(text, nil) }
            guard let digest = Self.digest(shaText) else {
                report(shaPath, "\"\(Self.quote(shaText))\" is not a sha256 digest", hint: "write the 64 hex digits of the module's SHA-256")
                return .url(text, nil)
            }
            return .url(text, digest)
        }

        if sha256 != nil {
            report(shaPath, "sha256 is only used with a URL module", hint: "remove it, or put the digest in module as sha256:<64 hex>")
        }
        if lowered.hasPrefix("sha256:") {
            guard let digest = Self.digest(text) else {
                report(modulePath, "\"\(Self.quote(text))\" is not a sha256 digest", hint: "write sha256: followed by 64 hex digits")
                return nil
            }
            return .digest(digest)
        }
        if let scheme = text.firstRange(of: "://") {
            report(
                modulePath, "unsupported URL scheme \"\(Self.quote(String(text[..<scheme.lowerBound])))\"",
                hint: "use an http(s) URL, a sha256: digest, or a local path")
            return nil
        }
        guard !text.isEmpty else {
            report(modulePath, "module is empty", hint: "a local path (./job.wasm), sha256:<64 hex>, or an https URL with sha256 beside it")
            return nil
        }
        return .localFile(text)
    }

    /// `sha256:<hex>` or bare `<hex>`, any case.
    static func digest(_ text: String) -> ContentDigest? {
        let hex = text.lowercased().hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        return ContentDigest(rawValue: hex.lowercased())
    }

    private mutating func reportUnresolved(_ source: ModuleSource, at path: String) {
        switch source {
        case .localFile(let file):
            report(
                path, "module \"\(Self.quote(file))\" is a local file, which the orchestrator cannot read",
                hint: "the CLI uploads local modules: submit with `insitu job run FILE`")
        case .digest(let digest):
            report(path, "module \(digest) is not known", hint: "no module with this digest is stored on the orchestrator: upload it first")
        case .url(let url, _):
            report(
                path, "module \"\(Self.quote(url))\" could not be pinned",
                hint: "check the orchestrator can fetch the URL and that its content matches sha256")
        }
    }

    // MARK: env, resources, durations and sizes

    private mutating func env(_ node: Node, at path: String) -> [String: String] {
        if case .mapping(let mapping) = node, mapping.count > Self.maxEnv {
            report(path, "env has \(mapping.count) entries; at most \(Self.maxEnv) are allowed", hint: "see the limits in docs/JOBSPEC.md")
            return [:]
        }
        guard let entries = entries(of: node, at: path) else { return [:] }
        var result: [String: String] = [:]
        for (key, value) in entries {
            let itemPath = Self.join(path, key)
            guard SpecValues.isEnvName(key) else {
                report(itemPath, "invalid environment variable name \"\(Self.quote(key))\"", hint: "names match [A-Za-z_][A-Za-z0-9_]*")
                continue
            }
            if key.hasPrefix("INSITU_") {
                report(
                    itemPath, "\"\(Self.quote(key))\" is set by the node for every execution",
                    hint: "INSITU_ names are reserved (INSITU_JOB_ID, INSITU_PARTITION, INSITU_LABEL_<KEY>, ...; see docs/JOBSPEC.md); rename the variable")
                continue
            }
            if Self.isNull(value) {
                report(itemPath, "expected a string, found null", hint: "write \(key): \"\" for an empty value")
            } else if let text = string(value, at: itemPath) {
                result[key] = text
            }
        }
        return result
    }

    static let resourceKeys = ["cpu", "memory"]

    private mutating func resources(_ node: Node, at path: String) -> Resources {
        var result = JobSpec.defaultResources
        guard let fields = fields(of: node, at: path, allowed: Self.resourceKeys) else { return result }
        if let cpuNode = fields["cpu"] {
            let cpuPath = fields.path("cpu")
            if case .scalar(let scalar) = cpuNode,
                [Tag.Name.str.rawValue, Tag.Name.int.rawValue, Tag.Name.float.rawValue].contains(Self.tagName(cpuNode))
            {
                if let millis = SpecValues.parseCPU(scalar.string), millis > 0 {
                    result.cpuMillis = millis
                } else {
                    report(cpuPath, "invalid cpu \"\(Self.quote(scalar.string))\"", hint: "use millicores such as 500m, or cores such as 0.5 or 2; it must be above 0")
                }
            } else {
                report(cpuPath, "expected a cpu quantity such as 500m, found \(Self.describe(cpuNode))")
            }
        }
        if let memoryNode = fields["memory"], let bytes = bytes(memoryNode, at: fields.path("memory")) {
            if bytes > 0 {
                result.memoryBytes = bytes
            } else {
                report(fields.path("memory"), "memory must be greater than 0", hint: "use a size such as 128Mi")
            }
        }
        return result
    }

    static let sizeHint = "use a whole number of bytes with an optional unit: Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000), e.g. 64Mi"

    private mutating func bytes(_ node: Node, at path: String) -> Int64? {
        guard case .scalar(let scalar) = node,
            [Tag.Name.str.rawValue, Tag.Name.int.rawValue].contains(Self.tagName(node))
        else {
            report(path, "expected a size such as 64Mi, found \(Self.describe(node))", hint: Self.sizeHint)
            return nil
        }
        guard let bytes = SpecValues.parseBytes(scalar.string) else {
            report(path, "invalid size \"\(Self.quote(scalar.string))\"", hint: Self.sizeHint)
            return nil
        }
        return bytes
    }

    private mutating func duration(_ node: Node, at path: String) -> Int64? {
        let hint = "use whole numbers with units ms, s, m or h, e.g. 30s, 5m or 1m30s"
        guard case .scalar(let scalar) = node else {
            report(path, "expected a duration such as 30s, found \(Self.describe(node))", hint: hint)
            return nil
        }
        switch Self.tagName(node) {
        case Tag.Name.int.rawValue, Tag.Name.float.rawValue:
            report(path, "duration \(scalar.string) has no unit", hint: "add a unit, e.g. \(scalar.string)s")
            return nil
        case Tag.Name.str.rawValue:
            guard let millis = SpecValues.parseDuration(scalar.string) else {
                report(path, "invalid duration \"\(Self.quote(scalar.string))\"", hint: hint)
                return nil
            }
            return millis
        default:
            report(path, "expected a duration such as 30s, found \(Self.describe(node))", hint: hint)
            return nil
        }
    }
}
