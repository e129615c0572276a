import Foundation
import InsituAPI
import InsituControlPlane
import InsituModel
import InsituOrchestrator
import InsituTestKit
import Testing

/// Item 8 of issue 5: any node could add output to any execution, and all of it was stored.
@Suite struct OutputLimitTests {
    static func output(_ execution: ExecutionID, _ text: String, stream: String = "stdout") -> AgentMessage {
        .executionOutput(ExecutionOutput(executionID: execution, stream: stream, text: text))
    }

    @Test func onlyTheExecutionsNodeMayAddOutputAndOnlyWhileItRuns() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        try await harness.connect("node-b", epoch: 2, connection: 2)
        let job = try await harness.orchestrator.submit(.fixture(count: 2, cpu: 3000))
        let onA = try #require(node.assignments.first).executionID
        let executions = try await harness.store.executions(of: job.id)
        #expect(executions.first { $0.id == onA }?.nodeID == "node-a")

        try await harness.orchestrator.handle(Self.output(onA, "injected\n"), from: "node-b")
        try await harness.orchestrator.handle(Self.output(onA, "not a stream\n", stream: "secrets"), from: "node-a")
        try await harness.orchestrator.handle(Self.output(onA, "mine\n"), from: "node-a")
        try await harness.succeed(onA, on: "node-a")
        try await harness.orchestrator.handle(Self.output(onA, "after the end\n"), from: "node-a")
        let texts = try await harness.store.logs(of: job.id, after: 0, limit: 100).map(\.text)
        #expect(texts == ["mine\n"])
    }

    @Test func outputBeyondTheCapIsDroppedAndSaysSo() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture())
        let execution = try #require(node.assignments.first).executionID
        let chunk = String(repeating: "a", count: 600 << 10)
        for _ in 0..<5 { try await harness.orchestrator.handle(Self.output(execution, chunk), from: "node-a") }
        try await harness.orchestrator.handle(Self.output(execution, "small\n", stream: "stderr"), from: "node-a")

        let stored = try await harness.store.logBytes(of: job.id, execution: execution)
        let cap = LogLimits.maxBytesPerStream
        #expect((stored["stdout"] ?? 0) <= cap + 256, "the head and one marker line")
        #expect((stored["stdout"] ?? 0) >= cap)
        #expect(stored["stderr"] == 6, "each stream has its own budget")
        let markers = try await harness.store.logs(of: job.id, after: 0, limit: 100).filter { $0.text.hasPrefix("\n[insitu:") }
        #expect(markers.count == 1)
        #expect(markers.first?.text.contains("dropped") == true)

        // The result closes the log with the count of dropped bytes.
        try await harness.succeed(execution, on: "node-a")
        let last = try #require(try await harness.store.logs(of: job.id, after: 0, limit: 100).last)
        #expect(last.text.contains("\(5 * (600 << 10) - Int(cap)) bytes of stdout"), "\(last.text)")
    }

    @Test func theCapHoldsAcrossARestart() async throws {
        let first = try await Harness()
        let node = try await first.connect("node-a")
        let job = try await first.orchestrator.submit(.fixture())
        let execution = try #require(node.assignments.first).executionID
        try await first.orchestrator.handle(Self.output(execution, String(repeating: "a", count: 1 << 20)), from: "node-a")

        let second = try await Harness(directory: first.directory)
        try await second.connect("node-a", epoch: 2)
        try await second.orchestrator.handle(Self.output(execution, String(repeating: "b", count: 1 << 20)), from: "node-a")
        let stored = try await second.store.logBytes(of: job.id, execution: execution)
        #expect((stored["stdout"] ?? 0) <= LogLimits.maxBytesPerStream + 256)
    }

    @Test func aCutNeverSplitsACharacter() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture())
        let execution = try #require(node.assignments.first).executionID
        try await harness.orchestrator.handle(Self.output(execution, "a" + String(repeating: "é", count: Int(LogLimits.maxBytesPerStream) / 2)), from: "node-a")
        let first = try #require(try await harness.store.logs(of: job.id, after: 0, limit: 1).first)
        #expect(first.text.utf8.count == Int(LogLimits.maxBytesPerStream) - 1, "one byte short: the next character needs two")
        #expect(first.text.last == "é")
    }
}
