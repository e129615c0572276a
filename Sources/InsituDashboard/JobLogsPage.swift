public import InsituAPI
public import InsituModel

/// `/ui/jobs/{id}/logs`: the job's output as the executions streamed it, stderr marked, each entry
/// attributed to its execution when the job has several. The script asks for the entries after
/// the last one shown (`?part=live&after=N`) until the job has ended and nothing more is stored.
public struct JobLogsPage: Sendable {
    struct Entry: Sendable {
        var text: String
        var stream: String
        var source: String?
        var title: String
    }

    var title: String
    var chrome: DashboardChrome
    var name: String
    var id: String
    var jobHref: String
    var state: String
    var entries: [Entry]
    var hasEntries: Bool
    /// The sequence number of the last entry shown: where the next request continues.
    var next: Int64
    /// True once the job has ended and no entry is left after `next`.
    var final: Bool
    /// Entries came: more may follow at once, so the script asks again without waiting.
    var full: Bool
    var liveURL: String
    var moreHref: String

    /// `entries` are the ones stored after sequence `after`, one page of them.
    public init(
        job: Job, executions: [Execution], nodes: [NodeSummary], entries records: [LogRecord], after: Int64, chrome: DashboardChrome
    ) {
        self.title = "Logs of " + job.spec.name
        self.chrome = chrome
        self.name = job.spec.name
        self.id = job.id.rawValue
        self.jobHref = DashboardLinks.job(job.id)
        self.state = job.state.rawValue
        let names = Dictionary(nodes.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let byID = Dictionary(executions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let attributed = executions.count > 1
        self.entries = records.map { record in
            let execution = byID[record.executionID]
            let node = execution.map { names[$0.nodeID] ?? $0.nodeID.rawValue } ?? "?"
            let source = execution.map { "[p\($0.partition) a\($0.attempt) \(node)] " } ?? "[\(record.executionID.rawValue)] "
            return Entry(
                text: record.text, stream: record.stream == "stderr" ? "stderr" : "stdout", source: attributed ? source : nil,
                title: "\(record.stream), \(record.executionID.rawValue) on \(node), \(DashboardFormat.time(record.at))")
        }
        self.hasEntries = !records.isEmpty
        self.next = records.last?.sequence ?? after
        self.full = !records.isEmpty
        // An ended job's output is complete once a request finds nothing more.
        self.final = job.state.isTerminal && records.isEmpty
        self.liveURL = DashboardLinks.jobLogs(job.id) + "?" + DashboardLinks.liveQuery
        self.moreHref = DashboardLinks.jobLogs(job.id) + "?after=\(next)"
    }

    static let template = """
        {{>header}}
        <p class="muted"><a href="/ui/jobs">Jobs</a> / <a href="{{jobHref}}">{{name}}</a> /</p>
        <div class="headline"><h1>Logs of {{name}}</h1><span class="state {{state}}">{{state}}</span></div>
        <p class="subtitle mono">{{id}}</p>
        <pre class="log" id="log" data-log="{{liveURL}}" data-after="{{next}}" data-final="{{final}}">{{>log-entries}}</pre>
        {{^final}}<p class="muted">Following the output while the job runs.{{#full}} <a href="{{moreHref}}">Later entries</a>{{/full}}</p>{{/final}}
        {{>footer}}
        """

    static let entriesTemplate = """
        {{#entries}}<span class="{{stream}}" title="{{title}}">{{#source}}<span class="src">{{.}}</span>{{/source}}{{text}}</span>{{/entries}}
        """

    /// What the script appends: the entries after `after`, and where to continue.
    static let liveTemplate = """
        <div data-log-chunk data-next="{{next}}" data-final="{{final}}" data-full="{{full}}">{{>log-entries}}</div>
        """
}
