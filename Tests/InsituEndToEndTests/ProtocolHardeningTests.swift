import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituTestKit
import Testing

/// A real orchestrator process against a fake node that sends what no honest agent would
/// (issue 5). Each test states the attack it replays.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ProtocolHardeningTests {
    /// Not retried, so a refused result ends the job at once.
    static let helloSpec = """
        version: v1
        name: hello
        engine: {type: wasm, module: ./hello.wasm}
        retry: {attempts: 1}
        """

    static func hello(_ info: NodeInfo, epoch: UInt64 = 1) -> AgentHello {
        AgentHello(node: info, epoch: epoch, knownExecutions: [])
    }

    /// Item 3: a node holding an allocation said hello again with `cpuMillis = -2^63`; the next
    /// placement trapped on overflow, and because the record was stored, so did the first
    /// placement after every restart.
    @Test func aHostileHelloIsRefusedAndTheOrchestratorSurvivesPlacementAndRestart() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let api = e2e.cluster.apiURL
        let spec = try e2e.specFile("hello", Self.helloSpec, wat: Modules.hello)

        // The node takes an allocation: the job is placed on it (and never finishes).
        let first = try e2e.submit(spec)
        try await FakeNode.connect(api: api, hello: Self.hello(FakeNode.info(id: "fake-1"))) { link throws in
            let placed = try await link.read { !$0.assignments.isEmpty }
            #expect(placed)
            #expect(link.assignments.map(\.jobID.rawValue) == [first])
        }

        let hostile = FakeNode.info(id: "fake-1", cpuMillis: Int.min)
        let refusal = try await FakeNode.connect(api: api, hello: Self.hello(hostile, epoch: 2)) { link in
            // Stops at a welcome (the old behaviour) or when the orchestrator closes the link.
            _ = try await link.read { $0.welcome != nil }
            #expect(link.welcome == nil, "the hostile hello was welcomed")
        }
        #expect(refusal?.code == 1008, "policy violation")
        #expect(refusal?.reason?.contains("resources.cpuMillis") == true, "\(String(describing: refusal))")

        // The next placement runs the scheduler over the node's allocation.
        _ = try e2e.submit(spec)
        #expect(e2e.cluster.orchestrator?.isRunning == true, "\(e2e.cluster.orchestrator?.log() ?? "")")
        let node = try #require(try await e2e.cluster.client.nodes().first { $0.id == "fake-1" })
        #expect(node.resources.cpuMillis == 4000, "the valid registration stays in force")

        // And after a restart, the first placement too.
        e2e.cluster.killOrchestrator()
        try await e2e.cluster.startOrchestrator()
        _ = try e2e.submit(spec)
        #expect(e2e.cluster.orchestrator?.isRunning == true, "\(e2e.cluster.orchestrator?.log() ?? "")")
        #expect(try await e2e.cluster.client.health()["status"] == "ok")
    }

    /// Item 17: 10,000 malformed frames after the hello were skipped without a disconnect.
    @Test func aNodeSendingMalformedFramesIsDisconnected() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let close = try await FakeNode.connect(api: e2e.cluster.apiURL, hello: Self.hello(FakeNode.info(id: "fake-garbage"))) { link in
            let welcomed = try await link.read { $0.welcome != nil }
            #expect(welcomed)
            // Sends fail once the orchestrator has closed the connection.
            do {
                for index in 0..<100 { try await link.sendText("{\"seq\": \(index), \"body\": not json") }
                // A well-formed message the orchestrator acknowledges if it is still listening.
                _ = try await link.send(.heartbeat(Heartbeat(runningExecutions: [])))
            } catch {}
            let acknowledged = try await link.read { $0.acknowledged >= 1 }
            #expect(!acknowledged, "the connection stayed open after 100 malformed frames")
        }
        #expect(close?.code == 1002, "protocol error")
        #expect(close?.reason?.contains("undecodable") == true, "\(String(describing: close))")
        #expect(e2e.cluster.orchestrator?.isRunning == true)
    }

    /// Item 17: a result whose digest was not hex made the whole frame undecodable, so it was
    /// skipped and the execution stayed `dispatched` forever.
    @Test func aResultWithAMalformedDigestFailsItsExecution() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let spec = try e2e.specFile("hello", Self.helloSpec, wat: Modules.hello)
        let id = try e2e.submit(spec)
        try await FakeNode.connect(api: e2e.cluster.apiURL, hello: Self.hello(FakeNode.info(id: "fake-1"))) { link in
            #expect(try await link.read { !$0.assignments.isEmpty })
            let execution = try #require(link.assignments.first).executionID
            let bytes = Data("hello\n".utf8)
            let file = ResultFilePayload(
                path: "stdout", base64: bytes.base64EncodedString(), sha256Text: String(repeating: "zz", count: 32))
            try await link.send(
                .executionResult(ExecutionResultMessage(executionID: execution, state: .succeeded, exitCode: 0, reason: nil, files: [file]))
            )
            // A later message shows the report was processed (or, before the fix, skipped).
            let last = try await link.send(.heartbeat(Heartbeat(runningExecutions: [])))
            #expect(try await link.read { $0.acknowledged >= last })
        }
        let detail = try await e2e.waitForState(id, timeout: .seconds(10)) { $0.isTerminal }
        #expect(detail.job.state == .failed)
        let reason = detail.executions.first?.stateReason ?? ""
        #expect(reason.contains("malformed sha256"), "\(reason)")
    }

    /// Item 8: any node could inject output into any execution, all output was stored, and one
    /// logs request returned all of it.
    @Test func outputIsOwnedCappedAndServedInBoundedPages() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let api = e2e.cluster.apiURL
        let spec = try e2e.specFile("hello", Self.helloSpec, wat: Modules.hello)
        let id = try e2e.submit(spec)
        try await FakeNode.connect(api: api, hello: Self.hello(FakeNode.info(id: "fake-owner"))) { owner in
            #expect(try await owner.read { !$0.assignments.isEmpty })
            let execution = try #require(owner.assignments.first).executionID
            try await FakeNode.connect(api: api, hello: Self.hello(FakeNode.info(id: "fake-intruder"))) { intruder in
                #expect(try await intruder.read { $0.welcome != nil })
                let seq = try await intruder.send(
                    .executionOutput(ExecutionOutput(executionID: execution, stream: "stdout", text: "INJECTED\n")))
                #expect(try await intruder.read { $0.acknowledged >= seq })
            }
            // 3 MiB of output in 512 KiB chunks.
            let chunk = String(repeating: "x", count: 512 << 10)
            var last: UInt64 = 0
            for _ in 0..<6 {
                last = try await owner.send(.executionOutput(ExecutionOutput(executionID: execution, stream: "stdout", text: chunk)))
            }
            #expect(try await owner.read { $0.acknowledged >= last })
        }

        let client = e2e.cluster.client
        var after: Int64 = 0
        var text = ""
        var pages = 0
        while pages < 100 {
            let page = try await client.logs(id, after: after)
            guard let end = page.entries.last else { break }
            let bytes = page.entries.reduce(0) { $0 + $1.text.utf8.count }
            #expect(bytes <= 1 << 20, "page \(pages) holds \(bytes) bytes")
            text += page.entries.map(\.text).joined()
            after = end.sequence
            pages += 1
        }
        #expect(!text.contains("INJECTED"))
        // The orchestrator's cap (1 MiB plus 4 KiB for a node's own note) and one marker line.
        #expect(text.utf8.count <= (1 << 20) + (4 << 10) + 256, "the head of the output and one marker line")
        #expect(text.contains("the rest of it is dropped"))
        #expect(pages >= 2)
        // `job logs` follows the pages to the end.
        let printed = try e2e.cli(["job", "logs", id])
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout == text)
    }
}
