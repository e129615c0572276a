public import InsituAPI
public import InsituModel

/// `/ui/jobs`: the newest jobs with their state, type and age; `?state=` narrows it to one state.
public struct JobsPage: Sendable {
    public struct Row: Sendable {
        var href: String
        var name: String
        var id: String
        var namespace: String
        var type: String
        var state: String
        var stateReason: String?
        var executions: [KeyValue]
        var age: String
        var created: String
        var createdMachine: String
        var updatedAge: String
    }

    struct Filter: Sendable {
        var label: String
        var href: String
        var current: Bool
    }

    var title = "Jobs"
    var chrome: DashboardChrome
    var rows: [Row]
    var empty: Bool
    var filters: [Filter]
    var summary: String
    var liveURL: String

    /// `jobs` as the store lists them (newest first); `state` is the filter applied, if any;
    /// `cutAt` is how many of the newest jobs were looked at when there may be older ones.
    public init(jobs: [JobSummary], state: JobState?, cutAt: Int?, now: Timestamp, chrome: DashboardChrome) {
        self.chrome = chrome
        self.rows = jobs.map { job in
            Row(
                href: DashboardLinks.job(job.id), name: job.name, id: job.id.rawValue, namespace: job.namespace ?? JobSpec.defaultNamespace,
                type: job.type.rawValue, state: job.state.rawValue, stateReason: job.stateReason,
                executions: job.executionCounts.sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: String($0.value)) },
                age: DashboardFormat.age(of: job.createdAt, now: now), created: DashboardFormat.time(job.createdAt),
                createdMachine: DashboardFormat.machineTime(job.createdAt), updatedAge: DashboardFormat.age(of: job.updatedAt, now: now))
        }
        self.empty = jobs.isEmpty
        self.filters =
            [Filter(label: "all", href: DashboardLinks.jobs, current: state == nil)]
            + JobState.allCases.map {
                Filter(label: $0.rawValue, href: DashboardLinks.jobs + "?state=" + $0.rawValue, current: state == $0)
            }
        let shown = "\(jobs.count) job\(jobs.count == 1 ? "" : "s")" + (state.map { " \($0.rawValue)" } ?? "")
        self.summary = shown + (cutAt.map { " among the newest \($0)" } ?? "")
        self.liveURL = DashboardLinks.jobs + "?" + DashboardLinks.liveQuery + (state.map { "&state=" + $0.rawValue } ?? "")
    }

    static let template = """
        {{>header}}
        <h1>Jobs</h1>
        <nav class="filters">{{#filters}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/filters}}</nav>
        {{>jobs-live}}
        {{>footer}}
        """

    static let liveTemplate = """
        <section data-live="{{liveURL}}">
        <p class="subtitle">{{summary}}</p>
        {{#empty}}<div class="empty">No jobs here. Submit one with <code>insitu job run SPEC.yaml</code>.</div>{{/empty}}
        {{^empty}}
        <table>
          <thead><tr><th>Job</th><th>State</th><th>Type</th><th>Namespace</th><th>Executions</th><th>Submitted</th><th>Updated</th></tr></thead>
          <tbody>
          {{#rows}}
          <tr>
            <td><a href="{{href}}">{{name}}</a><div class="muted mono">{{id}}</div></td>
            <td><span class="state {{state}}">{{state}}</span>{{#stateReason}}<div class="muted">{{.}}</div>{{/stateReason}}</td>
            <td>{{type}}</td>
            <td>{{namespace}}</td>
            <td>{{#executions}}<span class="chip">{{key}} {{value}}</span>{{/executions}}</td>
            <td class="num"><time datetime="{{createdMachine}}" title="{{created}}">{{age}} ago</time></td>
            <td class="num">{{updatedAge}} ago</td>
          </tr>
          {{/rows}}
          </tbody>
        </table>
        {{/empty}}
        </section>
        """
}
