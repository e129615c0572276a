import InsituAPI
import InsituModel
import Testing

@testable import InsituDashboard

/// The pages as HTML: what each shows, and that nothing from outside reaches the markup unescaped.
@Suite struct DashboardPageTests {
    let renderer = DashboardRenderer()

    /// Node names and label values are whatever an agent's config says: markup in them is text.
    @Test func nodesPageEscapesNamesAndLabels() {
        let node = Fixtures.node(name: "<img src=x onerror=alert(1)>", labels: ["team": "<script>alert('x')</script>"])
        let html = renderer.render(NodesPage(nodes: [node], now: Fixtures.now, chrome: Fixtures.chrome))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(html.contains("team=&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        #expect(!html.contains("<img src=x"))
        #expect(!html.contains("<script>alert"))
    }

    @Test func nodesPageShowsLivenessDatasetsEnginesAndLoad() {
        let html = renderer.render(
            NodesPage(
                nodes: [Fixtures.node(), Fixtures.node(id: "n-2", name: "edge-2", liveness: .lost)], now: Fixtures.now,
                chrome: Fixtures.chrome))
        #expect(html.contains("2 nodes, 1 connected"))
        #expect(html.contains(#"<a href="/ui/nodes/n-1">edge-1</a>"#))
        #expect(html.contains(#"<span class="state connected">connected</span>"#))
        #expect(html.contains(#"<span class="state lost">lost</span>"#))
        #expect(html.contains("process, wasm"))
        #expect(html.contains(#"<span class="chip">patients</span>"#))
        #expect(html.contains("500m / 4"))
        #expect(html.contains("1 GiB / 8 GiB"))
        #expect(html.contains(#"value="13""#))
        #expect(html.contains("3s ago"))
        #expect(html.contains("zone=eu"))
        #expect(html.hasPrefix("<!doctype html>") && html.hasSuffix("</html>"))
        #expect(!html.contains(">draining<"), "no node here is drained")
    }

    @Test func nodesPageMarksADrainedNode() {
        var drained = Fixtures.node()
        drained.draining = true
        let html = renderer.render(NodesPage(nodes: [drained], now: Fixtures.now, chrome: Fixtures.chrome))
        #expect(html.contains(#"<span class="chip warn" title="no new work: insitu node drain --disable lifts it">draining</span>"#))
    }

    @Test func nodePageShowsOneNodeInFull() {
        let html = renderer.render(NodePage(node: Fixtures.node(), now: Fixtures.now, chrome: Fixtures.chrome))
        #expect(html.contains("<h1>edge-1</h1>"))
        #expect(html.contains("<td>patients</td><td>synthetic</td>"))
        #expect(html.contains("wasmkit"))
        #expect(html.contains("none advertised"))
        let empty = renderer.render(NodePage(node: Fixtures.node(datasets: []), now: Fixtures.now, chrome: Fixtures.chrome))
        #expect(empty.contains("This node offers no dataset."))
    }

    @Test func jobsPageListsStateTypeAndAgeAndFilters() {
        let summary = JobSummary(
            job: Fixtures.job(state: .running),
            executions: [Fixtures.execution(partition: 0, state: .running), Fixtures.execution(partition: 1, state: .succeeded)])
        let html = renderer.render(JobsPage(jobs: [summary], state: .running, cutAt: nil, now: Fixtures.now, chrome: Fixtures.chrome))
        #expect(html.contains(#"<a href="/ui/jobs/j-0123">count-conditions</a>"#))
        #expect(html.contains(#"<span class="state running">running</span>"#))
        #expect(html.contains("<td>batch</td>"))
        #expect(html.contains("2m5s ago"))
        #expect(html.contains("running 1") && html.contains("succeeded 1"))
        #expect(html.contains(#"<a href="/ui/jobs?state=running" aria-current="page">running</a>"#))
        #expect(html.contains("1 job running"))
        #expect(html.contains(#"data-live="/ui/jobs?part=live&amp;state=running""#))
        let none = renderer.render(JobsPage(jobs: [], state: nil, cutAt: 500, now: Fixtures.now, chrome: Fixtures.chrome))
        #expect(none.contains("No jobs here.") && none.contains("0 jobs among the newest 500"))
    }

    @Test func jobPageShowsSpecStatePlacementExecutionsResultsAndHistory() {
        let detail = JobDetail(
            job: Fixtures.job(state: .queued, reason: "no node can run partition 1", args: ["--verbose"]),
            executions: [Fixtures.execution(partition: 0, state: .failed, exit: 3, reason: "exit status 3")],
            placementFailures: ["n-1": ["edge-1: dataset patients is not offered"], "n-gone": ["n-gone: disconnected"]],
            results: [
                ResultRecord(
                    jobID: JobID("j-0123"), partition: 0, executionID: ExecutionID(job: JobID("j-0123"), partition: 0, attempt: 1),
                    nodeID: NodeID("n-1"), files: [ResultFile(path: "stdout", digest: Fixtures.digest, size: 2048)],
                    acceptedAt: Fixtures.now)
            ])
        let page = JobPage(detail: detail, events: Fixtures.events(), nodes: [Fixtures.node()], now: Fixtures.now, chrome: Fixtures.chrome)
        let html = renderer.render(page)
        #expect(html.contains("<dt>Engine</dt><dd>wasm, module sha256:abababababab…</dd>"))
        #expect(html.contains("<dt>Type</dt><dd>batch, 2 partitions</dd>"))
        #expect(html.contains("<dt>Inputs</dt><dd>dataset patients at /data</dd>"))
        #expect(html.contains("<dt>Arguments</dt><dd>--verbose</dd>"))
        #expect(html.contains("<dt>Environment</dt><dd>SECRET</dd>") && !html.contains("s3cr3t"))
        #expect(html.contains(#"<span class="state queued" id="job-state">queued</span>"#))
        #expect(html.contains(#"<div class="reason queued">no node can run partition 1</div>"#))
        #expect(
            html.contains(#"<a href="/ui/nodes/n-1">edge-1</a></td><td><ul class="plain"><li>edge-1: dataset patients is not offered</li>"#)
        )
        #expect(html.contains("<td>n-gone</td>"))
        #expect(html.contains(#"<td class="num">3</td>"#) && html.contains("<td>exit status 3</td>"))
        #expect(html.contains(#"<a href="/ui/jobs/j-0123/files/\#(Fixtures.digest.rawValue)" download>stdout</a>"#))
        #expect(html.contains("2 KiB"))
        // The history in order of sequence, whatever order the store gave.
        let submitted = html.range(of: "submitted</li>")
        let running = html.range(of: "job pending → running</li>")
        #expect(submitted != nil && running != nil && submitted!.lowerBound < running!.lowerBound)
        #expect(html.contains(#"data-final="false""#))
        // The live section alone is what the script swaps in: no page around it.
        let live = renderer.render(page, liveOnly: true)
        #expect(live.hasPrefix("<section data-live=\"/ui/jobs/j-0123?part=live\"") && !live.contains("<html"))
        let done = JobPage(
            detail: JobDetail(job: Fixtures.job(state: .completed), executions: [], placementFailures: [:], results: []), events: [],
            nodes: [],
            now: Fixtures.now, chrome: Fixtures.chrome)
        #expect(renderer.render(done, liveOnly: true).contains(#"data-final="true""#))
    }

    /// Log text is whatever a job printed.
    @Test func logsEscapeTextAndNameTheExecutionWhenThereAreSeveral() {
        let job = Fixtures.job(state: .completed)
        let executions = [Fixtures.execution(partition: 0, state: .succeeded), Fixtures.execution(partition: 1, state: .succeeded)]
        let records = [
            LogRecord(
                jobID: job.id, executionID: executions[0].id, sequence: 7, stream: "stdout", text: "<script>alert(1)</script>\n",
                at: Fixtures.now),
            LogRecord(
                jobID: job.id, executionID: executions[1].id, sequence: 9, stream: "stderr", text: "warning & more\n", at: Fixtures.now),
        ]
        let page = JobLogsPage(
            job: job, executions: executions, nodes: [Fixtures.node()], entries: records, after: 0, chrome: Fixtures.chrome)
        let html = renderer.render(page)
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"))
        #expect(html.contains(#"<span class="stderr""#) && html.contains("warning &amp; more"))
        #expect(html.contains(#"<span class="src">[p1 a1 edge-1] </span>"#))
        #expect(html.contains(#"data-after="9""#) && html.contains(#"data-final="false""#))
        let chunk = renderer.render(
            JobLogsPage(job: job, executions: executions, nodes: [], entries: [], after: 9, chrome: Fixtures.chrome), liveOnly: true)
        #expect(chunk == #"<div data-log-chunk data-next="9" data-final="true" data-full="false"></div>"#)
        let single = JobLogsPage(job: job, executions: [executions[0]], nodes: [], entries: [records[0]], after: 0, chrome: Fixtures.chrome)
        #expect(!renderer.render(single).contains(#"class="src""#))
    }

    @Test func loginAndErrorPagesEscapeTheirMessages() {
        let login = renderer.render(
            LoginPage(
                problem: "token <b>x</b> expired",
                chrome: DashboardChrome(section: .none, signedInAs: nil, development: false, version: "1")))
        #expect(
            login.contains("token &lt;b&gt;x&lt;/b&gt; expired")
                && login.contains(#"<form class="login" method="post" action="/ui/login">"#))
        #expect(!login.contains("Sign out"))
        let error = renderer.render(ErrorPage(status: 404, title: "Not Found", message: "job <x> does not exist", chrome: Fixtures.chrome))
        #expect(error.contains("job &lt;x&gt; does not exist") && error.contains("HTTP 404") && error.contains("Sign out"))
    }

    /// `{{{name}}}` and `{{& name}}` would insert a value unescaped: no template may use them.
    @Test func noTemplateInsertsAValueUnescaped() {
        #expect(DashboardRenderer.templates.count == 15)
        for (name, text) in DashboardRenderer.templates {
            #expect(!text.contains("{{{") && !text.contains("{{&"), "template \(name)")
            #expect(
                !text.contains("style=") && !text.contains("<script>") && !text.contains(/\son[a-z]+=/),
                "template \(name) has inline style or script")
        }
    }
}
