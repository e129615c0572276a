import Crypto
import Foundation
import InsituAPI
@testable import InsituAgent
import InsituExecutor
import InsituModel
import InsituTestKit
import Logging
import Testing

/// A job's module URL cannot make the node a scanner of its own network: no redirects to other
/// hosts, an allow-list of hosts, and failure reasons that reveal only a class.
@Suite struct ModuleFetchTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-fetch-\(UUID().uuidString)").path
    let module = Data("\0asm not really, but bytes with a digest".utf8)
    var digest: ContentDigest { ContentDigest(rawValue: SHA256.hash(data: module).map { String(format: "%02x", $0) }.joined())! }

    /// Runs one wasm execution whose module comes from `url` and returns its result.
    func run(url: String, allowedHosts: [String]? = nil, crossHostRedirects: Bool = false, digest: ContentDigest? = nil) async throws
        -> ExecutionResultMessage
    {
        let config = AgentConfig(
            name: "site", orchestrators: ["http://127.0.0.1:1"], dataDirectory: base + "/state-\(UUID().uuidString)",
            moduleAllowedHosts: allowedHosts, moduleCrossHostRedirects: crossHostRedirects)
        let outbox = Outbox(store: try AgentStore.inMemory())
        let executor = ScriptedExecutor(engine: .wasm) { _, _ in ExecutionOutcome(status: .succeeded, exitCode: 0) }
        let runner = try ExecutionRunner(
            config: config, outbox: outbox, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, executors: [.wasm: executor])
        let spec = JobSpec(name: "job", engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest ?? self.digest, url: url))))
        let assignment = ExecutionAssignment(executionID: ExecutionID(rawValue: "j-1-p0-a1"), jobID: "j-1", partition: 0, spec: spec)
        _ = try await runner.accept(assignment)
        await runner.run(assignment)
        for frame in await outbox.next(after: 0) {
            if case .executionResult(let result) = frame.body { return result }
        }
        throw FakeOrchestratorError("no result")
    }

    /// The origin serving the module, and a redirector on another port (another origin).
    func servers() async throws -> (origin: LoopbackHTTPServer, redirector: LoopbackHTTPServer) {
        let module = self.module
        let origin = try await LoopbackHTTPServer { path in
            switch path {
            case "/m": .init(status: 200, body: module)
            case "/moved": .init(status: 302, location: "/m")
            case "/other": .init(status: 200, body: Data("other bytes".utf8))
            default: .init(status: 404, body: Data("no such module".utf8))
            }
        }
        let target = origin.url + "/m"
        let redirector = try await LoopbackHTTPServer { _ in .init(status: 302, location: target) }
        return (origin, redirector)
    }

    @Test func aRedirectToAnotherHostIsNotFollowed() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (origin, redirector) = try await servers()
        defer { origin.stop(); redirector.stop() }
        let result = try await run(url: redirector.url + "/m")
        #expect(result.state == .failed)
        #expect(result.reason?.hasPrefix("module fetch failed (redirect refused)") == true, "\(result.reason ?? "")")
        #expect(origin.requestCount == 0, "the other host must not be contacted")
    }

    @Test func aHostOffTheAllowListIsNotContacted() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (origin, redirector) = try await servers()
        defer { origin.stop(); redirector.stop() }
        // The node's policy refuses it at admission, before any fetch (`ModuleFetcher` checks
        // the same list again on every redirect).
        let result = try await run(url: origin.url + "/m", allowedHosts: ["modules.example.org"])
        #expect(result.state == .failed)
        #expect(result.reason?.hasPrefix("node policy: modules may not be fetched from host \"127.0.0.1\"") == true, "\(result.reason ?? "")")
        #expect(origin.requestCount == 0)
        // A redirect to a host off the list is refused by the fetcher itself.
        let redirectorHost = String(redirector.url.dropFirst("http://".count))
        let redirected = try await run(url: redirector.url + "/m", allowedHosts: [redirectorHost], crossHostRedirects: true)
        #expect(redirected.reason?.hasPrefix("module fetch failed (host not allowed)") == true, "\(redirected.reason ?? "")")
        #expect(origin.requestCount == 0)
        let scheme = try await run(url: "http+unix://%2Fvar%2Frun%2Fdocker.sock/m")
        #expect(scheme.reason?.hasPrefix("module fetch failed (host not allowed)") == true, "\(scheme.reason ?? "")")
    }

    @Test func allowedFetchesAndRedirectsStillWork() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (origin, redirector) = try await servers()
        defer { origin.stop(); redirector.stop() }
        #expect(try await run(url: origin.url + "/m", allowedHosts: ["127.0.0.1"]).state == .succeeded)
        #expect(try await run(url: origin.url + "/moved").state == .succeeded, "a redirect within one host is followed")
        let across = try await run(url: redirector.url + "/m", allowedHosts: ["127.0.0.1"], crossHostRedirects: true)
        #expect(across.state == .succeeded, "\(across.reason ?? "")")
    }

    @Test func failureReasonsRevealOnlyAClass() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (origin, redirector) = try await servers()
        defer { origin.stop(); redirector.stop() }
        let missing = try await run(url: origin.url + "/missing")
        #expect(missing.reason == "module fetch failed (refused by the server)")
        let other = try await run(url: origin.url + "/other")
        #expect(other.reason?.hasPrefix("module fetch failed (digest mismatch)") == true, "\(other.reason ?? "")")
        let otherDigest = SHA256.hash(data: Data("other bytes".utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(other.reason?.contains(otherDigest) == false)
        let closed = try await run(url: "http://127.0.0.1:1/m")
        #expect(closed.reason == "module fetch failed (unreachable)")
        for reason in [missing.reason, other.reason, closed.reason].compactMap({ $0 }) {
            #expect(!reason.contains("404") && !reason.contains("refused:") && !reason.lowercased().contains("connection"), "\(reason)")
        }
    }
}
