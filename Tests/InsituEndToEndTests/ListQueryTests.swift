import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// Issue 9, item 1 on a real orchestrator: `GET /v1/jobs` and `GET /v1/nodes` filter and page on
/// the server, refuse values they do not understand naming the parameter, and page by position.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ListQueryTests {
    /// A job no node will run here (there are none): it stays queued until stopped.
    static func submit(_ client: InsituClient, name: String) async throws -> String {
        let module = "module: \"https://modules.invalid/m.wasm\", sha256: \(String(repeating: "a", count: 64))"
        return try await client.submit(SubmitJobRequest(spec: "version: v1\nname: \(name)\nengine: {type: wasm, \(module)}\n")).jobID
            .rawValue
    }

    static func ids(_ exchange: InsituClient.Exchange) throws -> [String] {
        try JSONDecoder().decode([JobSummary].self, from: exchange.body).map(\.id.rawValue)
    }

    static func problem(_ exchange: InsituClient.Exchange) throws -> ProblemDetails {
        #expect(exchange.headers["content-type"] == ProblemDetails.mediaType)
        return try JSONDecoder().decode(ProblemDetails.self, from: exchange.body)
    }

    @Test func jobListFiltersOnTheServerAndRefusesUnknownValues() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let client = e2e.cluster.client
        var created: [String: String] = [:]
        for name in ["alpha-1", "alpha-2", "beta-1", "gamma"] { created[name] = try await Self.submit(client, name: name) }
        _ = try await client.stop(created["beta-1"]!)

        #expect(try Self.ids(try await client.exchange("GET", "/v1/jobs?state=stopped")) == [created["beta-1"]!])
        let live = try Self.ids(try await client.exchange("GET", "/v1/jobs?state=pending,queued&state=running"))
        #expect(Set(live) == Set([created["alpha-1"]!, created["alpha-2"]!, created["gamma"]!]), "\(live)")
        #expect(Set(try Self.ids(try await client.exchange("GET", "/v1/jobs?name=alpha"))) == [created["alpha-2"]!, created["alpha-1"]!])
        #expect(try Self.ids(try await client.exchange("GET", "/v1/jobs?name=lpha-1&state=stopped")).isEmpty)
        #expect(try Self.ids(try await client.exchange("GET", "/v1/jobs?namespace=default")).count == 4)
        #expect(try Self.ids(try await client.exchange("GET", "/v1/jobs?namespace=lab")).isEmpty)

        let refused: [(query: String, parameter: String)] = [
            ("state=runing", "state"), ("state=running,", "state"), ("namespace=Not_A_Namespace", "namespace"), ("name=", "name"),
            ("next_token=bm90IGEgdG9rZW4", "next_token"), ("next_token=%00", "next_token"), ("limit=0", "limit"),
        ]
        for (query, parameter) in refused {
            let answer = try await client.exchange("GET", "/v1/jobs?" + query)
            #expect(answer.status == 400, "\(query): \(answer.status)")
            let details = try Self.problem(answer)
            #expect(details.detail.contains("query parameter \(parameter)="), "\(query): \(details.detail)")
        }
        let state = try Self.problem(try await client.exchange("GET", "/v1/jobs?state=runing"))
        #expect(state.detail.contains("pending, queued, running, completed, failed, stopped") && state.problems?.first?.path == "state")
        #expect(e2e.cluster.orchestrator?.isRunning == true)
    }

    /// A job created between two pages neither repeats nor hides an older one: the token is the
    /// position of the last job shown, not an offset.
    @Test func pagingTokensAreStableWhenJobsArriveBetweenPages() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let client = e2e.cluster.client
        var older: [String] = []
        for index in 0..<5 { older.append(try await Self.submit(client, name: "page-\(index)")) }
        let everything = try Self.ids(try await client.exchange("GET", "/v1/jobs"))
        #expect(Set(everything) == Set(older))

        var seen: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let answer = try await client.exchange("GET", "/v1/jobs?limit=2" + (token.map { "&next_token=" + $0 } ?? ""))
            #expect(answer.status == 200)
            seen += try Self.ids(answer)
            token = answer.headers[ListPaging.nextTokenHeader.lowercased()]
            pages += 1
            // Each new job is newer than every listed one: with an offset, it would push an older
            // job onto the next page a second time.
            if pages == 1 { _ = try await Self.submit(client, name: "late-1") }
            if pages == 2 { _ = try await Self.submit(client, name: "late-2") }
        } while token != nil && pages < 10
        #expect(seen == everything, "pages gave \(seen), the whole list is \(everything)")
        #expect(pages == 3)
        // The typed client reads the same header.
        let first = try await client.jobs(JobListFilter(limit: 3))
        #expect(first.items.count == 3 && first.nextToken != nil)
        let rest = try await client.jobs(JobListFilter(limit: 10, nextToken: first.nextToken))
        #expect(rest.nextToken == nil && (first.items + rest.items).count == 7)
    }

    /// `?namespace=` only narrows what a token sees: a token of namespace `lab` asking for
    /// `default` is refused, not shown another namespace's jobs.
    @Test func aNamespaceFilterNeverWidensWhatATokenSees() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let admin = e2e.cluster.client
        let inDefault = try await Self.submit(admin, name: "in-default")
        let created = try e2e.cli(["token", "create", "-o", "json", "--name", "lab-reader", "--namespace", "lab", "--scopes", "job:read"])
        #expect(created.status == 0, "\(created.stderr)")
        let lab = e2e.cluster.client(token: try JSONDecoder().decode(CreatedToken.self, from: Data(created.stdout.utf8)).token)

        let refused = try await lab.exchange("GET", "/v1/jobs?namespace=default")
        #expect(refused.status == 403)
        #expect(try Self.problem(refused).code == "namespace_forbidden")
        #expect(try Self.ids(try await lab.exchange("GET", "/v1/jobs?namespace=lab")).isEmpty)
        #expect(try Self.ids(try await lab.exchange("GET", "/v1/jobs")).isEmpty)
        #expect(try Self.ids(try await admin.exchange("GET", "/v1/jobs?namespace=default")) == [inDefault])
    }

    @Test func nodeListFiltersByStatusNameAndEveryLabel() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "lyon-gpu", labels: ["site": "lyon", "tier": "gpu"])
        try e2e.cluster.startAgent(name: "paris-cpu", labels: ["site": "paris", "tier": "cpu"])
        try await e2e.cluster.waitForNodes(2)
        let client = e2e.cluster.client
        func names(_ filter: NodeListFilter) async throws -> [String] { try await client.nodes(filter).items.map(\.name) }

        #expect(try await names(NodeListFilter()) == ["lyon-gpu", "paris-cpu"])
        #expect(try await names(NodeListFilter(labels: ["site=lyon"])) == ["lyon-gpu"])
        #expect(try await names(NodeListFilter(labels: ["site=lyon", "tier=cpu"])).isEmpty)
        #expect(try await names(NodeListFilter(statuses: [.connected])) == ["lyon-gpu", "paris-cpu"])
        #expect(try await names(NodeListFilter(statuses: [.lost, .disconnected])).isEmpty)
        #expect(try await names(NodeListFilter(name: "paris")) == ["paris-cpu"])
        let first = try await client.nodes(NodeListFilter(limit: 1))
        #expect(first.items.map(\.name) == ["lyon-gpu"] && first.nextToken != nil)
        let second = try await client.nodes(NodeListFilter(limit: 1, nextToken: first.nextToken))
        #expect(second.items.map(\.name) == ["paris-cpu"] && second.nextToken == nil)

        for (query, parameter) in [
            ("status=up", "status"), ("label=site", "label"), ("label=site=a&label=site=b", "label"), ("next_token=x", "next_token"),
        ] {
            let answer = try await client.exchange("GET", "/v1/nodes?" + query)
            #expect(answer.status == 400, "\(query): \(answer.status)")
            #expect(try Self.problem(answer).detail.contains("query parameter \(parameter)="), "\(query)")
        }
    }
}
