import InsituModel
import InsituSimulation
import Testing

/// The history checker over a recorded history (what the chaos harness reads back from a real
/// orchestrator): a clean run passes, and each broken promise is reported. The histories are built
/// with the model's own transitions, so the event wording is the control plane's.
@Suite struct RecordedHistoryTests {
    static let digest = ContentDigest(rawValue: String(repeating: "ab", count: 32))!
    static let node = NodeID("node-1")
    static let start = Timestamp(milliseconds: 1_000_000)

    /// One job that ran one attempt to success: its stored job, execution, events, result and log line.
    static func completedJob(_ name: String) throws -> (Job, [Execution], [JobEvent], ResultRecord, LogRecord) {
        var job = Job(id: JobID(name), spec: JobSpec(name: name, engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest)))), createdAt: start)
        var execution = Execution(jobID: job.id, partition: 0, attempt: 1, nodeID: node, createdAt: start)
        var events: [JobEvent] = [JobEvent(jobID: job.id, at: start, kind: .submitted, executionID: nil, message: "submitted")]
        events.append(try job.transition(to: .running, at: Timestamp(milliseconds: 1_000_100)))
        events.append(try execution.transition(to: .dispatched, at: Timestamp(milliseconds: 1_000_100)))
        events.append(try execution.transition(to: .running, at: Timestamp(milliseconds: 1_000_200)))
        events.append(try execution.transition(to: .succeeded, reason: "exit 0", at: Timestamp(milliseconds: 1_000_300)))
        events.append(try job.transition(to: .completed, at: Timestamp(milliseconds: 1_000_300)))
        for index in events.indices { events[index].sequence = Int64(index + 1) }
        let result = ResultRecord(jobID: job.id, partition: 0, executionID: execution.id, nodeID: node, files: [], acceptedAt: Timestamp(milliseconds: 1_000_300))
        let log = LogRecord(jobID: job.id, executionID: execution.id, sequence: 1, stream: "stdout", text: "\(name)\n", at: Timestamp(milliseconds: 1_000_250))
        return (job, [execution], events, result, log)
    }

    static func check(_ recorded: RecordedHistory, accepted: [JobID], boundMillis: Int64 = 60_000) -> [String] {
        var checker = HistoryChecker()
        for id in accepted { checker.submitted(id, at: start, boundMillis: boundMillis) }
        checker.check(recorded)
        return checker.violations
    }

    @Test func aCleanRecordedRunHasNoViolations() throws {
        var recorded = RecordedHistory()
        for name in ["a", "b"] {
            let (job, executions, events, result, log) = try Self.completedJob(name)
            recorded.add(job: job, executions: executions, events: events, results: [result], logs: [log])
        }
        #expect(Self.check(recorded, accepted: ["a", "b"]) == [])
    }

    @Test func anAcceptedJobTheOrchestratorDoesNotKnowIsLost() throws {
        let (job, executions, events, result, log) = try Self.completedJob("a")
        var recorded = RecordedHistory()
        recorded.add(job: job, executions: executions, events: events, results: [result], logs: [log])
        let violations = Self.check(recorded, accepted: ["a", "gone"])
        #expect(violations == ["accepted job gone is not stored"])
    }

    @Test func aSecondResultAndASecondSucceededAttemptAreReported() throws {
        let (job, executions, events, result, log) = try Self.completedJob("a")
        var second = Execution(jobID: job.id, partition: 0, attempt: 2, nodeID: "node-2", createdAt: Self.start)
        var secondEvents = [try second.transition(to: .dispatched, at: Self.start)]
        secondEvents.append(try second.transition(to: .succeeded, at: Timestamp(milliseconds: 1_000_400)))
        for index in secondEvents.indices { secondEvents[index].sequence = Int64(events.count + index + 1) }
        var twice = result
        twice = ResultRecord(jobID: job.id, partition: 0, executionID: second.id, nodeID: "node-2", files: [], acceptedAt: twice.acceptedAt)
        var recorded = RecordedHistory()
        recorded.add(job: job, executions: executions + [second], events: events + secondEvents, results: [result, twice], logs: [log])
        let violations = Self.check(recorded, accepted: ["a"])
        #expect(violations.contains { $0.hasPrefix("second accepted result for job a partition 0") })
        #expect(violations.contains { $0.hasPrefix("job a partition 0 succeeded twice") })
    }

    @Test func aLogLineStoredTwiceIsReported() throws {
        let (job, executions, events, result, log) = try Self.completedJob("a")
        var replay = log
        replay.sequence = 2
        var recorded = RecordedHistory()
        recorded.add(job: job, executions: executions, events: events, results: [result], logs: [log, replay])
        #expect(Self.check(recorded, accepted: ["a"]).contains { $0.hasPrefix("log line stored twice") })
    }

    @Test func anIllegalOrBrokenChainOfStateChangesIsReported() throws {
        let (job, executions, events, result, log) = try Self.completedJob("a")
        // A change the state machine forbids, as a broken control plane would record it.
        let illegal = JobEvent(jobID: job.id, sequence: 99, at: Timestamp(milliseconds: 1_000_500), kind: .jobStateChanged, executionID: nil, message: "job completed → running")
        var recorded = RecordedHistory()
        recorded.add(job: job, executions: executions, events: events + [illegal], results: [result], logs: [log])
        let violations = Self.check(recorded, accepted: ["a"])
        #expect(violations.contains("job a changed after it was terminal: completed → running"))
        #expect(violations.contains("job a is stored as completed but its events end at running"))

        // An execution event that skips a state it never was in.
        let skipped = events.filter { !($0.kind == .executionStateChanged && $0.message.hasSuffix("dispatched → running")) }
        var gap = RecordedHistory()
        gap.add(job: job, executions: executions, events: skipped, results: [result], logs: [log])
        #expect(Self.check(gap, accepted: ["a"]).contains { $0.contains("left running while it was dispatched") })
    }

    @Test func aJobNotTerminalOrBeyondItsBoundIsReported() throws {
        let (job, executions, events, result, log) = try Self.completedJob("a")
        var recorded = RecordedHistory()
        recorded.add(job: job, executions: executions, events: events, results: [result], logs: [log])
        #expect(Self.check(recorded, accepted: ["a"], boundMillis: 100) == ["job a took 300 ms to finish, beyond its bound of 100 ms"])

        var unfinished = RecordedHistory()
        let running = Array(events.prefix(4))
        let stuck = Job(
            id: job.id, spec: job.spec, state: .running, stateReason: nil, createdAt: job.createdAt, updatedAt: job.updatedAt, version: 2)
        let stuckExecution = Execution(
            id: executions[0].id, jobID: job.id, partition: 0, attempt: 1, nodeID: Self.node, state: .running, desiredState: .run,
            stateReason: nil, exitCode: nil, createdAt: Self.start, updatedAt: Self.start)
        unfinished.add(job: stuck, executions: [stuckExecution], events: running, results: [], logs: [])
        #expect(Self.check(unfinished, accepted: ["a"]).contains { $0.hasPrefix("job a is still running at the end of the run") })
    }
}
