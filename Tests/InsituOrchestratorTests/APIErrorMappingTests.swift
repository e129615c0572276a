import Foundation
import InsituAPI
@testable import InsituClient
import InsituOrchestrator
import InsituStore
import InsituStoreSQLite
import InsituTestKit
import Logging
import Synchronization
import Testing

/// How store failures reach an API caller, on the orchestrator served in process over loopback
/// with faults injected into its commits (issue 9, item 3).
@Suite(.timeLimit(.minutes(2)))
struct APIErrorMappingTests {
    /// Regression: a commit refused as a conflict (an ID or idempotency key taken in between, a
    /// stale version) answered an opaque 500 "internal error", although nothing was stored and
    /// the request may simply be retried. It is now 409 with code `conflict`, saying so.
    @Test func aConflictingCommitAnswers409InsteadOf500() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-conflict-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let conflicts = Mutex(0)
        let sqlite = try SQLiteStore(path: directory + "/state.sqlite")
        let store = CommitHookStore(base: sqlite) {
            let inject = conflicts.withLock { count in
                defer { count = max(0, count - 1) }
                return count > 0
            }
            if inject { throw StoreError("job ID j-1 is already taken; the new job was not stored", kind: .conflict) }
        }
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = try await OrchestratorServer.make(
            configuration: .init(port: 0), store: store, blobs: try BlobStore(root: directory + "/blobs"), tokens: sqlite, identities: sqlite,
            authentication: .development, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
            onServerRunning: { portContinuation.yield($0) })
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        var portIterator = ports.makeAsyncIterator()
        let client = InsituClient(baseURL: "http://127.0.0.1:\(try #require(await portIterator.next()))")
        let module = "module: \"https://modules.invalid/m.wasm\", sha256: \(String(repeating: "a", count: 64))"
        let spec = try JSONEncoder().encode(SubmitJobRequest(spec: "version: v1\nname: clash\nengine: {type: wasm, \(module)}\n"))

        conflicts.withLock { $0 = 1 }
        let refused = try await client.exchange("POST", "/v1/jobs", body: spec)
        #expect(refused.status == 409, "\(refused.status): \(String(decoding: refused.body, as: UTF8.self))")
        #expect(refused.headers["content-type"] == ProblemDetails.mediaType)
        let details = try JSONDecoder().decode(ProblemDetails.self, from: refused.body)
        #expect(details.code == "conflict" && details.detail.contains("nothing was stored") && details.detail.contains("retry"), "\(details.detail)")

        // The retry the answer suggests goes through.
        let retried = try await client.exchange("POST", "/v1/jobs", body: spec)
        #expect(retried.status == 201, "\(String(decoding: retried.body, as: UTF8.self))")
    }

    /// The client reads problem details, the `{"error": …}` body of orchestrators before them, a
    /// proxy's problem without `code`, and anything else, into a message a person can act on.
    @Test func theClientReadsEveryErrorShape() throws {
        let problem = try JSONEncoder().encode(
            ProblemDetails(status: 422, title: "Unprocessable Content", code: "invalid_spec", detail: "the job spec has 1 problem",
                problems: [APIProblem(path: "engine.type", message: "unknown engine", hint: "wasm, process, container or sql")]))
        let current = InsituClient.failure(status: 422, body: problem, method: "POST", path: "/v1/jobs")
        #expect(current.code == "invalid_spec" && current.message == "the job spec has 1 problem" && current.problems.map(\.path) == ["engine.type"])
        #expect(current.description.contains("engine.type: unknown engine") && current.description.contains("hint: wasm"))

        let legacy = InsituClient.failure(
            status: 404, body: Data(#"{"error":{"code":"not_found","message":"job x does not exist"}}"#.utf8), method: "GET", path: "/v1/jobs/x")
        #expect(legacy.code == "not_found" && legacy.message == "job x does not exist")

        let proxy = InsituClient.failure(
            status: 502, body: Data(#"{"type":"about:blank","title":"Bad Gateway","status":502}"#.utf8), method: "GET", path: "/v1/jobs")
        #expect(proxy.code == "http_502" && proxy.message == "Bad Gateway")

        let bare = InsituClient.failure(status: 503, body: Data("<html>busy</html>".utf8), method: "GET", path: "/v1/nodes")
        #expect(bare.code == "http_503" && bare.message == "GET /v1/nodes answered 503")
    }
}
