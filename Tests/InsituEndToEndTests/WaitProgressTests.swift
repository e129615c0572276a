import Foundation
import InsituAPI
import InsituModel
import Testing

/// `job run --wait` shows what happens to the job while it happens, and `--timeout` bounds the
/// wait (issue 6, item 6).
@Suite struct WaitProgressTests {
    @Test func waitShowsQueueingReasonsAndTimeoutEndsTheWaitButNotTheJob() async throws {
        let e2e = try await E2E.withOneNode("only")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile(
            "elsewhere",
            """
            version: v1
            name: elsewhere
            inputs: [{dataset: nowhere, target: /data}]
            engine: {type: wasm, module: ./elsewhere.wasm}
            """, wat: Modules.hello)
        let started = ContinuousClock.now
        let waited = try e2e.cli(["job", "run", spec, "--wait", "--timeout", "3s"])
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(waited.status == 124, "timed out waiting: \(waited.status) \(waited.stderr)")
        let lines = waited.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("Job ID: ") == true, "the ID comes first: \(waited.stdout)")
        #expect(waited.stdout.contains("could not place the job") || waited.stdout.contains("could not place 1 partition"), "\(waited.stdout)")
        #expect(waited.stdout.contains("dataset \"nowhere\""), "the per-node reason is shown: \(waited.stdout)")
        #expect(waited.stderr.contains("still queued after 3s"), "\(waited.stderr)")
        // The job itself keeps waiting for a node.
        let id = try #require(lines.first.map { String($0.dropFirst("Job ID: ".count)) })
        #expect(try await e2e.cluster.client.job(id).job.state == .queued)
    }

    @Test func waitShowsRetriesOfAFailingPartition() async throws {
        let e2e = try await E2E.withOneNode("only")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile(
            "spin",
            """
            version: v1
            name: spinner
            engine: {type: wasm, module: ./spin.wasm}
            timeout: 300ms
            retry: {attempts: 2, delay: 100ms}
            """, wat: Modules.spin)
        let waited = try e2e.cli(["job", "run", spec, "--wait"])
        #expect(waited.status == 1, "\(waited.stderr)")
        #expect(waited.stdout.contains("attempt 1 placed"), "\(waited.stdout)")
        #expect(waited.stdout.contains("will be tried again (attempt 2)"), "\(waited.stdout)")
        #expect(waited.stdout.contains("attempt 2 placed"), "\(waited.stdout)")
        #expect(waited.stdout.contains("State:  failed"), "\(waited.stdout)")

        // describe shows every attempt, and why each ended.
        let id = try #require(waited.stdout.split(separator: "\n").first.map { String($0.dropFirst("Job ID: ".count)) })
        let described = try e2e.cli(["job", "describe", id])
        #expect(described.stdout.contains("Retry:   2 attempts"), "\(described.stdout)")
        let rows = described.stdout.split(separator: "\n").filter { $0.hasPrefix(id) }
        #expect(rows.count == 2, "\(described.stdout)")
        #expect(rows.allSatisfy { $0.contains("failed") && $0.contains("timeout") }, "\(described.stdout)")
        #expect(rows.contains { $0.contains("-a1 ") } && rows.contains { $0.contains("-a2 ") }, "\(described.stdout)")
    }

    @Test func timeoutWithoutWaitIsRefusedAtParseTime() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let refused = try e2e.cli(["job", "run", "spec.yaml", "--timeout", "3s"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--timeout applies only with --wait"), "\(refused.stderr)")
    }
}
