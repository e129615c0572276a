import Foundation
import InsituAPI
import InsituAudit
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituTestKit
import Testing

/// Issue 9, item 3 on real processes: every error of the REST API is RFC 9457 problem details,
/// unknown routes and wrong methods answer 404 and 405 with a body, the OpenAPI document is
/// served without a token, and real answers match the schemas it documents.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct APIProblemTests {
    /// The exchange's body as problem details, after checking its media type.
    private func problem(_ exchange: InsituClient.Exchange, sourceLocation: SourceLocation = #_sourceLocation) throws -> ProblemDetails {
        #expect(exchange.headers["content-type"] == "application/problem+json", sourceLocation: sourceLocation)
        let details = try JSONDecoder().decode(ProblemDetails.self, from: exchange.body)
        #expect(details.status == exchange.status, sourceLocation: sourceLocation)
        #expect(details.type == ProblemDetails.typeBase + details.code, sourceLocation: sourceLocation)
        #expect(!details.title.isEmpty && !details.detail.isEmpty, sourceLocation: sourceLocation)
        return details
    }

    private func refusals(_ e2e: E2E, code: String) throws -> [AuditEntry] {
        let read = AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/orchestrator/audit.log"))))
        #expect(read.problem == nil)
        return read.entries.filter { $0.event.action == "request.refused" && $0.event.details["code"]?.string == code }
    }

    @Test func errorsAreProblemDetailsThatKeepTheirCodeAndFieldPaths() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let client = e2e.cluster.client

        let missing = try problem(try await client.exchange("GET", "/v1/jobs/j-nope"))
        #expect(missing.status == 404 && missing.code == "not_found" && missing.title == "Not Found")
        #expect(missing.detail == "job j-nope does not exist")

        let spec = try JSONEncoder().encode(SubmitJobRequest(spec: "version: v1\nname: broken\nengine: {type: teleport}\ncount: -1\n"))
        let invalid = try problem(try await client.exchange("POST", "/v1/jobs", body: spec))
        #expect(invalid.status == 422 && invalid.code == "invalid_spec")
        let paths = Set((invalid.problems ?? []).map(\.path))
        #expect(paths.contains("engine.type") && paths.contains("count"), "\(invalid)")

        let query = try problem(try await client.exchange("GET", "/v1/jobs?limit=0"))
        #expect(query.status == 400 && query.code == "bad_request" && query.detail.contains("query parameter limit=0"))

        // The CLI says what it said before the body changed shape.
        let describe = try e2e.cli(["job", "describe", "j-nope"])
        #expect(describe.status != 0 && describe.stderr.contains("job j-nope does not exist"), "\(describe.stderr)")
        let specPath = try e2e.specFile("broken", "version: v1\nname: broken\nengine: {type: teleport}\n")
        let run = try e2e.cli(["job", "run", specPath])
        #expect(run.status != 0 && run.stderr.contains("engine.type"), "\(run.stderr)")

        // Refusals are still audited with their code and field paths.
        let refused = try refusals(e2e, code: "invalid_spec")
        #expect(
            refused.contains {
                guard case .list(let listed) = $0.event.details["problems"] else { return false }
                return listed.contains(.string("engine.type")) && listed.contains(.string("count"))
            }, "\(refused)")
    }

    @Test func unknownRoutesAnswer404AndWrongMethods405WithAllow() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let client = e2e.cluster.client

        let unknown = try await client.exchange("GET", "/v1/no-such-thing")
        #expect(unknown.status == 404)
        let details = try problem(unknown)
        #expect(details.code == "no_route" && details.detail.contains("GET /v1/no-such-thing") && details.detail.contains("/v1/openapi.json"))

        // A client whose address already ends in /v1.
        let doubled = try problem(try await client.exchange("GET", "/v1/v1/jobs"))
        #expect(doubled.code == "no_route" && doubled.detail.contains("ends in /v1"), "\(doubled.detail)")

        let cases: [(method: String, path: String, allow: String)] = [
            ("DELETE", "/v1/jobs", "GET, POST"),
            ("PUT", "/v1/jobs/j-1/stop", "POST"),
            ("GET", "/v1/jobs/j-1/stop", "POST"),
            ("POST", "/v1/health", "GET"),
            ("PATCH", "/v1/tokens/t-1", "DELETE"),
            // Found by schemathesis: TRACE and QUERY answered 404 no_route.
            ("TRACE", "/v1/health", "GET"),
            ("QUERY", "/v1/jobs", "GET, POST"),
            ("HEAD", "/v1/jobs/j-1/history", "GET"),
        ]
        for (method, path, allow) in cases {
            let answer = try await client.exchange(method, path)
            #expect(answer.status == 405, "\(method) \(path) answered \(answer.status)")
            #expect(answer.headers["allow"] == allow, "\(method) \(path): Allow \(answer.headers["allow"] ?? "missing")")
            // An answer to HEAD has no body.
            guard method != "HEAD" else { continue }
            let details = try problem(answer)
            #expect(details.code == "method_not_allowed" && details.detail.contains(allow), "\(details.detail)")
        }
        #expect(try refusals(e2e, code: "method_not_allowed").count == cases.count)
        #expect(try refusals(e2e, code: "no_route").count == 2)
        #expect(e2e.cluster.orchestrator?.isRunning == true)
    }

    /// Regression found by schemathesis: the document (and the type) make `uploadedModules`
    /// optional, but a submission without it was refused with 400 `keyNotFound`.
    @Test func aSubmissionWithoutUploadedModulesIsAccepted() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let module = "module: \"https://modules.invalid/m.wasm\", sha256: \(String(repeating: "a", count: 64))"
        let body = try JSONSerialization.data(withJSONObject: ["spec": "version: v1\nname: bare\nengine: {type: wasm, \(module)}\n"])
        let answer = try await e2e.cluster.client.exchange("POST", "/v1/jobs", body: body)
        #expect(answer.status == 201, "\(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        let created = try JSONDecoder().decode(SubmitJobResponse.self, from: answer.body)
        #expect(try await e2e.cluster.client.job(created.jobID.rawValue).job.spec.name == "bare")
    }

    /// Authentication is outermost: without a valid token an unknown route answers 401, as Nomad
    /// and Kubernetes do, so an anonymous caller cannot map which paths exist.
    @Test func withoutATokenUnknownRoutesAnswer401AndTheDocumentIsOpen() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let anonymous = e2e.cluster.client(token: nil)

        let refused = try await anonymous.exchange("GET", "/v1/no-such-thing")
        #expect(refused.status == 401 && refused.headers["www-authenticate"] == "Bearer realm=\"insitu\"")
        #expect(try problem(refused).code == "token_missing")
        let wrongMethod = try await anonymous.exchange("DELETE", "/v1/jobs")
        #expect(wrongMethod.status == 401)

        let admin = e2e.cluster.client
        #expect(try problem(try await admin.exchange("GET", "/v1/no-such-thing")).code == "no_route")
        #expect(try await admin.exchange("DELETE", "/v1/jobs").status == 405)

        let document = try await anonymous.exchange("GET", "/v1/openapi.json")
        #expect(document.status == 200 && document.headers["content-type"] == "application/json")
        let check = try OpenAPISchemaCheck(documentJSON: document.body)
        #expect(check.document["openapi"] as? String == "3.1.0")
        #expect(check.operations.contains { $0 == (method: "post", path: "/v1/jobs") })
    }

    /// The request-head guard answers before any route runs; its refusals are problem details too.
    @Test func requestHeadRefusalsAreProblemDetails() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let port = try #require(Int(e2e.cluster.apiURL.split(separator: ":").last ?? ""))
        let connection = try RawConnection(port: port)
        try connection.send("GET /v1/jobs?\(String(repeating: "x", count: 10_000)) HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = String(decoding: connection.read(timeout: .seconds(10)).bytes, as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 414 URI Too Long\r\n"), "\(response.prefix(200))")
        #expect(response.contains("content-type: application/problem+json\r\n"))
        let body = try #require(response.components(separatedBy: "\r\n\r\n").last)
        let details = try JSONDecoder().decode(ProblemDetails.self, from: Data(body.utf8))
        #expect(details.status == 414 && details.code == "uri_too_long" && details.type == ProblemDetails.typeBase + "uri_too_long")
    }

    /// Answers of a real cluster that ran a job, checked against the schemas the served
    /// document gives for their operation and status (errors included).
    @Test func answersMatchTheDocumentedSchemas() async throws {
        let e2e = try await E2E.withOneNode("schema-node")
        defer { e2e.tearDown() }
        let client = e2e.cluster.client
        let check = try OpenAPISchemaCheck(documentJSON: try await client.exchange("GET", "/v1/openapi.json").body)

        let spec = try e2e.specFile("hello", "version: v1\nname: hello\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)
        let id = try e2e.submit(spec)
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed)
        let node = try await e2e.nodeID(named: "schema-node")
        let created = try await client.createToken(CreateTokenRequest(name: "reader", namespace: "default", scopes: ["job:read"], ttlSeconds: nil))
        let module = try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/specs/hello.wasm"))
        let submit = try JSONEncoder().encode(SubmitJobRequest(spec: "version: v1\nname: x\nengine: {type: teleport}\n"))
        // A dry run takes a local module on its digest: nothing was uploaded under this one.
        let plan = try JSONEncoder().encode(
            SubmitJobRequest(
                spec: "version: v1\nname: p\nengine: {type: wasm, module: ./m.wasm}\n",
                uploadedModules: ["./m.wasm": ContentDigest(rawValue: String(repeating: "a", count: 64))!]))

        let requests: [(method: String, path: String, body: Data?, contentType: String, status: Int)] = [
            ("GET", "/v1/health", nil, "", 200),
            ("GET", "/v1/jobs", nil, "", 200),
            ("GET", "/v1/jobs/\(id)", nil, "", 200),
            ("GET", "/v1/jobs/\(id)/history", nil, "", 200),
            ("GET", "/v1/jobs/\(id)/logs", nil, "", 200),
            ("GET", "/v1/jobs/\(id)/results", nil, "", 200),
            ("GET", "/v1/jobs/\(id)/wait?timeout=1", nil, "", 200),
            ("POST", "/v1/jobs/\(id)/stop", nil, "", 200),
            ("GET", "/v1/nodes", nil, "", 200),
            ("GET", "/v1/nodes/\(node)", nil, "", 200),
            ("POST", "/v1/nodes/\(node)/drain", nil, "", 200),
            ("DELETE", "/v1/nodes/\(node)/drain", nil, "", 200),
            ("DELETE", "/v1/nodes/\(node)", nil, "", 409),
            ("DELETE", "/v1/nodes/n-nope", nil, "", 404),
            ("GET", "/v1/whoami", nil, "", 200),
            ("GET", "/v1/tokens", nil, "", 200),
            ("DELETE", "/v1/tokens/\(created.info.id)", nil, "", 200),
            ("POST", "/v1/modules", module, "application/wasm", 201),
            ("GET", "/v1/audit?limit=5", nil, "", 200),
            ("GET", "/v1/jobs/j-nope", nil, "", 404),
            ("POST", "/v1/jobs", submit, "application/json", 422),
            ("POST", "/v1/jobs/plan", submit, "application/json", 422),
            ("POST", "/v1/jobs/plan", plan, "application/json", 200),
            ("POST", "/v1/tokens", Data(#"{"name":"","namespace":"default","scopes":[]}"#.utf8), "application/json", 422),
            ("GET", "/v1/jobs?limit=x", nil, "", 400),
            ("GET", "/v1/blobs/xyz", nil, "", 400),
            // Issue 9, item 1: filtered and paged lists, and their refusals.
            ("GET", "/v1/jobs?state=completed,stopped&name=a&namespace=default&limit=1", nil, "", 200),
            ("GET", "/v1/jobs?state=done", nil, "", 400),
            ("GET", "/v1/jobs?next_token=nonsense", nil, "", 400),
            ("GET", "/v1/nodes?status=connected&label=a=b&limit=1", nil, "", 200),
            ("GET", "/v1/nodes?label=nokey", nil, "", 400),
        ]
        for request in requests {
            let answer = try await client.exchange(
                request.method, request.path, body: request.body, contentType: request.contentType.isEmpty ? "application/json" : request.contentType)
            #expect(answer.status == request.status, "\(request.method) \(request.path): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
            let path = String(request.path.split(separator: "?").first ?? "")
            let problems = check.problems(
                method: request.method, path: path, status: answer.status, contentType: answer.headers["content-type"] ?? "", body: answer.body)
            #expect(problems.isEmpty, "\(request.method) \(request.path): \(problems)")
        }
    }
}
