import Foundation
import InsituAPI
import InsituModel
import InsituOrchestrator
import InsituStore
import InsituStoreSQLite
import InsituTestKit
import Logging
import Synchronization
import Testing

/// The orchestrator's applier in process, with a real SQLite store, a manual clock, seeded IDs and
/// recorded node connections instead of sockets.
struct Harness {
    let orchestrator: Orchestrator
    let store: SQLiteStore
    let clock = ManualClock()
    /// Faults injected into the orchestrator's commits (`store` itself stays reliable for checks).
    let faults = StoreFaults()
    let directory: String

    /// `seed` chooses the job IDs; a second harness on the same directory needs another one.
    /// `jobIDs`, when given, replaces the seeded job IDs (for collision tests).
    init(
        directory: String? = nil, seed: UInt64 = 1, jobIDs: (@Sendable () -> JobID)? = nil, metrics: OrchestratorMetrics = .disabled,
        recover: Bool = true
    ) async throws {
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("insitu-orch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        store = try SQLiteStore(path: directory + "/state.sqlite")
        let ids = Mutex(SeededIDs(seed: seed))
        let clock = self.clock
        let faults = self.faults
        orchestrator = Orchestrator(
            store: CommitHookStore(base: store) {
                if faults.takeFault() { throw StoreError("commit failed: database or disk is full (injected)") }
            }, blobs: try BlobStore(root: directory + "/blobs"), clock: { clock.now },
            newJobID: jobIDs ?? { ids.withLock { $0.nextJobID() } }, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
            metrics: metrics)
        if recover { try await orchestrator.recover() }
    }

    /// Connects a node and returns the recorder of what the orchestrator sends it.
    @discardableResult
    func connect(
        _ id: NodeID, labels: Labels = [:], datasets: [String] = [], cpu: Int = 4000, epoch: UInt64 = 1, connection: UInt64 = 1
    ) async throws -> Recorder {
        let recorder = Recorder()
        let info = NodeInfo(
            id: id, name: id.rawValue, labels: labels, resources: Resources(cpuMillis: cpu, memoryBytes: 8 << 30),
            datasets: datasets.map { DatasetInfo(name: $0) })
        _ = try await orchestrator.nodeConnected(
            AgentHello(node: info, epoch: epoch, knownExecutions: []),
            connection: NodeConnection(id: connection) { recorder.record($0) })
        return recorder
    }

    func succeed(_ execution: ExecutionID, on node: NodeID, output: String = "ok") async throws {
        let bytes = Data(output.utf8)
        let file = ResultFilePayload(path: "stdout", base64: bytes.base64EncodedString(), sha256: BlobStore.digest(of: bytes))
        try await orchestrator.handle(
            .executionResult(ExecutionResultMessage(executionID: execution, state: .succeeded, exitCode: 0, reason: nil, files: [file])),
            from: node)
    }
}

final class Recorder: Sendable {
    private let messages = Mutex<[OrchestratorMessage]>([])
    func record(_ message: OrchestratorMessage) { messages.withLock { $0.append(message) } }
    var assignments: [ExecutionAssignment] {
        messages.withLock { $0.compactMap { if case .runExecution(let a) = $0 { a } else { nil } } }
    }
    var cancellations: [ExecutionID] {
        messages.withLock { $0.compactMap { if case .cancelExecution(let c) = $0 { c.executionID } else { nil } } }
    }
}

@Suite struct OrchestratorTests {
    @Test func concurrentResultsOfOneJobSettleItExactlyOnce() async throws {
        // Regression: two results applied concurrently each saw the other execution still running,
        // so neither completed the job.
        for _ in 0..<20 {
            let harness = try await Harness()
            let a = try await harness.connect("node-a")
            let b = try await harness.connect("node-b")
            let job = try await harness.orchestrator.submit(.fixture(type: .ops))
            let executions = a.assignments + b.assignments
            #expect(executions.count == 2)
            async let first: Void = harness.succeed(executions[0].executionID, on: "node-a")
            async let second: Void = harness.succeed(executions[1].executionID, on: "node-b")
            _ = try await (first, second)
            let stored = try #require(try await harness.store.job(job.id))
            #expect(stored.state == .completed)
            let completions = try await harness.store.events(of: job.id).filter { $0.message.contains("running → completed") }
            #expect(completions.count == 1)
        }
    }

    @Test func aRepeatedResultIsAcceptedOnce() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture(count: 2))
        let first = node.assignments[0].executionID
        try await harness.succeed(first, on: "node-a", output: "first")
        try await harness.succeed(first, on: "node-a", output: "replayed")
        let results = try await harness.store.results(of: job.id)
        #expect(results.count == 1)
        #expect(results.first?.files.first?.digest == BlobStore.digest(of: Data("first".utf8)))
        let events = try await harness.store.events(of: job.id).filter { $0.executionID == first && $0.message.contains("succeeded") }
        #expect(events.count == 1)
        #expect(try await harness.store.job(job.id)?.state == .running, "partition 1 is still running")
    }

    @Test func aResultFromAnotherNodeIsIgnored() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        _ = try await harness.connect("node-b", epoch: 2, connection: 2)
        let job = try await harness.orchestrator.submit(.fixture(datasets: []))
        let execution = try #require(node.assignments.first ?? nil).executionID
        let owner = try await harness.store.executions(of: job.id).first?.nodeID
        let other: NodeID = owner == "node-a" ? "node-b" : "node-a"
        try await harness.succeed(execution, on: other)
        #expect(try await harness.store.job(job.id)?.state == .running)
        #expect(try await harness.store.results(of: job.id).isEmpty)
    }

    @Test func aQueuedJobIsDispatchedWhenAMatchingNodeConnects() async throws {
        let harness = try await Harness()
        let plain = try await harness.connect("plain")
        let job = try await harness.orchestrator.submit(.fixture(datasets: ["patients"]))
        #expect(try await harness.store.job(job.id)?.state == .queued)
        let failures = await harness.orchestrator.placementFailures(of: job.id)
        #expect(failures["plain"]?.joined().contains("patients") == true, "\(failures)")
        #expect(plain.assignments.isEmpty)

        let holder = try await harness.connect("holder", datasets: ["patients"], connection: 2)
        #expect(holder.assignments.map(\.jobID) == [job.id])
        #expect(try await harness.store.job(job.id)?.state == .running)
        #expect(await harness.orchestrator.placementFailures(of: job.id).isEmpty)
    }

    @Test func partitionsThatDoNotFitYetArePlacedAsCapacityFreesUp() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("small", cpu: 1000)
        let job = try await harness.orchestrator.submit(.fixture(count: 3, cpu: 500))
        #expect(node.assignments.map(\.partition) == [0, 1], "two partitions fit, the third waits")
        #expect(try await harness.store.job(job.id)?.state == .running)
        #expect(await harness.orchestrator.placementFailures(of: job.id)["small"]?.joined().contains("cpu") == true)

        try await harness.succeed(node.assignments[0].executionID, on: "small")
        #expect(node.assignments.map(\.partition) == [0, 1, 2], "the freed capacity takes the last partition")
        #expect(try await harness.store.job(job.id)?.state == .running)
        try await harness.succeed(node.assignments[1].executionID, on: "small")
        #expect(try await harness.store.job(job.id)?.state == .running, "partition 2 is still running")
        try await harness.succeed(node.assignments[2].executionID, on: "small")
        #expect(try await harness.store.job(job.id)?.state == .completed)
        #expect(try await harness.store.results(of: job.id).map(\.partition) == [0, 1, 2])
    }

    @Test func stoppingCancelsExecutionsAndTellsTheirNodes() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture(count: 2))
        let stopped = try await harness.orchestrator.stop(job.id)
        #expect(stopped.state == .stopped)
        #expect(Set(node.cancellations) == Set(node.assignments.map(\.executionID)))
        #expect(try await harness.store.executions(of: job.id).allSatisfy { $0.state == .cancelled })
        // A result that arrives after the stop changes nothing.
        try await harness.succeed(node.assignments[0].executionID, on: "node-a")
        #expect(try await harness.store.job(job.id)?.state == .stopped)
        #expect(try await harness.store.results(of: job.id).isEmpty)
    }

    @Test func afterARestartUnfinishedWorkIsSentAgain() async throws {
        let first = try await Harness()
        let node = try await first.connect("node-a")
        let job = try await first.orchestrator.submit(.fixture(count: 2))
        #expect(node.assignments.count == 2)

        // A new orchestrator on the same state: the node dials in again and gets its work back.
        let second = try await Harness(directory: first.directory)
        let again = try await second.connect("node-a", epoch: 2)
        #expect(Set(again.assignments.map(\.executionID)) == Set(node.assignments.map(\.executionID)))
        for assignment in again.assignments { try await second.succeed(assignment.executionID, on: "node-a") }
        #expect(try await second.store.job(job.id)?.state == .completed)
    }

    @Test func repeatedMessageNumbersAreFilteredPerAgentRun() async throws {
        let harness = try await Harness()
        let beat = AgentMessage.heartbeat(Heartbeat(runningExecutions: []))
        try await harness.connect("node-a", epoch: 7)
        #expect(try await harness.orchestrator.receive(beat, seq: 1, from: "node-a"))
        #expect(try await !harness.orchestrator.receive(beat, seq: 1, from: "node-a"))
        #expect(try await harness.orchestrator.receive(beat, seq: 2, from: "node-a"))
        // Same agent run reconnecting: numbering continues, repeats are still filtered.
        try await harness.connect("node-a", epoch: 7, connection: 2)
        #expect(try await !harness.orchestrator.receive(beat, seq: 2, from: "node-a"))
        // A restarted agent numbers from 1 again.
        try await harness.connect("node-a", epoch: 8, connection: 3)
        #expect(try await harness.orchestrator.receive(beat, seq: 1, from: "node-a"))
    }

    /// Item 4 of issue 5: the duplicate filter advanced before the commit, so when the commit
    /// failed (disk full) the agent's replay was acknowledged as a repeat and the result was lost.
    @Test func aResultWhoseCommitFailedIsAppliedWhenTheAgentSendsItAgain() async throws {
        let harness = try await Harness()
        let node = try await harness.connect("node-a")
        let job = try await harness.orchestrator.submit(.fixture())
        let execution = try #require(node.assignments.first).executionID
        let bytes = Data("the answer".utf8)
        let result = AgentMessage.executionResult(
            ExecutionResultMessage(
                executionID: execution, state: .succeeded, exitCode: 0, reason: nil,
                files: [ResultFilePayload(path: "stdout", base64: bytes.base64EncodedString(), sha256: BlobStore.digest(of: bytes))]))

        harness.faults.failNextCommits(1)
        await #expect(throws: StoreError.self) { try await harness.orchestrator.receive(result, seq: 1, from: "node-a") }
        #expect(try await harness.store.job(job.id)?.state == .running)
        #expect(try await harness.store.results(of: job.id).isEmpty)

        // Not acknowledged: the agent reconnects (same run) and sends message 1 again.
        try await harness.connect("node-a", connection: 2)
        #expect(try await harness.orchestrator.receive(result, seq: 1, from: "node-a"), "the replay must be applied")
        #expect(try await harness.store.job(job.id)?.state == .completed)
        let results = try await harness.store.results(of: job.id)
        #expect(results.count == 1)
        #expect(results.first?.files.first?.digest == BlobStore.digest(of: bytes))

        // Applied exactly once: a further replay is a repeat.
        #expect(try await !harness.orchestrator.receive(result, seq: 1, from: "node-a"))
        let successes = try await harness.store.events(of: job.id).filter {
            $0.executionID == execution && $0.message.contains("succeeded")
        }
        #expect(successes.count == 1)
    }
}

/// Makes the next commits fail as a full disk would; later commits go through again.
final class StoreFaults: Sendable {
    private let remaining = Mutex(0)

    func failNextCommits(_ count: Int) { remaining.withLock { $0 = count } }
    func takeFault() -> Bool {
        remaining.withLock { remaining in
            guard remaining > 0 else { return false }
            remaining -= 1
            return true
        }
    }
}
