import Foundation
public import Hummingbird
import InsituAPI
import InsituAuth
import InsituAudit
import InsituAuditFile
import InsituControlPlane
import InsituModel
import InsituSpec
import InsituStore
import ServiceLifecycle

/// The REST API (`/v1/...`), Nomad-style resource paths. Handlers validate, call the
/// orchestrator or read the store, and map failures to `APIError`s.
struct HTTPAPI: Sendable {
    let orchestrator: Orchestrator
    let store: any OrchestratorStore
    let blobs: BlobStore
    static let maxModuleBytes = 256 << 20
    /// Largest `POST /v1/jobs` body (docs/JOBSPEC.md, "Limits").
    static let maxSubmitBytes = 1 << 20

    func register(on router: Router<APIRequestContext>) {
        router.get("/v1/health") { _, _ in try json(["status": "ok", "version": InsituBuild.version]) }
        router.post("/v1/modules") { request, context in
            try context.authorize(.jobSubmit)
            return try await uploadModule(request, context: context)
        }
        // Nodes fetch modules by digest; node identity (mutual TLS) is to guard this route.
        router.get("/v1/modules/{digest}") { request, context in
            try await blob(context.parameters.require("digest"), request: request, context: context)
        }
        // Any blob, whichever job it belongs to: only for callers of every namespace. Others read
        // result files through their job (`/v1/jobs/{id}/files/{digest}`).
        router.get("/v1/blobs/{digest}") { request, context in
            try context.authorize(.jobRead, namespace: Namespace.all, what: "blob \(try context.parameters.require("digest"))")
            return try await blob(context.parameters.require("digest"), request: request, context: context)
        }
        router.post("/v1/jobs") { request, context in try await submit(request, context: context) }
        router.post("/v1/jobs/plan") { request, context in try await plan(request, context: context) }
        router.get("/v1/jobs") { request, context in
            let caller = try context.authorize(.jobRead)
            var query = try ListQueries.jobs(request, caller: caller).query
            let limit = query.limit
            // One more than asked: whether it exists says if there is a next page.
            query.limit += 1
            var jobs = try await store.jobs(query)
            let more = jobs.count > limit
            jobs = Array(jobs.prefix(limit))
            let names = Dictionary(await orchestrator.nodeSummaries().map { ($0.id, $0.name) }) { first, _ in first }
            var summaries: [JobSummary] = []
            for job in jobs {
                let executions = try await store.executions(of: job.id)
                var summary = JobSummary(job: job, executions: executions)
                summary.nodes = Set(executions.map { names[$0.nodeID] ?? $0.nodeID.rawValue }).sorted()
                summaries.append(summary)
            }
            return try paged(summaries, next: more ? jobs.last.map { PageToken.encode(JobCursor($0)) } : nil)
        }
        router.get("/v1/jobs/{id}") { _, context in
            let job = try await readableJob(context)
            return try json(await detail(job))
        }
        router.get("/v1/jobs/{id}/history") { _, context in
            let job = try await readableJob(context)
            return try json(try await store.events(of: job.id))
        }
        router.get("/v1/jobs/{id}/logs") { request, context in
            let after = try QueryParameters(request).integer("after", in: 0...Int64.max, default: 0)
            let job = try await readableJob(context)
            let id = job.id
            let entries = try await store.logs(of: id, after: after, limit: LogLimits.pageEntries, maxBytes: LogLimits.pageBytes)
            return try json(LogsPage(entries: entries, jobState: job.state))
        }
        router.post("/v1/jobs/{id}/stop") { request, context in
            let id = try jobID(context)
            try context.authorize(.jobSubmit)
            let existing = try await existingJob(id)
            try context.authorize(.jobSubmit, namespace: namespace(of: existing), what: "job \(id)")
            let job = try await orchestrator.stop(id)
            try orchestrator.audit?.log.append(event(request, context, "job.stop", ["job": .string(job.id.rawValue)]))
            return try json(JobSummary(job: job, executions: try await store.executions(of: job.id)))
        }
        router.get("/v1/jobs/{id}/results") { _, context in
            let job = try await readableJob(context)
            return try json(try await store.results(of: job.id))
        }
        router.get("/v1/jobs/{id}/files/{digest}") { request, context in
            let job = try await readableJob(context)
            let hex = try context.parameters.require("digest")
            let results = try await store.results(of: job.id)
            guard results.contains(where: { $0.files.contains { $0.digest.rawValue == hex } }) else {
                throw APIError.notFound("a result file sha256:\(hex) of job \(job.id)")
            }
            return try await blob(hex, request: request, context: context)
        }
        router.get("/v1/jobs/{id}/wait") { request, context in
            let timeout = try QueryParameters(request).seconds("timeout", in: 0...600, default: 30)
            let id = try await readableJob(context).id
            // A graceful shutdown answers the wait at once (with the job as it is), so a waiting
            // client never holds the server's stop up for the rest of its timeout.
            _ = await cancelWhenGracefulShutdown { await orchestrator.waitUntilTerminal(id, timeout: timeout) }
            let job = try await existingJob(id)
            return try json(JobSummary(job: job, executions: try await store.executions(of: id)))
        }
        router.get("/v1/audit") { request, context in
            // Entries of every namespace: for auditors of the whole cluster.
            try context.authorize(.auditRead, namespace: Namespace.all, what: "the audit log")
            return try readAudit(request, context: context)
        }
        router.get("/v1/nodes") { request, context in
            try context.authorize(.nodeRead)
            let filter = try ListQueries.nodes(request)
            let nodes = await orchestrator.nodeSummaries().filter(filter.matches)
                .sorted { ($0.name, $0.id.rawValue) < ($1.name, $1.id.rawValue) }
            guard let limit = filter.limit, nodes.count > limit else { return try json(nodes) }
            let page = Array(nodes.prefix(limit))
            return try paged(page, next: page.last.map { PageToken.encode(NodeCursor($0)) })
        }
        router.get("/v1/nodes/{id}") { _, context in
            try context.authorize(.nodeRead)
            let id = NodeID(try context.pathParameter("id"))
            guard let node = await orchestrator.nodeSummaries().first(where: { $0.id == id || $0.name == id.rawValue }) else {
                throw APIError.notFound("node \(id)")
            }
            return try json(node)
        }
    }

    private func jobID(_ context: APIRequestContext) throws -> JobID {
        JobID(try context.pathParameter("id"))
    }

    private func existingJob(_ id: JobID) async throws -> Job {
        guard let job = try await store.job(id) else { throw APIError.notFound("job \(id)") }
        return job
    }

    /// The job the route names, if the caller may read it: `job:read` first (without it nothing
    /// is revealed), then the job's namespace (a job of another namespace answers 404, like one
    /// that does not exist).
    func readableJob(_ context: APIRequestContext) async throws -> Job {
        let id = try jobID(context)
        try context.authorize(.jobRead)
        let job = try await existingJob(id)
        try context.authorize(.jobRead, namespace: namespace(of: job), what: "job \(id)")
        return job
    }

    /// The namespace a job lives in.
    func namespace(of job: Job) -> String { job.spec.namespace }

    func detail(_ job: Job) async throws -> JobDetail {
        let id = job.id
        let executions = try await store.executions(of: id).sorted { $0.id < $1.id }
        let placed = Set(executions.map(\.nodeID))
        var names: [String: String] = [:]
        for node in await orchestrator.nodeSummaries() where placed.contains(node.id) { names[node.id.rawValue] = node.name }
        return JobDetail(
            job: job, executions: executions, placementFailures: await orchestrator.placementFailures(of: id),
            results: try await store.results(of: id), nodeNames: names)
    }

    /// An audit event for a request that did what it asked, now, by whoever made it.
    private func event(_ request: Request, _ context: APIRequestContext, _ action: String, _ details: [String: AuditValue]) -> AuditEvent {
        AuditEvent(time: SystemClock.now(), actor: auditActor(request, context: context), action: action, details: details)
    }

    /// `GET /v1/audit?after=SEQ&limit=N`: entries `after + 1` onwards (at most `limit`, 1 to
    /// 1000), as the log's own lines (NDJSON), so a reader can check their hashes and chain.
    private func readAudit(_ request: Request, context: APIRequestContext) throws -> Response {
        guard let audit = orchestrator.audit else { throw APIError.notFound("the audit log (this orchestrator keeps none)") }
        let parameters = try QueryParameters(request)
        let after = try parameters.integer("after", in: 0...Int64.max, default: 0)
        let limit = try parameters.integer("limit", in: 1...1000, default: 100)
        let page = try AuditFileCheck.page(path: audit.log.path, after: UInt64(after), limit: Int(limit))
        if let problem = page.problem {
            throw APIError(
                .internalServerError, code: "audit_damaged",
                message: "the orchestrator's audit log is damaged at \(problem); an operator must look at it (`insitu audit verify`)")
        }
        try audit.log.append(event(request, context, "audit.read", ["after": .int(after), "limit": .int(limit)]))
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson"], body: .init(byteBuffer: ByteBuffer(bytes: page.lines)))
    }

    private func uploadModule(_ request: Request, context: APIRequestContext) async throws -> Response {
        // Streamed to disk while hashing: memory stays at one chunk per upload, whatever its size.
        let writer = try blobs.writer(limit: Int64(Self.maxModuleBytes))
        defer { writer.discard() }
        do {
            for try await chunk in request.body {
                try chunk.withUnsafeReadableBytes { try writer.append($0) }
            }
        } catch let error as BlobStoreError where error.kind == .tooLarge {
            throw APIError(
                .contentTooLarge, code: "module_too_large",
                message: "modules are limited to \(Self.maxModuleBytes >> 20) MiB; nothing was stored")
        }
        guard writer.head.starts(with: [0x00, 0x61, 0x73, 0x6d]) else {
            throw APIError.badRequest("the uploaded file is not a WebAssembly module (it does not start with \\0asm)")
        }
        let size = writer.size
        let digest = try writer.finish()
        try orchestrator.audit?.log.append(event(request, context, "module.upload", ["sha256": .string(digest.rawValue), "size": .int(size)]))
        return try json(UploadModuleResponse(digest: digest, size: size), status: .created)
    }

    /// Streams a blob from disk in chunks, with backpressure, so slow readers cost no memory.
    func blob(_ hex: String, request: Request, context: APIRequestContext) async throws -> Response {
        guard let digest = ContentDigest(rawValue: hex) else {
            throw APIError.badRequest("\(hex) is not a sha256 digest (64 lowercase hex digits)")
        }
        guard blobs.contains(digest) else { throw APIError.notFound("blob sha256:\(hex)") }
        let body = try await FileIO().loadFile(path: blobs.path(for: digest), context: context)
        // Results and modules leaving the orchestrator, by digest (a result file's path and job are
        // in the `result.accept` entry that stored it).
        try orchestrator.audit?.log.append(event(request, context, "blob.read", ["sha256": .string(digest.rawValue)]))
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
    }

    private func submit(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.authorize(.jobSubmit)
        let idempotencyKey = try Self.idempotencyKey(request)
        let spec = try await submittedSpec(request, caller: caller, uploadsMustExist: true)
        let (job, created) = try await orchestrator.submit(spec, idempotencyKey: idempotencyKey)
        // After the commit: a job that exists is recorded even if the answer never arrives, and
        // a failure to record fails the request (the client retries with its idempotency key).
        var details = AuditDetails.job(job.spec)
        details["job"] = .string(job.id.rawValue)
        details["created"] = .int(created ? 1 : 0)
        try orchestrator.audit?.log.append(event(request, context, "job.submit", details))
        return try json(SubmitJobResponse(jobID: job.id, state: job.state), status: created ? .created : .ok)
    }

    /// `POST /v1/jobs/plan`: the submission checked exactly as `POST /v1/jobs` checks it, then
    /// planned against the cluster as it is, with nothing stored. The same scope as a submission,
    /// as Nomad's plan asks for: it shows where a job of the caller's would run.
    private func plan(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.authorize(.jobSubmit)
        // A dry run uploads nothing, so a module the client names by its local path is taken on
        // the digest it sends; a module named by digest must still be here.
        let spec = try await submittedSpec(request, caller: caller, uploadsMustExist: false)
        let preview = await orchestrator.preview(spec)
        return try json(
            JobPlanResponse(
                namespace: spec.namespace, placeable: preview.isComplete,
                placements: preview.placements.map { .init(partition: $0.partition, nodeID: $0.nodeID, nodeName: $0.nodeName) },
                unplacedPartitions: preview.unplacedPartitions, placementFailures: preview.rejections))
    }

    /// The body of a submission or plan: read within its limit, parsed and validated as a job spec
    /// (every problem at once), its modules resolved and its namespace decided for `caller`.
    private func submittedSpec(_ request: Request, caller: Caller, uploadsMustExist: Bool) async throws -> JobSpec {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxSubmitBytes)
        } catch {
            throw APIError(
                .contentTooLarge, code: "request_too_large",
                message: "a job submission is limited to \(Self.maxSubmitBytes >> 20) MiB (the spec and its module map); "
                    + "upload modules with POST /v1/modules and ship large inputs as node datasets")
        }
        let submission: SubmitJobRequest
        do {
            submission = try JSONDecoder().decode(SubmitJobRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw APIError.badRequest("the body must be JSON {\"spec\": \"<YAML or JSON job spec>\", \"uploadedModules\": {}}: \(error)")
        }
        let blobs = self.blobs
        let parsed = JobSpecParser.parse(submission.spec) { source in
            switch source {
            case .localFile(let path):
                guard let digest = submission.uploadedModules[path], !uploadsMustExist || blobs.contains(digest) else { return nil }
                return ModuleReference(digest: digest)
            case .digest(let digest):
                return blobs.contains(digest) ? ModuleReference(digest: digest) : nil
            case .url(let url, let digest):
                return digest.map { ModuleReference(digest: $0, url: url) }
            }
        }
        switch parsed {
        case .failure(let error):
            let problems = error.problems.map { APIProblem(path: $0.path, message: $0.message, hint: $0.hint) }
            throw APIError(
                .unprocessableContent, code: "invalid_spec",
                message: "the job spec has \(problems.count) problem\(problems.count == 1 ? "" : "s"); nothing was stored",
                problems: problems)
        case .success(let parsedSpec):
            return try Self.resolveNamespace(of: parsedSpec, named: JobSpecParser.namesNamespace(submission.spec), caller: caller)
        }
    }
}

extension HTTPAPI {
    static let maxIdempotencyKeyBytes = 255

    /// The one place a submission's namespace is decided. A caller confined to a namespace submits
    /// into it: a spec that names none goes there, one that names another is refused (403). A
    /// caller of every namespace (`--dev`, an administrator) gets the spec's, `default` if none.
    static func resolveNamespace(of spec: JobSpec, named: Bool, caller: Caller) throws -> JobSpec {
        var resolved = spec
        if !named, let own = caller.visibleNamespace { resolved.namespace = own }
        guard caller.canAccess(namespace: resolved.namespace) else {
            throw APIError(
                .forbidden, code: "namespace_forbidden",
                message: "your token acts in namespace \(caller.namespace) and cannot submit into \(resolved.namespace); "
                    + "remove `namespace` from the spec or use a token of that namespace")
        }
        return resolved
    }

    /// The submission's `Idempotency-Key` header: 1 to 255 printable ASCII characters, no spaces.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let value = request.headers.first(where: { $0.name.canonicalName == "idempotency-key" })?.value else { return nil }
        guard (1...maxIdempotencyKeyBytes).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError.badRequest(
                "header Idempotency-Key must be 1 to \(maxIdempotencyKeyBytes) printable ASCII characters without spaces, such as a UUID")
        }
        return value
    }
}

/// A page of a list as a JSON array (what clients before paging read), with the token of the
/// next page, if there is one, in `X-Insitu-Next-Token`.
func paged(_ items: some Encodable, next token: String?) throws -> Response {
    var response = try json(items)
    if let token, let name = HTTPFields.Element.Name(PageToken.header) { response.headers[name] = token }
    return response
}

func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONEncoder.api.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
