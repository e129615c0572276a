import Hummingbird
import InsituAPI
import InsituAuth
import InsituControlPlane
import InsituDashboard
import InsituModel
import InsituStore

/// The dashboard's pages (`/ui/...`): each reads what its `/v1` counterpart reads, through the
/// same functions and the same authorisation (`HTTPAPI.readableJob` and friends), and renders it.
/// Every route is a GET that changes nothing; `?part=live` answers the section the script
/// re-fetches instead of the whole page.
struct DashboardRoutes: Sendable {
    let api: HTTPAPI
    let renderer: DashboardRenderer
    let clock: @Sendable () -> Timestamp
    /// How many of the newest jobs the jobs page looks at.
    static let jobsShown = 200

    func register(on router: Router<APIRequestContext>) {
        router.get(RouterPath(DashboardLinks.root)) { _, _ in DashboardResponses.redirect(to: DashboardLinks.jobs) }
        router.get(RouterPath(DashboardLinks.script)) { _, _ in
            DashboardResponses.asset(DashboardAssets.script, contentType: "text/javascript; charset=utf-8")
        }
        router.get(RouterPath(DashboardLinks.stylesheet)) { _, _ in
            DashboardResponses.asset(DashboardAssets.stylesheet, contentType: "text/css; charset=utf-8")
        }
        router.get("/ui/nodes") { request, context in
            let caller = try context.authorize(.nodeRead)
            let page = NodesPage(
                nodes: await api.orchestrator.nodeSummaries(), now: clock(), chrome: DashboardResponses.chrome(.nodes, caller: caller))
            return DashboardResponses.html(renderer.render(page, liveOnly: Self.isLive(request)))
        }
        router.get("/ui/nodes/{id}") { request, context in
            let caller = try context.authorize(.nodeRead)
            let id = NodeID(try context.pathParameter("id"))
            guard let node = await api.orchestrator.nodeSummaries().first(where: { $0.id == id || $0.name == id.rawValue }) else {
                throw APIError.notFound("node \(id)")
            }
            let page = NodePage(node: node, now: clock(), chrome: DashboardResponses.chrome(.nodes, caller: caller))
            return DashboardResponses.html(renderer.render(page, liveOnly: Self.isLive(request)))
        }
        router.get("/ui/jobs") { request, context in
            let caller = try context.authorize(.jobRead)
            let state = try Self.stateFilter(request)
            let jobs = try await api.store.jobs(limit: Self.jobsShown, namespace: caller.visibleNamespace)
            var summaries: [JobSummary] = []
            for job in jobs where state == nil || job.state == state {
                summaries.append(JobSummary(job: job, executions: try await api.store.executions(of: job.id)))
            }
            let page = JobsPage(
                jobs: summaries, state: state, cutAt: jobs.count >= Self.jobsShown ? Self.jobsShown : nil, now: clock(),
                chrome: DashboardResponses.chrome(.jobs, caller: caller))
            return DashboardResponses.html(renderer.render(page, liveOnly: Self.isLive(request)))
        }
        router.get("/ui/jobs/{id}") { request, context in
            let job = try await api.readableJob(context)
            let page = JobPage(
                detail: try await api.detail(job), events: try await api.store.events(of: job.id),
                nodes: await api.orchestrator.nodeSummaries(), now: clock(),
                chrome: DashboardResponses.chrome(.jobs, caller: context.caller))
            return DashboardResponses.html(renderer.render(page, liveOnly: Self.isLive(request)))
        }
        router.get("/ui/jobs/{id}/logs") { request, context in
            let after = try QueryParameters(request).integer("after", in: 0...Int64.max, default: 0)
            let job = try await api.readableJob(context)
            let entries = try await api.store.logs(of: job.id, after: after, limit: LogLimits.pageEntries, maxBytes: LogLimits.pageBytes)
            let page = JobLogsPage(
                job: job, executions: try await api.store.executions(of: job.id), nodes: await api.orchestrator.nodeSummaries(),
                entries: entries, after: after, chrome: DashboardResponses.chrome(.jobs, caller: context.caller))
            return DashboardResponses.html(renderer.render(page, liveOnly: Self.isLive(request)))
        }
        // The same check as `GET /v1/jobs/{id}/files/{digest}`, and the same audited read; saved
        // under the file's own name.
        router.get("/ui/jobs/{id}/files/{digest}") { request, context in
            let job = try await api.readableJob(context)
            let hex = try context.parameters.require("digest")
            let files = try await api.store.results(of: job.id).flatMap(\.files)
            guard let file = files.first(where: { $0.digest.rawValue == hex }) else {
                throw APIError.notFound("a result file sha256:\(hex.prefix(64)) of job \(job.id)")
            }
            var response = try await api.blob(hex, request: request, context: context)
            response.headers[.contentDisposition] = "attachment; filename=\"\(Self.downloadName(file.path))\""
            return response
        }
    }

    static func isLive(_ request: Request) -> Bool {
        request.uri.queryParameters.get("part") == "live"
    }

    /// `?state=running`: one of the job states, or a 400 that lists them.
    static func stateFilter(_ request: Request) throws -> JobState? {
        guard let text = request.uri.queryParameters.get("state"), !text.isEmpty else { return nil }
        guard let state = JobState(rawValue: text) else {
            throw APIError.badRequest(
                "query parameter state=\(text.prefix(40)) is not a job state; use one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return state
    }

    /// A result path's last component, reduced to characters that are safe inside a quoted
    /// `Content-Disposition` file name on every platform.
    static func downloadName(_ path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? "result"
        let safe = String(
            last.unicodeScalars.map { scalar in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_.".unicodeScalars.contains(scalar))
                    ? Character(scalar) : "_"
            })
        return safe.isEmpty || safe.allSatisfy({ $0 == "." }) ? "result" : String(safe.prefix(120))
    }
}
