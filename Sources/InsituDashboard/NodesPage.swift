public import InsituAPI
public import InsituModel

/// `/ui/nodes`: every node the orchestrator knows, its liveness, what it offers and how full it is.
public struct NodesPage: Sendable {
    public struct Row: Sendable {
        var href: String
        var name: String
        var id: String
        var liveness: String
        /// An operator stopped new work on the node (`insitu node drain`).
        var draining: Bool
        var engines: String
        var datasets: [String]
        var labels: [KeyValue]
        var cpu: Usage
        var memory: Usage
        var activeExecutions: Int
        var lastSeenAge: String
        var lastSeen: String
        var lastSeenMachine: String
        var auditAlert: String?
    }

    var title = "Nodes"
    var chrome: DashboardChrome
    var rows: [Row]
    var empty: Bool
    var summary: String
    var liveURL = DashboardLinks.nodes + "?" + DashboardLinks.liveQuery

    public init(nodes: [NodeSummary], now: Timestamp, chrome: DashboardChrome) {
        self.chrome = chrome
        self.rows = nodes.sorted { ($0.name, $0.id.rawValue) < ($1.name, $1.id.rawValue) }.map { node in
            Row(
                href: DashboardLinks.node(node.id), name: node.name, id: node.id.rawValue, liveness: node.liveness.rawValue,
                draining: node.draining == true,
                engines: node.engines.map(\.rawValue).sorted().joined(separator: ", "),
                datasets: node.datasets.map(\.name).sorted(), labels: KeyValue.sorted(node.labels),
                cpu: .cpu(allocated: node.allocated.cpuMillis, capacity: node.resources.cpuMillis),
                memory: .memory(allocated: node.allocated.memoryBytes, capacity: node.resources.memoryBytes),
                activeExecutions: node.activeExecutions, lastSeenAge: DashboardFormat.age(of: node.lastSeen, now: now),
                lastSeen: DashboardFormat.time(node.lastSeen), lastSeenMachine: DashboardFormat.machineTime(node.lastSeen),
                auditAlert: node.auditAlert)
        }
        self.empty = nodes.isEmpty
        let connected = nodes.filter { $0.liveness == .connected }.count
        self.summary = "\(nodes.count) node\(nodes.count == 1 ? "" : "s"), \(connected) connected"
    }

    static let template = """
        {{>header}}
        <h1>Nodes</h1>
        {{>nodes-live}}
        {{>footer}}
        """

    static let liveTemplate = """
        <section data-live="{{liveURL}}">
        <p class="subtitle">{{summary}}</p>
        {{#empty}}<div class="empty">No node has connected yet. Start one with <code>insitu agent --config FILE</code>.</div>{{/empty}}
        {{^empty}}
        <table>
          <thead><tr><th>Node</th><th>Liveness</th><th>Engines</th><th>Datasets</th><th>CPU allocated</th><th>Memory allocated</th><th>Running</th><th>Labels</th><th>Last seen</th></tr></thead>
          <tbody>
          {{#rows}}
          <tr>
            <td><a href="{{href}}">{{name}}</a><div class="muted mono">{{id}}</div>{{#auditAlert}}<div class="chip warn" title="{{.}}">audit log rewritten</div>{{/auditAlert}}</td>
            <td><span class="state {{liveness}}">{{liveness}}</span>{{#draining}} <span class="chip warn" title="no new work: insitu node drain --disable lifts it">draining</span>{{/draining}}</td>
            <td>{{engines}}</td>
            <td>{{#datasets}}<span class="chip">{{.}}</span>{{/datasets}}{{^datasets}}<span class="muted">none</span>{{/datasets}}</td>
            {{#cpu}}<td class="num"><meter min="0" max="100" value="{{percent}}" title="{{percent}}%"></meter>{{text}}</td>{{/cpu}}
            {{#memory}}<td class="num"><meter min="0" max="100" value="{{percent}}" title="{{percent}}%"></meter>{{text}}</td>{{/memory}}
            <td class="num">{{activeExecutions}}</td>
            <td>{{#labels}}<span class="chip">{{key}}={{value}}</span>{{/labels}}</td>
            <td class="num"><time datetime="{{lastSeenMachine}}" title="{{lastSeen}}">{{lastSeenAge}} ago</time></td>
          </tr>
          {{/rows}}
          </tbody>
        </table>
        {{/empty}}
        </section>
        """
}

/// Allocated against capacity, as text and as a share for a bar.
struct Usage: Sendable {
    var text: String
    var percent: Int

    static func cpu(allocated: Int, capacity: Int) -> Usage {
        Usage(
            text: "\(DashboardFormat.cpu(millis: allocated)) / \(DashboardFormat.cpu(millis: capacity))",
            percent: DashboardFormat.percent(Int64(allocated), of: Int64(capacity)))
    }

    static func memory(allocated: Int64, capacity: Int64) -> Usage {
        Usage(
            text: "\(DashboardFormat.bytes(allocated)) / \(DashboardFormat.bytes(capacity))",
            percent: DashboardFormat.percent(allocated, of: capacity))
    }
}
