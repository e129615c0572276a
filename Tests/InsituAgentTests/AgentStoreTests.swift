import Foundation
import GRDB
import InsituAPI
@testable import InsituAgent
import InsituExecutor
import InsituModel
import InsituTestKit
import Logging
import Testing

/// The agent's durable state: what a node stores, what a restarted node loads from it, and what
/// it deletes once the orchestrator has it. A "restart" here opens the same data directory again
/// with `ExecutionRunner.open`, exactly as a new agent process does.
@Suite struct AgentStoreTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-agent-store-\(UUID().uuidString)").path
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    var config: AgentConfig { AgentConfig(name: "site", orchestrators: ["http://127.0.0.1:1"], dataDirectory: base + "/state") }

    func open(_ executor: ScriptedExecutor) throws -> (outbox: Outbox, runner: ExecutionRunner, startable: [ExecutionAssignment]) {
        try ExecutionRunner.open(config: config, logger: logger, executors: [.process: executor])
    }

    func assignment(attempt: Int = 1) -> ExecutionAssignment {
        ExecutionAssignment(
            executionID: ExecutionID(job: "j-1", partition: 0, attempt: attempt), jobID: "j-1", partition: 0,
            spec: JobSpec(name: "job", engine: EngineSpec(process: ProcessSettings(command: "true"))))
    }

    /// The results among the queued messages (`next` waits while nothing is queued, so a bare
    /// acknowledgement is queued first).
    func results(_ outbox: Outbox) async -> [ExecutionResultMessage] {
        await outbox.sendOnce(nil)
        return await outbox.next(after: 0).compactMap { frame in
            if case .executionResult(let result) = frame.body { return result }
            return nil
        }
    }

    /// Counts runs of the scripted job, which prints a line and succeeds.
    final class Runs: Sendable {
        let executor: ScriptedExecutor
        init() {
            executor = ScriptedExecutor(engine: .process) { _, emit in
                emit(.stdout, Array("counted\n".utf8))
                return ExecutionOutcome(status: .succeeded, exitCode: 0, stdout: Array("counted\n".utf8))
            }
        }
        var count: Int { executor.requests.count }
    }

    @Test func aFinishedButUnacknowledgedResultIsSentAgainAfterARestartWithoutRunningAgain() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let runs = Runs()
        let work = assignment()
        do {
            let first = try open(runs.executor)
            #expect(try await first.runner.accept(work))
            await first.runner.run(work)
            #expect(await results(first.outbox).map(\.state) == [.succeeded])
            // The process dies here: nothing was acknowledged.
        }
        let second = try open(runs.executor)
        #expect(second.startable.isEmpty, "a finished execution is not started again")
        #expect(await second.runner.knownExecutions() == [work.executionID], "the hello lists it, so it is not counted lost")
        #expect(try await !second.runner.accept(work), "a repeated assignment is refused")
        let frames = await second.outbox.next(after: 0)
        #expect(frames.map(\.seq) == Array(1...UInt64(frames.count)), "a new epoch numbers the stored messages from 1")
        let replayed = await results(second.outbox)
        #expect(replayed.map(\.executionID) == [work.executionID])
        #expect(replayed.first?.state == .succeeded)
        #expect(replayed.first?.files.first { $0.path == "stdout" }?.base64 == Data("counted\n".utf8).base64EncodedString())
        #expect(runs.count == 1, "the job ran once")
    }

    @Test func anExecutionRunningWhenTheAgentDiedIsReportedInterruptedAndNeverRunAgain() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let runs = Runs()
        let work = assignment()
        do {
            let first = try open(runs.executor)
            #expect(try await first.runner.accept(work))
            // What `run` does before the engine starts; the process is then killed mid-job.
            try await first.outbox.store.markStarted(work.executionID)
        }
        let second = try open(runs.executor)
        #expect(second.startable.isEmpty, "an interrupted execution is not started again under its ID")
        #expect(try await !second.runner.accept(work), "not even when the orchestrator sends it again")
        let reported = await results(second.outbox)
        #expect(reported.map(\.executionID) == [work.executionID])
        #expect(reported.first?.state == .failed)
        #expect(reported.first?.reason?.hasPrefix("interrupted: the agent restarted while it ran") == true)
        #expect(await second.runner.knownExecutions() == [work.executionID])
        #expect(runs.count == 0)

        // A third start does not report it twice: it is finished now, its report waiting.
        let third = try open(runs.executor)
        #expect(await results(third.outbox).count == 1)
    }

    @Test func anAssignmentStoredButNeverStartedStartsAfterARestart() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let runs = Runs()
        let work = assignment()
        do {
            let first = try open(runs.executor)
            #expect(try await first.runner.accept(work))
        }
        let second = try open(runs.executor)
        #expect(second.startable.map(\.executionID) == [work.executionID])
        #expect(await second.runner.knownExecutions() == [work.executionID])
        #expect(await second.runner.runningExecutions() == [work.executionID])
        await second.runner.run(try #require(second.startable.first))
        #expect(await results(second.outbox).map(\.state) == [.succeeded])
        #expect(runs.count == 1)
    }

    @Test func acknowledgedMessagesAndSettledExecutionsAreDeleted() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let runs = Runs()
        let done = assignment(attempt: 1)
        let waiting = assignment(attempt: 2)
        do {
            let first = try open(runs.executor)
            #expect(try await first.runner.accept(done))
            await first.runner.run(done)
            let upTo = try #require(await first.outbox.next(after: 0).last?.seq)
            // The result is acknowledged: its messages and its execution leave the store.
            #expect(await first.outbox.acknowledge(upTo: upTo) == [done.executionID])
            await first.runner.forget([done.executionID])
            #expect(await first.runner.knownExecutions().isEmpty)
            #expect(try await first.runner.accept(waiting))
        }
        let contents = try AgentStore(directory: config.dataDirectory).load()
        #expect(contents.outbox.isEmpty)
        #expect(contents.executions.map(\.id) == [waiting.executionID], "only work in flight stays")
    }

    @Test func storedOutputKeepsItsOrderAndOffsetsAcrossARestart() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let id = assignment().executionID
        do {
            let first = try open(Runs().executor)
            await first.outbox.send(.executionUpdate(ExecutionUpdate(executionID: id, state: .running)))
            await first.outbox.send(.executionOutput(ExecutionOutput(executionID: id, stream: "stdout", text: "one\n", offset: 0)))
            await first.outbox.send(.executionOutput(ExecutionOutput(executionID: id, stream: "stdout", text: "two\n", offset: 4)))
            // The orchestrator stored the update and the first line, then the link dropped.
            _ = await first.outbox.acknowledge(upTo: 2)
            // The deletion is queued, not awaited; the agent ran on long enough to write it
            // (killed at once, it would replay messages 1 and 2, which the orchestrator ignores).
            try await first.outbox.store.committedQueuedWrites()
        }
        let second = try open(Runs().executor)
        await second.outbox.sendOnce(nil)
        let frames = await second.outbox.next(after: 0).filter { $0.seq != 0 }
        #expect(frames.map(\.seq) == [1])
        guard case .executionOutput(let output) = frames.first?.body else {
            Issue.record("expected the unacknowledged output, got \(String(describing: frames.first?.body))")
            return
        }
        #expect(output.text == "two\n" && output.offset == 4, "the offset lets the orchestrator drop a line it already has")
    }

    @Test func anExecutionStoppedByTheAgentsShutdownIsReportedInterruptedNotCancelled() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let started = AsyncStream<Void>.makeStream()
        let executor = ScriptedExecutor(engine: .process) { _, _ in
            started.continuation.yield()
            try await Task.sleep(for: .seconds(600))
            return ExecutionOutcome(status: .succeeded, exitCode: 0)
        }
        let work = assignment()
        do {
            let first = try open(executor)
            #expect(try await first.runner.accept(work))
            let running = Task { await first.runner.run(work) }
            for await _ in started.stream { break }
            // A graceful shutdown cancels the agent's tasks.
            running.cancel()
            _ = await running.value
            #expect(await results(first.outbox).isEmpty, "no `cancelled` result that would end the work for good")
        }
        let second = try open(executor)
        let reported = await results(second.outbox)
        #expect(reported.map(\.state) == [.failed])
        #expect(reported.first?.reason?.hasPrefix("interrupted") == true)
    }

    @Test func aRepeatedAssignmentIsNotStoredTwice() async throws {
        let store = try AgentStore.inMemory()
        #expect(try await store.assign(assignment()))
        #expect(try await !store.assign(assignment()))
        #expect(try store.load().executions.count == 1)
    }

    /// A state file a newer agent migrated is refused, not passed over: this version would read
    /// and write a schema it was not written for.
    @Test func aStateFileANewerAgentUpgradedIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        _ = try AgentStore(directory: base + "/state")
        try DatabaseQueue(path: base + "/state/" + AgentStore.fileName).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2: from the future')")
        }
        let error = #expect(throws: AgentStoreError.self) { try AgentStore(directory: base + "/state") }
        #expect(error?.description.contains("upgraded by a newer version of insitu") == true, "\(String(describing: error))")
        #expect(error?.description.contains("'v2: from the future'") == true)
        // Not taken for damage: moving the file away would lose the node's unreported work.
        #expect(error?.description.contains("move the file away") == false)
    }

    /// Regression (issue 6, item 12): every write of the agent's store was its own transaction
    /// with its own fsync, taken one at a time on the runner's and the outbox's actors, so a busy
    /// node paid an fsync per assignment, per start and per result in turn. Writes that arrive
    /// while a group commits now share the next transaction: 64 starts at once take a few
    /// transactions, so far fewer write-ahead-log frames than 64 (a transaction writes at least
    /// one frame of 4 KiB).
    @Test func concurrentStartsShareGroupCommits() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let store = try AgentStore(directory: base + "/state")
        let works = (1...64).map { assignment(attempt: $0) }
        for work in works { _ = try await store.assign(work) }
        let log = base + "/state/" + AgentStore.fileName + "-wal"
        func size() throws -> Int { try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int ?? 0 }
        let before = try size()

        try await withThrowingTaskGroup(of: Void.self) { group in
            for work in works { group.addTask { try await store.markStarted(work.executionID) } }
            try await group.waitForAll()
        }

        let frames = (try size() - before) / (4096 + 24)
        #expect(frames < works.count / 2, "\(frames) log frames for \(works.count) starts")
        #expect(try store.load().executions.map(\.phase) == Array(repeating: .started, count: works.count))
    }
}
