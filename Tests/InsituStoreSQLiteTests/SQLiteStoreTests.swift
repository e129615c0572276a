import Foundation
import GRDB
import InsituModel
import InsituStore
import InsituStoreSQLite
import Testing

@Suite("SQLiteStore on a real file")
struct SQLiteStoreTests {
    let directory: TemporaryDirectory
    let store: SQLiteStore

    init() throws {
        directory = try TemporaryDirectory()
        store = try SQLiteStore(path: directory.databasePath)
    }

    /// A file a newer version migrated is refused when opened, and left as it is: GRDB passes
    /// over migrations it does not know, so this version used to open it and run against a schema
    /// it was not written for.
    @Test func aFileANewerVersionUpgradedIsRefused() throws {
        try DatabaseQueue(path: directory.databasePath).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')")
        }
        let error = #expect(throws: StoreError.self) { try SQLiteStore(path: directory.databasePath) }
        #expect(error?.description.contains("upgraded by a newer version of insitu") == true, "\(String(describing: error))")
        #expect(error?.description.contains("'v99: from the future'") == true)
        let identifiers = try DatabaseQueue(path: directory.databasePath).read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        #expect(identifiers.count == 8 && identifiers.contains("v99: from the future"))
    }

    /// Issue 9: a drain is kept with the node, and a deleted node's record goes.
    @Test func drainsAreKeptAndForgottenNodesGo() async throws {
        var drained = Fixture.node("n1")
        drained.draining = true
        _ = try await store.commit(StoreBatch(nodes: [drained, Fixture.node("n2"), Fixture.node("n3")]))
        var forget = StoreBatch()
        forget.forgottenNodes = ["n3"]
        _ = try await store.commit(forget)
        let nodes = try await store.nodes()
        #expect(nodes.map(\.info.id) == ["n1", "n2"])
        #expect(nodes.map(\.draining) == [true, false])
        let reopened = try SQLiteStore(path: directory.databasePath)
        #expect(try await reopened.recover().nodes.map(\.draining) == [true, false])
    }

    @Test func everyFieldRoundTrips() async throws {
        let job = Fixture.job("job-1", state: .running, spec: Fixture.richSpec())
        let finished = Fixture.execution("job-1", partition: 0, attempt: 1, state: .failed)
        let retry = Fixture.execution("job-1", partition: 0, attempt: 2, state: .running, node: "n2")
        let events = [
            Fixture.event("job-1", "submitted"),
            Fixture.event("job-1", "execution → failed: exit -9", execution: finished.id, at: 3_100),
        ]
        let nodes = [Fixture.node("n1"), Fixture.node("n2", liveness: .disconnected)]
        let logs = [Fixture.log("job-1", "line one\n"), Fixture.log("job-1", "oops ✗\n", stream: "stderr")]
        let result = Fixture.result("job-1")

        let receipt = try await store.commit(
            StoreBatch(
                jobs: [job], executions: [finished, retry], events: events, nodes: nodes, results: [result],
                logs: logs))

        #expect(receipt.rejectedResults.isEmpty)
        #expect(receipt.events.map(\.sequence) == [1, 2])
        #expect(try await store.job("job-1") == job)
        #expect(try await store.job("missing") == nil)
        #expect(try await store.jobs(limit: 10) == [job])
        #expect(try await store.executions(of: "job-1") == [finished, retry])
        #expect(try await store.events(of: "job-1") == receipt.events)
        #expect(receipt.events.map { var e = $0; e.sequence = 0; return e } == events)
        let storedLogs = try await store.logs(of: "job-1", after: 0, limit: 100)
        #expect(storedLogs.map(\.sequence) == [1, 2])
        #expect(storedLogs.map { var l = $0; l.sequence = 0; return l } == logs)
        #expect(try await store.results(of: "job-1") == [result])
        #expect(try await store.nodes() == nodes)
    }

    @Test func upsertsReplaceRows() async throws {
        var job = Fixture.job("job-1")
        var execution = Fixture.execution("job-1", state: .dispatched)
        _ = try await store.commit(StoreBatch(jobs: [job], executions: [execution], nodes: [Fixture.node("n1")]))

        _ = try job.transition(to: .running, reason: "placed", at: Timestamp(milliseconds: 9_000))
        _ = try execution.transition(to: .succeeded, at: Timestamp(milliseconds: 9_000))
        execution.exitCode = 0
        let node = Fixture.node("n1", liveness: .disconnected)
        _ = try await store.commit(StoreBatch(jobs: [job], executions: [execution], nodes: [node]))

        #expect(try await store.job("job-1") == job)
        #expect(try await store.executions(of: "job-1") == [execution])
        #expect(try await store.nodes() == [node])
    }

    @Test func eventSequencesAreContiguousPerJobAcrossCommits() async throws {
        var assigned: [JobID: [Int64]] = [:]
        for round in 0..<5 {
            let batch = StoreBatch(events: [
                Fixture.event("a", "a\(round).1"), Fixture.event("b", "b\(round).1"),
                Fixture.event("a", "a\(round).2"), Fixture.event("a", "a\(round).3"),
            ])
            let receipt = try await store.commit(batch)
            #expect(receipt.events.map(\.message) == batch.events.map(\.message))
            for event in receipt.events { assigned[event.jobID, default: []].append(event.sequence) }
        }
        #expect(assigned["a"] == Array(1...15))
        #expect(assigned["b"] == Array(1...5))

        let stored = try await store.events(of: "a")
        #expect(stored.map(\.sequence) == Array(1...15))
        #expect(stored.map(\.message).prefix(4) == ["a0.1", "a0.2", "a0.3", "a1.1"])
        #expect(try await store.events(of: "b").map(\.sequence) == Array(1...5))
    }

    @Test func logSequencesAreIndependentOfEventsAndPage() async throws {
        _ = try await store.commit(StoreBatch(events: [Fixture.event("a", "e1"), Fixture.event("a", "e2")]))
        for chunk in 0..<10 {
            _ = try await store.commit(StoreBatch(logs: [Fixture.log("a", "chunk \(chunk)"), Fixture.log("b", "b \(chunk)")]))
        }
        let first = try await store.logs(of: "a", after: 0, limit: 4)
        #expect(first.map(\.sequence) == [1, 2, 3, 4])
        #expect(first.map(\.text) == ["chunk 0", "chunk 1", "chunk 2", "chunk 3"])
        let rest = try await store.logs(of: "a", after: 4, limit: 100)
        #expect(rest.map(\.sequence) == Array(5...10))
        #expect(try await store.logs(of: "a", after: 10, limit: 100).isEmpty)
        #expect(try await store.logs(of: "a", after: 0, limit: 0).isEmpty)
        #expect(try await store.logs(of: "b", after: 0, limit: 100).map(\.sequence) == Array(1...10))
    }

    /// Item 8 of issue 5: one logs request returned 336 MiB.
    @Test func logPagesAreBoundedInBytesAndAlwaysMakeProgress() async throws {
        let chunk = String(repeating: "x", count: 300)
        for _ in 0..<10 { _ = try await store.commit(StoreBatch(logs: [Fixture.log("a", chunk)])) }
        _ = try await store.commit(StoreBatch(logs: [Fixture.log("a", String(repeating: "y", count: 5000)), Fixture.log("a", "z")]))
        let first = try await store.logs(of: "a", after: 0, limit: 100, maxBytes: 1000)
        #expect(first.map(\.sequence) == [1, 2, 3], "900 bytes; a fourth entry would make 1200")
        let second = try await store.logs(of: "a", after: 3, limit: 2, maxBytes: 1000)
        #expect(second.map(\.sequence) == [4, 5], "the entry limit still applies")
        // An entry larger than the budget is served alone, so a reader never gets stuck.
        let large = try await store.logs(of: "a", after: 10, limit: 100, maxBytes: 1000)
        #expect(large.map(\.sequence) == [11])
        #expect(try await store.logs(of: "a", after: 11, limit: 100, maxBytes: 1000).map(\.text) == ["z"])
        #expect(try await store.logs(of: "a", after: 0, limit: 100, maxBytes: 0).isEmpty)
        // Bytes, not characters: 400 two-byte characters are 800 bytes.
        _ = try await store.commit(StoreBatch(logs: [Fixture.log("u", String(repeating: "é", count: 400)), Fixture.log("u", "b")]))
        #expect(try await store.logs(of: "u", after: 0, limit: 100, maxBytes: 800).map(\.sequence) == [1])
        #expect(try await store.logs(of: "u", after: 0, limit: 100, maxBytes: 801).map(\.sequence) == [1, 2])
    }

    @Test func logBytesAreCountedPerExecutionAndStream() async throws {
        _ = try await store.commit(
            StoreBatch(logs: [
                Fixture.log("a", "hello"), Fixture.log("a", "é", stream: "stderr"), Fixture.log("a", "again"),
                Fixture.log("b", "other job"),
            ]))
        let execution = try #require(try await store.logs(of: "a", after: 0, limit: 1).first).executionID
        #expect(try await store.logBytes(of: "a", execution: execution) == ["stdout": 10, "stderr": 2])
        #expect(try await store.logBytes(of: "a", execution: ExecutionID(rawValue: "none")).isEmpty)
    }

    @Test func aSecondResultForThePartitionIsRejectedAndTheFirstKept() async throws {
        let first = Fixture.result("job-1", partition: 0, attempt: 1, node: "n1")
        let receipt = try await store.commit(StoreBatch(results: [first]))
        #expect(receipt.rejectedResults.isEmpty)

        // A late report from another attempt, in a later commit.
        let late = Fixture.result("job-1", partition: 0, attempt: 2, node: "n2")
        let other = Fixture.result("job-1", partition: 1, attempt: 1, node: "n2")
        let second = try await store.commit(StoreBatch(events: [Fixture.event("job-1", "late")], results: [late, other]))
        #expect(second.rejectedResults == [late])
        #expect(second.events.count == 1)  // the rest of the batch still commits

        // Two reports for one partition in the same batch: the first wins.
        let a = Fixture.result("job-1", partition: 2, attempt: 1, node: "n1")
        let b = Fixture.result("job-1", partition: 2, attempt: 2, node: "n2")
        #expect(try await store.commit(StoreBatch(results: [a, b])).rejectedResults == [b])

        #expect(try await store.results(of: "job-1") == [first, other, a])
    }

    @Test func aFailingBatchLeavesNothingBehind() async throws {
        let baseline = try await store.commit(
            StoreBatch(jobs: [Fixture.job("old")], events: [Fixture.event("old", "one")], logs: [Fixture.log("old", "x")]))
        #expect(baseline.events.map(\.sequence) == [1])

        // Everything is valid except the last execution: a negative partition violates a CHECK
        // constraint after the jobs, an execution, nodes, events, logs and results were written.
        var changedOld = Fixture.job("old", state: .running)
        changedOld.version = 99
        let poisoned = Execution(
            id: ExecutionID(rawValue: "bad"), jobID: "new", partition: -1, attempt: 1, nodeID: "n1", state: .pending,
            desiredState: .run, stateReason: nil, exitCode: nil, createdAt: Timestamp(milliseconds: 1),
            updatedAt: Timestamp(milliseconds: 1))
        let batch = StoreBatch(
            jobs: [Fixture.job("new"), changedOld], executions: [Fixture.execution("new"), poisoned],
            events: [Fixture.event("new", "submitted"), Fixture.event("old", "two")], nodes: [Fixture.node("n9")],
            results: [Fixture.result("new")], logs: [Fixture.log("old", "y")])
        await #expect(throws: (any Error).self) { try await store.commit(batch) }

        #expect(try await store.job("new") == nil)
        #expect(try await store.job("old") == Fixture.job("old"))
        #expect(try await store.executions(of: "new").isEmpty)
        #expect(try await store.events(of: "new").isEmpty)
        #expect(try await store.events(of: "old").map(\.message) == ["one"])
        #expect(try await store.logs(of: "old", after: 0, limit: 10).map(\.text) == ["x"])
        #expect(try await store.results(of: "new").isEmpty)
        #expect(try await store.nodes().isEmpty)

        // Sequences carry on from what was committed, not from the rolled-back attempt.
        let next = try await store.commit(StoreBatch(events: [Fixture.event("old", "two")], logs: [Fixture.log("old", "y")]))
        #expect(next.events.map(\.sequence) == [2])
        #expect(try await store.logs(of: "old", after: 0, limit: 10).map(\.sequence) == [1, 2])
    }

    @Test func recoverReturnsExactlyTheUnfinishedJobsAndTheirExecutions() async throws {
        var jobs: [Job] = []
        var executions: [Execution] = []
        for (index, state) in JobState.allCases.enumerated() {
            let id = "job-\(state)"
            jobs.append(Fixture.job(id, state: state, createdAt: Int64(1_000 + index)))
            executions.append(Fixture.execution(id, partition: 0, attempt: 1, state: .lost))
            executions.append(Fixture.execution(id, partition: 0, attempt: 2, state: .running))
            executions.append(Fixture.execution(id, partition: 1, attempt: 1, state: .pending))
        }
        let nodes = [Fixture.node("n1"), Fixture.node("n2", liveness: .disconnected)]
        _ = try await store.commit(StoreBatch(jobs: jobs, executions: executions, nodes: nodes))

        let recovered = try await store.recover()
        let active: Set<JobID> = ["job-pending", "job-queued", "job-running"]
        #expect(recovered.activeJobs == jobs.filter { active.contains($0.id) })
        #expect(Set(recovered.executions) == Set(executions.filter { active.contains($0.jobID) }))
        #expect(recovered.executions.count == 9)
        #expect(recovered.nodes == nodes)
    }

    @Test func committedDataSurvivesReopeningTheFile() async throws {
        let job = Fixture.job("durable", state: .running, spec: Fixture.richSpec())
        do {
            let writer = try SQLiteStore(path: directory.path + "/reopen.sqlite")
            _ = try await writer.commit(
                StoreBatch(
                    jobs: [job], executions: [Fixture.execution("durable")], events: [Fixture.event("durable", "e1")],
                    nodes: [Fixture.node("n1")], results: [Fixture.result("durable")], logs: [Fixture.log("durable", "l")]))
        }
        let reopened = try SQLiteStore(path: directory.path + "/reopen.sqlite")
        #expect(try await reopened.job("durable") == job)
        #expect(try await reopened.executions(of: "durable") == [Fixture.execution("durable")])
        #expect(try await reopened.results(of: "durable") == [Fixture.result("durable")])
        #expect(try await reopened.nodes() == [Fixture.node("n1")])
        #expect(try await reopened.recover().activeJobs == [job])
        // Sequences continue from the stored history after a restart.
        let receipt = try await reopened.commit(
            StoreBatch(events: [Fixture.event("durable", "e2")], logs: [Fixture.log("durable", "m")]))
        #expect(receipt.events.map(\.sequence) == [2])
        #expect(try await reopened.logs(of: "durable", after: 0, limit: 10).map(\.sequence) == [1, 2])
        #expect(try await reopened.durabilitySettings() == SQLiteDurabilitySettings(journalMode: "wal", synchronous: 2))
    }

    @Test func writerIsWALWithSynchronousFull() async throws {
        let settings = try await store.durabilitySettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)
        // Still FULL after the writer has been used.
        _ = try await store.commit(StoreBatch(jobs: [Fixture.job("j")]))
        #expect(try await store.durabilitySettings().synchronous == 2)
    }

    @Test func jobsAreListedNewestFirst() async throws {
        let jobs = [
            Fixture.job("b", createdAt: 2_000), Fixture.job("a", createdAt: 3_000), Fixture.job("c", createdAt: 1_000),
            Fixture.job("d", createdAt: 2_000), Fixture.job("e", state: .completed, createdAt: 4_000),
        ]
        _ = try await store.commit(StoreBatch(jobs: jobs))
        #expect(try await store.jobs(limit: 10).map(\.id) == ["e", "a", "d", "b", "c"])
        #expect(try await store.jobs(limit: 2).map(\.id) == ["e", "a"])
        #expect(try await store.jobs(limit: 0).isEmpty)
    }

    /// Issue 9, item 1: `job list` filters on the server, by state, name and namespace.
    @Test func jobsAreFilteredByStateNameAndNamespace() async throws {
        var other = Fixture.simpleSpec(name: "other-report")
        other.namespace = "lab"
        let jobs = [
            Fixture.job("a", state: .running, createdAt: 1_000, spec: Fixture.simpleSpec(name: "nightly-report")),
            Fixture.job("b", state: .failed, createdAt: 2_000, spec: Fixture.simpleSpec(name: "nightly-count")),
            Fixture.job("c", state: .completed, createdAt: 3_000, spec: Fixture.simpleSpec(name: "weekly-report")),
            Fixture.job("d", state: .failed, createdAt: 4_000, spec: other),
        ]
        _ = try await store.commit(StoreBatch(jobs: jobs))
        #expect(try await store.jobs(JobQuery(limit: 10, states: [.failed])).map(\.id) == ["d", "b"])
        #expect(try await store.jobs(JobQuery(limit: 10, states: [.failed, .running])).map(\.id) == ["d", "b", "a"])
        #expect(try await store.jobs(JobQuery(limit: 10, nameContains: "report")).map(\.id) == ["d", "c", "a"])
        #expect(try await store.jobs(JobQuery(limit: 10, nameContains: "Report")).isEmpty)
        // A name filter is text, not a LIKE pattern.
        #expect(try await store.jobs(JobQuery(limit: 10, nameContains: "%")).isEmpty)
        #expect(try await store.jobs(JobQuery(limit: 10, namespace: "lab", states: [.failed])).map(\.id) == ["d"])
        #expect(try await store.jobs(JobQuery(limit: 10, namespace: "default", states: [.failed], nameContains: "count")).map(\.id) == ["b"])
    }

    /// Issue 9, item 1: paging by position. Jobs created at the same millisecond are ordered by
    /// ID, and a job created between two pages neither shifts nor repeats the older ones.
    @Test func pagesFollowACursorThatNewJobsDoNotShift() async throws {
        let jobs = [
            Fixture.job("a", createdAt: 1_000), Fixture.job("b", createdAt: 2_000), Fixture.job("c", createdAt: 2_000),
            Fixture.job("d", createdAt: 2_000), Fixture.job("e", createdAt: 3_000),
        ]
        _ = try await store.commit(StoreBatch(jobs: jobs, createdJobs: Set(jobs.map(\.id))))
        let first = try await store.jobs(JobQuery(limit: 2))
        #expect(first.map(\.id) == ["e", "d"])
        // Newer jobs arrive, one of them in the same millisecond as the cursor.
        let newer = [Fixture.job("f", createdAt: 5_000), Fixture.job("c2", createdAt: 2_000), Fixture.job("z", createdAt: 2_000)]
        _ = try await store.commit(StoreBatch(jobs: newer, createdJobs: Set(newer.map(\.id))))
        let second = try await store.jobs(JobQuery(limit: 2, after: JobCursor(first[1])))
        #expect(second.map(\.id) == ["c2", "c"])
        let third = try await store.jobs(JobQuery(limit: 2, after: JobCursor(second[1])))
        #expect(third.map(\.id) == ["b", "a"])
        #expect(try await store.jobs(JobQuery(limit: 2, after: JobCursor(third[1]))).isEmpty)
        // No older job was skipped or repeated; of the new ones, only "c2" sorts after the cursor.
        #expect((first + second + third).map(\.id) == ["e", "d", "c2", "c", "b", "a"])
    }

    @Test func anEmptyBatchIsANoOp() async throws {
        let receipt = try await store.commit(StoreBatch())
        #expect(receipt.events.isEmpty && receipt.rejectedResults.isEmpty)
    }

    @Test func openingInAMissingDirectoryFails() throws {
        #expect(throws: StoreError.self) {
            try SQLiteStore(path: directory.path + "/no/such/dir/db.sqlite")
        }
    }

    @Test func concurrentCommitsShareTransactionsButFailAlone() async throws {
        let count = 300
        let store = self.store
        let outcomes = await withTaskGroup(of: (Int, CommitReceipt?).self) { group in
            for index in 0..<count {
                group.addTask {
                    let id = "c-\(index)"
                    // Every seventh batch is poisoned by a negative partition.
                    let execution = Execution(
                        id: ExecutionID(job: JobID(id), partition: 0, attempt: 1), jobID: JobID(id),
                        partition: index % 7 == 3 ? -1 : 0, attempt: 1, nodeID: "n1", state: .pending,
                        desiredState: .run, stateReason: nil, exitCode: nil, createdAt: Timestamp(milliseconds: 1),
                        updatedAt: Timestamp(milliseconds: 1))
                    let batch = StoreBatch(
                        jobs: [Fixture.job(id)], executions: [execution],
                        events: [Fixture.event("shared", id), Fixture.event(id, "mine"), Fixture.event("shared", id)],
                        results: [Fixture.result("shared", partition: index % 10)])
                    return (index, try? await store.commit(batch))
                }
            }
            var outcomes: [Int: CommitReceipt?] = [:]
            for await (index, receipt) in group { outcomes[index] = receipt }
            return outcomes
        }

        let succeeded = outcomes.filter { $0.value != nil }.keys.sorted()
        #expect(succeeded == (0..<count).filter { $0 % 7 != 3 })
        for (index, receipt) in outcomes {
            let job = try await store.job(JobID("c-\(index)"))
            #expect((job != nil) == (receipt != nil))
        }
        // The shared job's history is gap-free, and each commit got two adjacent sequences.
        let shared = try await store.events(of: "shared")
        #expect(shared.map(\.sequence) == Array(1...Int64(2 * succeeded.count)))
        for index in succeeded {
            let mine = outcomes[index]!!.events.filter { $0.jobID == "shared" }.map(\.sequence)
            #expect(mine.count == 2 && mine[1] == mine[0] + 1)
            #expect(shared.first { $0.sequence == mine[0] }?.message == "c-\(index)")
        }
        // Exactly one result accepted per partition, the rest rejected.
        #expect(try await store.results(of: "shared").map(\.partition) == Array(0..<10))
        let rejected = succeeded.filter { !outcomes[$0]!!.rejectedResults.isEmpty }.count
        #expect(rejected == succeeded.count - 10)
    }

    /// Prints commit latency; asserts nothing (the machine is shared, numbers vary).
    @Test func commitLatencyOfATypicalBatch() async throws {
        // Without a disk: what the commit path costs in CPU.
        let memory = try SQLiteStore.inMemory()
        let memorySamples = try await Self.commitLatencies(of: memory, count: 1_000, prefix: "memory")
        print("SQLiteStore.inMemory commit (1 job + 1 execution + 2 events, 1000 commits): median \(Self.milliseconds(memorySamples, 0.5)) ms, p99 \(Self.milliseconds(memorySamples, 0.99)) ms")

        let samples = try await Self.commitLatencies(of: store, count: 1_000, prefix: "bench")
        print("SQLiteStore commit (1 job + 1 execution + 2 events, synchronous=FULL, 1000 commits): median \(Self.milliseconds(samples, 0.5)) ms, p90 \(Self.milliseconds(samples, 0.9)) ms, p99 \(Self.milliseconds(samples, 0.99)) ms, max \(Self.milliseconds(samples, 1)) ms")

        // The same batches from 64 concurrent committers, which group commit lets share fsyncs.
        let concurrent = 4_000
        let store = self.store
        let clock = ContinuousClock()
        let started = clock.now
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<64 {
                group.addTask {
                    for index in stride(from: worker, to: concurrent, by: 64) {
                        let id = "group-\(index)"
                        let execution = Fixture.execution(id, state: .pending)
                        _ = try? await store.commit(
                            StoreBatch(
                                jobs: [Fixture.job(id, state: .running)], executions: [execution],
                                events: [Fixture.event(id, "submitted"), Fixture.event(id, "placed", execution: execution.id)]))
                    }
                }
            }
        }
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("SQLiteStore group commit, 64 concurrent committers: \(concurrent) batches in \(String(format: "%.2f", seconds)) s = \(Int(Double(concurrent) / seconds)) batches/s")
    }

    private static func commitLatencies(of store: SQLiteStore, count: Int, prefix: String) async throws -> [Duration] {
        let clock = ContinuousClock()
        var samples: [Duration] = []
        for index in 0..<count {
            let id = "\(prefix)-\(index)"
            let execution = Fixture.execution(id, state: .pending)
            let batch = StoreBatch(
                jobs: [Fixture.job(id, state: .running, createdAt: Int64(index))], executions: [execution],
                events: [Fixture.event(id, "submitted"), Fixture.event(id, "placed", execution: execution.id)])
            let start = clock.now
            _ = try await store.commit(batch)
            samples.append(clock.now - start)
        }
        return samples.sorted()
    }

    private static func milliseconds(_ sorted: [Duration], _ quantile: Double) -> String {
        let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))]
        return String(format: "%.3f", Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
    }
}

@Suite("SQLiteStore in memory")
struct InMemorySQLiteStoreTests {
    @Test func worksWithoutAFile() async throws {
        let store = try SQLiteStore.inMemory()
        let receipt = try await store.commit(
            StoreBatch(jobs: [Fixture.job("m")], events: [Fixture.event("m", "1"), Fixture.event("m", "2")]))
        #expect(receipt.events.map(\.sequence) == [1, 2])
        #expect(try await store.job("m") == Fixture.job("m"))
        #expect(try await store.recover().activeJobs.map(\.id) == ["m"])
    }
}

/// Job IDs and versions: a creation never overwrites, a stale update never wins.
extension SQLiteStoreTests {
    @Test func creatingAJobWhoseIDIsTakenFailsAndKeepsTheStoredJob() async throws {
        let stored = Fixture.job("job-1", state: .completed)
        _ = try await store.commit(StoreBatch(jobs: [stored], createdJobs: ["job-1"]))
        var batch = StoreBatch(jobs: [Fixture.job("job-1")], events: [Fixture.event("job-1", "submitted")])
        batch.createdJobs = ["job-1"]
        let error = await #expect(throws: StoreError.self) { _ = try await store.commit(batch) }
        #expect(error?.kind == .conflict)
        #expect(try await store.job("job-1") == stored)
        #expect(try await store.events(of: "job-1").isEmpty, "nothing of the refused batch is stored")
    }

    @Test func aStaleJobUpdateIsRefused() async throws {
        var job = Fixture.job("job-1")
        _ = try await store.commit(StoreBatch(jobs: [job], createdJobs: ["job-1"]))
        let stale = job
        _ = try job.transition(to: .running, at: Timestamp(milliseconds: 9_000))
        _ = try await store.commit(StoreBatch(jobs: [job]))
        let error = await #expect(throws: StoreError.self) { _ = try await store.commit(StoreBatch(jobs: [stale])) }
        #expect(error?.kind == .conflict)
        #expect(try await store.job("job-1") == job)
    }

    /// Issue 6, item 8: executions were upserted, so a stale write (an older copy of an
    /// execution) silently took an execution back out of a terminal state.
    @Test func aStaleExecutionUpdateIsRefused() async throws {
        let job = Fixture.job("job-1")
        var execution = Execution(jobID: job.id, partition: 0, attempt: 1, nodeID: "node-a", createdAt: job.createdAt)
        _ = try await store.commit(StoreBatch(jobs: [job], executions: [execution], createdJobs: ["job-1"]))
        let stale = execution
        _ = try execution.transition(to: .dispatched, at: Timestamp(milliseconds: 9_000))
        _ = try execution.transition(to: .lost, reason: "node gone", at: Timestamp(milliseconds: 9_500))
        _ = try await store.commit(StoreBatch(executions: [execution]))
        let error = await #expect(throws: StoreError.self) { _ = try await store.commit(StoreBatch(executions: [stale])) }
        #expect(error?.kind == .conflict)
        #expect(try await store.executions(of: job.id) == [execution])
        #expect(execution.version == 3)
    }
}
