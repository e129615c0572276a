public import InsituAPI
public import InsituModel

/// `/ui/jobs/{id}`: the spec in brief, and a live section with the state and its reason, why each
/// node could not take the job (`placementFailures`, as `insitu job describe` shows them), the
/// executions, the result files and the history timeline.
public struct JobPage: Sendable {
    struct Placement: Sendable {
        var node: String
        var href: String?
        var reasons: [String]
    }

    struct ExecutionRow: Sendable {
        var id: String
        var partition: Int
        var attempt: Int
        var nodeName: String
        var nodeHref: String
        var state: String
        var exitCode: String
        var reason: String?
        var age: String
        var updatedAge: String
    }

    struct ResultRow: Sendable {
        var partition: Int
        var nodeName: String
        var path: String
        var size: String
        var href: String
    }

    struct Event: Sendable {
        var kind: String
        var time: String
        var clock: String
        var machineTime: String
        var message: String
    }

    var title: String
    var chrome: DashboardChrome
    var name: String
    var id: String
    var spec: [KeyValue]
    var state: String
    var stateReason: String?
    var final: Bool
    var placements: [Placement]
    var hasPlacements: Bool
    var executions: [ExecutionRow]
    var hasExecutions: Bool
    var results: [ResultRow]
    var hasResults: Bool
    var events: [Event]
    var logsHref: String
    var liveURL: String
    var age: String

    /// `nodes` name the nodes behind node IDs (a node the orchestrator no longer knows shows its ID).
    public init(detail: JobDetail, events: [JobEvent], nodes: [NodeSummary], now: Timestamp, chrome: DashboardChrome) {
        let job = detail.job
        let names = Dictionary(nodes.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        self.title = "Job " + job.spec.name
        self.chrome = chrome
        self.name = job.spec.name
        self.id = job.id.rawValue
        self.spec = Self.summary(of: job.spec)
        self.state = job.state.rawValue
        self.stateReason = job.stateReason
        self.final = job.state.isTerminal
        self.placements = detail.placementFailures.keys.sorted().map { key in
            let node = NodeID(key)
            return Placement(
                node: names[node] ?? key, href: names[node] == nil ? nil : DashboardLinks.node(node),
                reasons: detail.placementFailures[key] ?? [])
        }
        self.hasPlacements = !placements.isEmpty
        self.executions = detail.executions.sorted { ($0.partition, $0.attempt) < ($1.partition, $1.attempt) }.map { execution in
            ExecutionRow(
                id: execution.id.rawValue, partition: execution.partition, attempt: execution.attempt,
                nodeName: names[execution.nodeID] ?? execution.nodeID.rawValue, nodeHref: DashboardLinks.node(execution.nodeID),
                state: execution.state.rawValue, exitCode: execution.exitCode.map { String($0) } ?? "–", reason: execution.stateReason,
                age: DashboardFormat.age(of: execution.createdAt, now: now),
                updatedAge: DashboardFormat.age(of: execution.updatedAt, now: now))
        }
        self.hasExecutions = !executions.isEmpty
        self.results = detail.results.sorted { $0.partition < $1.partition }.flatMap { result in
            result.files.sorted { $0.path < $1.path }.map { file in
                ResultRow(
                    partition: result.partition, nodeName: names[result.nodeID] ?? result.nodeID.rawValue, path: file.path,
                    size: DashboardFormat.bytes(file.size), href: DashboardLinks.jobFile(job.id, digest: file.digest))
            }
        }
        self.hasResults = !results.isEmpty
        self.events = events.sorted { $0.sequence < $1.sequence }.map { event in
            Event(
                kind: event.kind.rawValue, time: DashboardFormat.time(event.at),
                clock: String(DashboardFormat.time(event.at).dropFirst(11).prefix(8)), machineTime: DashboardFormat.machineTime(event.at),
                message: event.message)
        }
        self.logsHref = DashboardLinks.jobLogs(job.id)
        self.liveURL = DashboardLinks.job(job.id) + "?" + DashboardLinks.liveQuery
        self.age = DashboardFormat.age(of: job.createdAt, now: now)
    }

    /// The spec as `insitu job describe` summarises it, plus what the job reads and writes.
    /// Environment values are left out: they may carry settings the page need not repeat.
    static func summary(of spec: JobSpec) -> [KeyValue] {
        var facts: [KeyValue] = [
            KeyValue(key: "Namespace", value: spec.namespace),
            KeyValue(
                key: "Type",
                value: spec.type == .batch ? "batch, \(spec.count) partition\(spec.count == 1 ? "" : "s")" : "ops (every matching node)"),
            KeyValue(key: "Engine", value: engine(spec.engine)),
        ]
        if !spec.args.isEmpty { facts.append(KeyValue(key: "Arguments", value: spec.args.joined(separator: " "))) }
        if !spec.env.isEmpty { facts.append(KeyValue(key: "Environment", value: spec.env.keys.sorted().joined(separator: ", "))) }
        if !spec.inputs.isEmpty {
            let inputs = spec.inputs.map { input in
                switch input.source {
                case .dataset(let name): "dataset \(name) at \(input.target)"
                case .inline(let content): "inline (\(DashboardFormat.bytes(Int64(content.utf8.count)))) at \(input.target)"
                }
            }
            facts.append(KeyValue(key: "Inputs", value: inputs.joined(separator: "; ")))
        }
        if !spec.outputs.isEmpty {
            facts.append(KeyValue(key: "Outputs", value: spec.outputs.map { "\($0.name) at \($0.path)" }.joined(separator: "; ")))
        }
        if !spec.constraints.isEmpty {
            facts.append(KeyValue(key: "Constraints", value: spec.constraints.map(\.description).joined(separator: ", ")))
        }
        facts.append(
            KeyValue(
                key: "Resources",
                value:
                    "\(DashboardFormat.cpu(millis: spec.resources.cpuMillis)) CPU, \(DashboardFormat.bytes(spec.resources.memoryBytes)) memory"
            ))
        facts.append(
            KeyValue(key: "Timeout", value: spec.timeoutMillis.map { DashboardFormat.duration(milliseconds: $0) } ?? "cluster default"))
        let retry = spec.effectiveRetry
        facts.append(
            KeyValue(
                key: "Retry",
                value: retry.attempts > 1
                    ? "\(retry.attempts) attempts, delay \(DashboardFormat.duration(milliseconds: retry.delayMillis))" : "none (1 attempt)")
        )
        let loss = spec.effectiveNodeLoss
        facts.append(
            KeyValue(key: "Node loss", value: "\(loss.action.rawValue) after \(DashboardFormat.duration(milliseconds: loss.graceMillis))"))
        return facts
    }

    static func engine(_ engine: EngineSpec) -> String {
        switch engine.kind {
        case .wasm:
            guard let wasm = engine.wasm else { return "wasm" }
            return "wasm, module sha256:\(wasm.module.digest.rawValue.prefix(12))…" + (wasm.module.url.map { " from \($0)" } ?? "")
        case .process:
            return "process, " + (engine.process?.command ?? "")
        case .container:
            guard let container = engine.container else { return "container" }
            return "container, image \(container.image)"
                + (container.command.isEmpty ? "" : ", command \(container.command.joined(separator: " "))")
        case .sql:
            return "sql, " + (engine.sql?.query ?? "")
        }
    }

    static let template = """
        {{>header}}
        <p class="muted"><a href="/ui/jobs">Jobs</a> /</p>
        {{>job-live}}
        {{>footer}}
        """

    /// The whole page but the breadcrumbs: the state sits in the headline, so it is all live.
    static let liveTemplate = """
        <section data-live="{{liveURL}}" data-final="{{final}}" data-state="{{state}}">
        <div class="headline"><h1>{{name}}</h1><span class="state {{state}}" id="job-state">{{state}}</span></div>
        <p class="subtitle"><span class="mono">{{id}}</span> · submitted {{age}} ago · <a href="{{logsHref}}">Logs →</a></p>
        {{#stateReason}}<div class="reason {{state}}">{{.}}</div>{{/stateReason}}
        <h2>Spec</h2>
        <dl class="facts wide">{{#spec}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/spec}}</dl>
        {{#hasPlacements}}
        <h2>Placement (why nodes could not take the job)</h2>
        <table>
          <thead><tr><th>Node</th><th>Reasons</th></tr></thead>
          <tbody>
          {{#placements}}<tr><td>{{#href}}<a href="{{.}}">{{node}}</a>{{/href}}{{^href}}{{node}}{{/href}}</td><td><ul class="plain">{{#reasons}}<li>{{.}}</li>{{/reasons}}</ul></td></tr>{{/placements}}
          </tbody>
        </table>
        {{/hasPlacements}}
        <h2>Executions</h2>
        {{^hasExecutions}}<div class="empty">No execution yet.</div>{{/hasExecutions}}
        {{#hasExecutions}}
        <table>
          <thead><tr><th>Partition</th><th>Attempt</th><th>Node</th><th>State</th><th>Exit</th><th>Reason</th><th>Started</th><th>Updated</th></tr></thead>
          <tbody>
          {{#executions}}
          <tr>
            <td class="num" title="{{id}}">{{partition}}</td><td class="num">{{attempt}}</td>
            <td><a href="{{nodeHref}}">{{nodeName}}</a></td>
            <td><span class="state {{state}}">{{state}}</span></td>
            <td class="num">{{exitCode}}</td>
            <td>{{reason}}</td>
            <td class="num">{{age}} ago</td><td class="num">{{updatedAge}} ago</td>
          </tr>
          {{/executions}}
          </tbody>
        </table>
        {{/hasExecutions}}
        <h2>Results</h2>
        {{^hasResults}}<div class="empty">No result yet.</div>{{/hasResults}}
        {{#hasResults}}
        <table>
          <thead><tr><th>Partition</th><th>Node</th><th>File</th><th>Size</th></tr></thead>
          <tbody>
          {{#results}}<tr><td class="num">{{partition}}</td><td>{{nodeName}}</td><td><a href="{{href}}" download>{{path}}</a></td><td class="num">{{size}}</td></tr>{{/results}}
          </tbody>
        </table>
        {{/hasResults}}
        <h2>History</h2>
        <ol class="timeline">
          {{#events}}<li class="{{kind}}"><time datetime="{{machineTime}}" title="{{time}}">{{clock}}</time>{{message}}</li>{{/events}}
        </ol>
        </section>
        """
}
