import AsyncHTTPClient
import Foundation
import InsituLocalCluster
import InsituTestKit
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// Issue 9, item 7: the web dashboard at `/ui`, in a real browser (headless Chromium) against a
/// cluster of real processes, with the job submitted through the CLI binary.
///
/// Skipped where Chromium is missing, except in CI (`CI` set), where that is a failure: .ci/run
/// installs Debian's `chromium`.
@Suite(
    .serialized, .timeLimit(.minutes(5)),
    .enabled(if: HeadlessChromium.locate() != nil || ProcessInfo.processInfo.environment["CI"] != nil, "Chromium is not installed"))
struct DashboardTests {
    func chromium() throws -> String {
        try #require(HeadlessChromium.locate(), "Chromium is not on PATH: `apt-get install chromium` (.ci/run installs it)")
    }

    /// A process-engine job that prints `first`, waits for `gate` to exist (at most 60 s), then
    /// prints `text` and ends.
    func gatedJob(_ e2e: E2E, name: String, gate: String, text: String, args: [String] = []) throws -> String {
        let script = """
            echo first
            i=0; while [ ! -e "\(gate)" ] && [ $i -lt 600 ]; do /bin/sleep 0.1; i=$((i+1)); done
            echo '\(text)'
            """
        let arguments = ["-c", script, "gated"] + args
        let quoted = String(
            decoding: try JSONSerialization.data(withJSONObject: arguments, options: .withoutEscapingSlashes), as: UTF8.self)
        return try e2e.specFile(name, "version: v1\nname: \(name)\nengine: {type: process, command: /bin/sh}\nargs: \(quoted)\n")
    }

    /// The job page follows a job from running to completed by itself (its script re-fetches
    /// the live section: the page is not reloaded), then the logs, the result download and the
    /// nodes page.
    @Test func theJobPageShowsAJobSubmittedThroughTheCLIRunningAndThenCompleted() async throws {
        let chromium = try chromium()
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "edge-1", labels: ["zone": "eu"], processEngine: true, processSettings: ["sandbox": "none"])
        try await e2e.cluster.waitForNodes(1)
        let gate = e2e.root + "/gate"
        let id = try e2e.submit(try gatedJob(e2e, name: "gated", gate: gate, text: "second"))
        let ui = e2e.cluster.apiURL + "/ui"

        let browser = try await HeadlessChromium(executable: chromium, directory: e2e.root)
        defer { browser.stop() }
        try await browser.withPage { page in
            try await page.navigate("\(ui)/jobs/\(id)")
            try await page.waitFor(
                "document.getElementById('job-state').textContent === 'running'", timeout: .seconds(30), "the job running")
            // The script ran: the Content-Security-Policy lets /ui/app.js through.
            #expect(try await page.string("document.documentElement.dataset.script") == "on")
            #expect(try await page.string("document.querySelector('h1').textContent") == "gated")
            try await page.evaluate("window.sameDocument = true; true")

            FileManager.default.createFile(atPath: gate, contents: nil)
            try await page.waitFor(
                "document.getElementById('job-state').textContent === 'completed'", timeout: .seconds(60), "the job completed")
            #expect(try await page.evaluate("window.sameDocument === true") as? Bool == true, "the page was not reloaded")
            let text = try await page.string("document.body.innerText") ?? ""
            #expect(text.contains("edge-1") && text.contains("succeeded"), "the executions table: \(text)")
            #expect(text.contains("submitted") && text.contains("running → completed"), "the history timeline: \(text)")

            // A result file downloads through its link, with the page's own session.
            let stdout = try await page.string(
                "fetch(Array.from(document.querySelectorAll('a[download]')).find(a => a.textContent === 'stdout').href).then(r => r.text())"
            )
            #expect(stdout == "first\nsecond\n")

            try await page.navigate("\(ui)/jobs/\(id)/logs")
            try await page.waitFor("document.getElementById('log').textContent === 'first\\nsecond\\n'", timeout: .seconds(10), "the logs")

            try await page.navigate("\(ui)/jobs")
            let jobs = try await page.string("document.querySelector('tbody').innerText") ?? ""
            #expect(jobs.contains("gated") && jobs.contains("completed") && jobs.contains("batch"), "\(jobs)")

            try await page.navigate("\(ui)/nodes")
            let nodes = try await page.string("document.querySelector('tbody').innerText") ?? ""
            #expect(
                nodes.contains("edge-1") && nodes.contains("connected") && nodes.contains("process") && nodes.contains("zone=eu"),
                "\(nodes)")
        }
        // A browser of its own, once, sees the same final page.
        let dom = try HeadlessChromium.dumpDOM(executable: chromium, url: "\(ui)/jobs/\(id)")
        #expect(dom.contains(#"id="job-state">completed</span>"#), "\(dom.prefix(3000))")
    }

    /// A node's name and labels and a job's arguments and output are shown as text: markup in
    /// them does not become elements.
    @Test func markupInNamesLabelsArgumentsAndLogsShowsAsText() async throws {
        let chromium = try chromium()
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let nodeName = "<img src=x onerror=alert(1)>"
        try e2e.cluster.startAgent(
            name: nodeName, labels: ["team": "<script>alert(2)</script>"], processEngine: true, processSettings: ["sandbox": "none"])
        try await e2e.cluster.waitForNodes(1)
        let gate = e2e.root + "/gate"
        FileManager.default.createFile(atPath: gate, contents: nil)
        let markup = "<script>alert(3)</script>"
        let id = try e2e.submit(try gatedJob(e2e, name: "marked", gate: gate, text: markup, args: [markup]))
        _ = try await e2e.waitForState(id) { $0.isTerminal }
        let ui = e2e.cluster.apiURL + "/ui"

        let browser = try await HeadlessChromium(executable: chromium, directory: e2e.root)
        defer { browser.stop() }
        try await browser.withPage { page in
            // The only script is the dashboard's own, and no image was made of the node's name.
            let noInjectedElements = "document.querySelectorAll('script').length === 1 && document.querySelectorAll('img').length === 0"
            try await page.navigate("\(ui)/nodes")
            #expect(try await page.evaluate(noInjectedElements) as? Bool == true)
            let nodes = try await page.string("document.body.innerText") ?? ""
            #expect(nodes.contains(nodeName) && nodes.contains("team=<script>alert(2)</script>"), "\(nodes)")

            try await page.navigate("\(ui)/jobs/\(id)")
            #expect(try await page.evaluate(noInjectedElements) as? Bool == true)
            let job = try await page.string("document.body.innerText") ?? ""
            #expect(job.contains(markup) && job.contains(nodeName), "\(job)")

            try await page.navigate("\(ui)/jobs/\(id)/logs")
            try await page.waitFor("document.getElementById('log').textContent.includes('alert(3)')", timeout: .seconds(10), "the logs")
            #expect(try await page.evaluate(noInjectedElements) as? Bool == true)
            #expect(try await page.string("document.getElementById('log').textContent") == "first\n\(markup)\n")
        }
        let dom = try HeadlessChromium.dumpDOM(executable: chromium, url: "\(ui)/nodes")
        #expect(dom.contains("&lt;img src=x onerror=alert(1)&gt;") && !dom.contains("<img"), "\(dom.prefix(3000))")
    }

    /// Without `--dev` the dashboard needs a session: every page leads to the login form; a
    /// wrong token and one that may read nothing are refused; a good one signs in; signing out
    /// ends it. The session cookie opens nothing of the /v1 API.
    @Test func inTokenModeTheDashboardNeedsASignInWithAValidToken() async throws {
        let chromium = try chromium()
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "edge-1")
        try await e2e.cluster.waitForNodes(1)
        let admin = try #require(e2e.cluster.adminToken)
        let ui = e2e.cluster.apiURL + "/ui"

        // A browser without a session is sent to the login form and sees nothing else.
        for path in ["/jobs", "/nodes", ""] {
            let dom = try HeadlessChromium.dumpDOM(executable: chromium, url: ui + path)
            #expect(
                dom.contains(#"<form class="login" method="post" action="/ui/login">"#) && !dom.contains("edge-1"),
                "\(path): \(dom.prefix(2000))")
        }
        let submitOnly = try e2e.cli(["token", "create", "--name", "submitter", "--scopes", "job:submit", "-o", "json"])
        let submitToken = try #require(
            (try JSONSerialization.jsonObject(with: Data(submitOnly.stdout.utf8)) as? [String: Any])?["token"] as? String,
            "\(submitOnly.stderr)")
        let forged = "insitu_" + admin.dropFirst(7).prefix(16) + "_" + String(repeating: "A", count: 43)

        let browser = try await HeadlessChromium(executable: chromium, directory: e2e.root)
        defer { browser.stop() }
        try await browser.withPage { page in
            func signIn(_ token: String) async throws {
                try await page.navigate("\(ui)/login")
                try await page.evaluate(
                    "document.getElementById('token').value = \(try Self.jsString(token)); document.querySelector('form.login').submit(); true"
                )
            }
            try await signIn(forged)
            try await page.waitFor("document.querySelector('.alert') !== null", timeout: .seconds(10), "the refusal")
            let unknown = try await page.string("document.querySelector('.alert').textContent") ?? ""
            #expect(unknown.contains("not known to this orchestrator"), "\(unknown)")
            try await page.navigate("\(ui)/nodes")
            #expect(try await page.string("location.pathname") == "/ui/login")

            try await signIn(submitToken)
            try await page.waitFor("document.querySelector('.alert') !== null", timeout: .seconds(10), "the refusal")
            let unreadable = try await page.string("document.querySelector('.alert').textContent") ?? ""
            #expect(unreadable.contains("job:read or node:read"), "\(unreadable)")

            try await signIn(admin)
            try await page.waitFor(
                "location.pathname === '/ui/jobs' && document.querySelector('h1') !== null", timeout: .seconds(10), "the jobs page")
            #expect(try await page.string("document.querySelector('h1').textContent") == "Jobs")
            #expect(try await page.string("document.querySelector('header .who').innerText")?.contains("bootstrap-admin") == true)
            // The cookie is out of the page's scripts' reach.
            #expect(try await page.string("document.cookie") == "")
            try await page.navigate("\(ui)/nodes")
            let nodes = try await page.string("document.querySelector('tbody').innerText") ?? ""
            #expect(nodes.contains("edge-1") && nodes.contains("connected"), "\(nodes)")
            let headers =
                try await page.evaluate(
                    "fetch('/ui/nodes').then(r => [r.headers.get('content-security-policy'), r.headers.get('x-content-type-options'), r.headers.get('x-frame-options')])"
                ) as? [String]
            #expect(headers?[0].contains("script-src 'self'") == true && headers?[0].contains("frame-ancestors 'none'") == true)
            #expect(headers?[1] == "nosniff" && headers?[2] == "DENY")

            try await page.evaluate("document.querySelector('header form').submit(); true")
            try await page.waitFor("location.pathname === '/ui/login'", timeout: .seconds(10), "the login page after signing out")
            try await page.navigate("\(ui)/jobs")
            #expect(try await page.string("location.pathname") == "/ui/login")
        }

        // The cookie the dashboard sets, sent by hand: /ui takes it, /v1 does not.
        let cookie = "insitu_session=\(admin)"
        #expect(try await Self.get(e2e, "/ui/nodes", cookie: cookie).status == 200)
        #expect(try await Self.get(e2e, "/v1/nodes", cookie: cookie).status == 401)
        // A sign-in form posted from another site is refused even with a good token.
        let crossSite = try await Self.request(
            e2e, .POST, "/ui/login", headers: ["Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"],
            body: "token=" + admin)
        #expect(crossSite.status == 403 && crossSite.setCookie == nil)

        // The session cookie's attributes, and a revoked token ends its session at the next page.
        let reader = try e2e.cli(["token", "create", "--name", "reader", "--scopes", "job:read,node:read", "-o", "json"])
        let readerJSON = try JSONSerialization.jsonObject(with: Data(reader.stdout.utf8)) as? [String: Any]
        let readerToken = try #require(readerJSON?["token"] as? String, "\(reader.stderr)")
        let readerID = try #require((readerJSON?["info"] as? [String: Any])?["id"] as? String, "\(reader.stdout)")
        let signIn = try await Self.request(
            e2e, .POST, "/ui/login", headers: ["Origin": e2e.cluster.apiURL, "Content-Type": "application/x-www-form-urlencoded"],
            body: "token=" + readerToken)
        let setCookie = signIn.setCookie ?? ""
        #expect(signIn.status == 303 && signIn.location == "/ui/jobs", "\(signIn)")
        for attribute in ["insitu_session=\(readerToken)", "HttpOnly", "SameSite=Strict", "Path=/ui", "Secure", "Max-Age="] {
            #expect(setCookie.contains(attribute), "\(attribute) in \(setCookie)")
        }
        let session = "insitu_session=\(readerToken)"
        #expect(try await Self.get(e2e, "/ui/nodes", cookie: session).status == 200)
        #expect(try e2e.cli(["token", "revoke", readerID]).status == 0)
        let revoked = try await Self.get(e2e, "/ui/nodes", cookie: session)
        #expect(revoked.status == 303 && revoked.location == "/ui/login?ended=token_revoked", "\(revoked)")
    }

    /// `text` as a JavaScript string literal (JSON's is one).
    static func jsString(_ text: String) throws -> String {
        String(String(decoding: try JSONSerialization.data(withJSONObject: [text]), as: UTF8.self).dropFirst().dropLast())
    }

    static func get(_ e2e: E2E, _ path: String, cookie: String) async throws -> (status: Int, setCookie: String?, location: String?) {
        try await request(e2e, .GET, path, headers: ["Cookie": cookie])
    }

    /// One request over the cluster's TLS, redirects not followed.
    static func request(
        _ e2e: E2E, _ method: HTTPMethod, _ path: String, headers: [String: String], body: String? = nil
    ) async throws -> (status: Int, setCookie: String?, location: String?) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(try #require(e2e.cluster.caPath)))
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow))
        do {
            var request = HTTPClientRequest(url: e2e.cluster.apiURL + path)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            return (Int(response.status.code), response.headers.first(name: "set-cookie"), response.headers.first(name: "location"))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
