import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituOrchestrator
import InsituStore
import InsituStoreSQLite
import InsituTestKit
import Logging
import Synchronization
import Testing

/// The orchestrator's WebSocket link to a node, served in process over loopback, with commits
/// that the test can hold (issue 6, item 12).
@Suite(.timeLimit(.minutes(2)))
struct NodeLinkPipeliningTests {
    /// Regression: the link applied a node's messages one commit at a time, reading the next
    /// frame only once the previous one was durable, so a node's results never shared a commit
    /// (one fsync per result bounded throughput) and the link fell behind a busy node. It now
    /// reads on while a commit is under way and acknowledges each message once it is durable.
    @Test func aNodesNextMessagesAreReadWhileAnEarlierOnesCommitIsUnderWay() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-link-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gate = CommitGate()
        // Released in any case, so a failing run does not leave the server waiting on a commit.
        defer { gate.release() }
        let blobs = try BlobStore(root: directory + "/blobs")
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let sqlite = try SQLiteStore(path: directory + "/state.sqlite")
        let app = try await OrchestratorServer.make(
            configuration: .init(port: 0), store: CommitHookStore(base: sqlite) { await gate.pass() },
            blobs: blobs, tokens: sqlite, identities: sqlite, authentication: .development,
            // The fake node sends no heartbeats; on a loaded machine the default (dead after 20 s
            // of silence) closed its link before the test was done with it.
            settings: .init(heartbeatInterval: .seconds(60)),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
            onServerRunning: { portContinuation.yield($0) })
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        var portIterator = ports.makeAsyncIterator()
        let api = "http://127.0.0.1:\(try #require(await portIterator.next()))"
        let client = InsituClient(baseURL: api)
        let module = try await client.uploadModule(Data([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])).digest
        let spec = """
            version: v1
            name: pipelined
            engine: {type: wasm, module: "sha256:\(module.rawValue)"}
            resources: {cpu: 1m, memory: 1Mi}
            """

        let outputs = ["first", "second", "third"]
        let hello = AgentHello(node: FakeNode.info(id: "node-a"), epoch: 1, knownExecutions: [])
        let jobs = Mutex<[JobID]>([])
        try await FakeNode.connect(api: api, hello: hello) { link in
            #expect(try await link.read { $0.welcome != nil })
            for _ in outputs {
                let job = try await client.submit(SubmitJobRequest(spec: spec)).jobID
                jobs.withLock { $0.append(job) }
            }
            #expect(try await link.read { $0.assignments.count == outputs.count })
            let results = zip(link.assignments, outputs).map { assignment, output in
                let bytes = Data(output.utf8)
                return AgentMessage.executionResult(
                    ExecutionResultMessage(
                        executionID: assignment.executionID, state: .succeeded, exitCode: 0, reason: nil,
                        files: [ResultFilePayload(path: "stdout", base64: bytes.base64EncodedString(), sha256: BlobStore.digest(of: bytes))]))
            }

            gate.hold()
            try await link.send(results[0])
            try await waitUntil(timeout: .seconds(10), "the first result's commit to start") { gate.waiting == 1 }
            try await link.send(results[1])
            try await link.send(results[2])
            // The third result's file is stored only once the link has read its frame.
            let third = BlobStore.digest(of: Data(outputs[2].utf8))
            try await waitUntil(timeout: .seconds(10), "the link to read the third result while the first one's commit waits") {
                blobs.contains(third)
            }
            gate.release()
            #expect(try await link.read { $0.acknowledged >= 3 }, "every result is acknowledged once durable")
        }
        for job in jobs.withLock({ $0 }) {
            #expect(try await client.wait(job.rawValue).state == .completed)
        }
    }
}

/// Holds commits while `hold()` is in force, so a test can look at what happens meanwhile.
final class CommitGate: Sendable {
    private struct State {
        var holding = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Commits that are waiting to go through.
    var waiting: Int { state.withLock { $0.waiters.count } }

    func hold() { state.withLock { $0.holding = true } }

    func release() {
        let waiters = state.withLock { state in
            state.holding = false
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func pass() async {
        await withCheckedContinuation { continuation in
            let open = state.withLock { state in
                guard state.holding else { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }
}
