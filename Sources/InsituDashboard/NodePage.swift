public import InsituAPI
public import InsituModel

/// `/ui/nodes/{id}`: one node in full: what it offers, its policy and audit state.
public struct NodePage: Sendable {
    struct Dataset: Sendable {
        var name: String
        var description: String?
        var labels: [KeyValue]
    }

    var title: String
    var chrome: DashboardChrome
    var name: String
    var id: String
    var liveness: String
    var version: String
    var wasmRuntime: String?
    var engines: [String]
    var labels: [KeyValue]
    var datasets: [Dataset]
    var hasDatasets: Bool
    var cpu: Usage
    var memory: Usage
    var activeExecutions: Int
    var lastSeen: String
    var lastSeenAge: String
    var policyDigest: String?
    var auditHead: String?
    var auditAlert: String?
    var liveURL: String

    public init(node: NodeSummary, now: Timestamp, chrome: DashboardChrome) {
        self.title = "Node " + node.name
        self.chrome = chrome
        self.name = node.name
        self.id = node.id.rawValue
        self.liveness = node.liveness.rawValue
        self.version = node.version
        self.wasmRuntime = node.wasmRuntime
        self.engines = node.engines.map(\.rawValue).sorted()
        self.labels = KeyValue.sorted(node.labels)
        self.datasets = node.datasets.sorted { $0.name < $1.name }.map {
            Dataset(name: $0.name, description: $0.description, labels: KeyValue.sorted($0.labels))
        }
        self.hasDatasets = !node.datasets.isEmpty
        self.cpu = .cpu(allocated: node.allocated.cpuMillis, capacity: node.resources.cpuMillis)
        self.memory = .memory(allocated: node.allocated.memoryBytes, capacity: node.resources.memoryBytes)
        self.activeExecutions = node.activeExecutions
        self.lastSeen = DashboardFormat.time(node.lastSeen)
        self.lastSeenAge = DashboardFormat.age(of: node.lastSeen, now: now)
        self.policyDigest = node.policyDigest
        self.auditHead = node.auditHead.map { "entry \($0.seq), sha256 \($0.hash)" }
        self.auditAlert = node.auditAlert
        self.liveURL = DashboardLinks.node(node.id) + "?" + DashboardLinks.liveQuery
    }

    static let template = """
        {{>header}}
        <p class="muted"><a href="/ui/nodes">Nodes</a> /</p>
        {{>node-live}}
        {{>footer}}
        """

    static let liveTemplate = """
        <section data-live="{{liveURL}}">
        <div class="headline"><h1>{{name}}</h1><span class="state {{liveness}}">{{liveness}}</span></div>
        <p class="subtitle mono">{{id}}</p>
        {{#auditAlert}}<div class="alert">This node's audit log was rewritten: {{.}}</div>{{/auditAlert}}
        <div class="grid2">
        <div>
        <h2>Capacity</h2>
        <dl class="facts">
          <dt>CPU allocated</dt>{{#cpu}}<dd><meter min="0" max="100" value="{{percent}}"></meter>{{text}}</dd>{{/cpu}}
          <dt>Memory allocated</dt>{{#memory}}<dd><meter min="0" max="100" value="{{percent}}"></meter>{{text}}</dd>{{/memory}}
          <dt>Running executions</dt><dd>{{activeExecutions}}</dd>
          <dt>Last seen</dt><dd>{{lastSeenAge}} ago <span class="muted">({{lastSeen}})</span></dd>
        </dl>
        </div>
        <div>
        <h2>Agent</h2>
        <dl class="facts">
          <dt>Version</dt><dd>{{version}}</dd>
          <dt>Engines</dt><dd>{{#engines}}<span class="chip">{{.}}</span>{{/engines}}{{^engines}}<span class="muted">none</span>{{/engines}}</dd>
          <dt>WebAssembly runtime</dt><dd>{{#wasmRuntime}}{{.}}{{/wasmRuntime}}{{^wasmRuntime}}<span class="muted">not reported</span>{{/wasmRuntime}}</dd>
          <dt>Labels</dt><dd>{{#labels}}<span class="chip">{{key}}={{value}}</span>{{/labels}}{{^labels}}<span class="muted">none</span>{{/labels}}</dd>
          <dt>Policy</dt><dd>{{#policyDigest}}<span class="mono">{{.}}</span>{{/policyDigest}}{{^policyDigest}}<span class="muted">none advertised</span>{{/policyDigest}}</dd>
          <dt>Audit head</dt><dd>{{#auditHead}}<span class="mono">{{.}}</span>{{/auditHead}}{{^auditHead}}<span class="muted">none reported</span>{{/auditHead}}</dd>
        </dl>
        </div>
        </div>
        <h2>Datasets</h2>
        {{^hasDatasets}}<div class="empty">This node offers no dataset.</div>{{/hasDatasets}}
        {{#hasDatasets}}
        <table>
          <thead><tr><th>Name</th><th>Description</th><th>Labels</th></tr></thead>
          <tbody>
          {{#datasets}}<tr><td>{{name}}</td><td>{{description}}</td><td>{{#labels}}<span class="chip">{{key}}={{value}}</span>{{/labels}}</td></tr>{{/datasets}}
          </tbody>
        </table>
        {{/hasDatasets}}
        </section>
        """
}
