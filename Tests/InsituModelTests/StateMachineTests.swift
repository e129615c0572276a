import InsituModel
import InsituTestKit
import Testing

@Suite struct JobStateMachineTests {
    /// The documented lifecycle, written out independently of the implementation.
    static let legal: Set<[JobState]> = [
        [.pending, .queued], [.pending, .running], [.pending, .failed], [.pending, .stopped],
        [.queued, .running], [.queued, .failed], [.queued, .stopped],
        [.running, .queued], [.running, .completed], [.running, .failed], [.running, .stopped],
    ]

    @Test(arguments: JobState.allCases)
    func everyTransitionFromStateFollowsTheLifecycle(from: JobState) throws {
        for to in JobState.allCases {
            var job = Job(
                id: "j-1", spec: .fixture(), state: from, stateReason: nil, createdAt: Timestamp(milliseconds: 0),
                updatedAt: Timestamp(milliseconds: 0), version: 1)
            let shouldSucceed = Self.legal.contains([from, to])
            #expect(from.canTransition(to: to) == shouldSucceed, "\(from) → \(to)")
            do {
                let event = try job.transition(to: to, reason: "because", at: Timestamp(milliseconds: 42))
                #expect(shouldSucceed, "\(from) → \(to) must be rejected")
                #expect(job.state == to)
                #expect(job.version == 2)
                #expect(job.updatedAt == Timestamp(milliseconds: 42))
                #expect(event.kind == .jobStateChanged)
                #expect(event.message.contains("\(from) → \(to)"))
                #expect(event.message.contains("because"))
            } catch {
                #expect(!shouldSucceed, "\(from) → \(to) must be allowed")
                #expect(error.from == from && error.to == to)
                #expect(job.state == from, "a rejected transition leaves the job unchanged")
                #expect(job.version == 1)
                #expect(error.description.contains("illegal transition of job j-1 from \(from) to \(to)"))
            }
        }
    }

    @Test func terminalStatesHaveNoWayOut() {
        for state in JobState.allCases where state.isTerminal {
            #expect(JobState.allCases.allSatisfy { !state.canTransition(to: $0) })
        }
        #expect(Set(JobState.allCases.filter(\.isTerminal)) == [.completed, .failed, .stopped])
    }
}

@Suite struct ExecutionStateMachineTests {
    static let legal: Set<[ExecutionState]> = [
        [.pending, .dispatched], [.pending, .failed], [.pending, .cancelled], [.pending, .lost],
        [.dispatched, .running], [.dispatched, .succeeded], [.dispatched, .failed], [.dispatched, .cancelled],
        [.dispatched, .lost],
        [.running, .succeeded], [.running, .failed], [.running, .cancelled], [.running, .lost],
    ]

    @Test(arguments: ExecutionState.allCases)
    func everyTransitionFromStateFollowsTheLifecycle(from: ExecutionState) throws {
        for to in ExecutionState.allCases {
            var execution = Execution(
                id: ExecutionID(job: "j-1", partition: 3, attempt: 1), jobID: "j-1", partition: 3, attempt: 1, nodeID: "n-1",
                state: from, desiredState: .run, stateReason: nil, exitCode: nil, createdAt: Timestamp(milliseconds: 0),
                updatedAt: Timestamp(milliseconds: 0))
            let shouldSucceed = Self.legal.contains([from, to])
            #expect(from.canTransition(to: to) == shouldSucceed, "\(from) → \(to)")
            do {
                let event = try execution.transition(to: to, at: Timestamp(milliseconds: 7))
                #expect(shouldSucceed, "\(from) → \(to) must be rejected")
                #expect(execution.state == to)
                #expect(event.executionID == execution.id)
                #expect(event.kind == .executionStateChanged)
            } catch {
                #expect(!shouldSucceed, "\(from) → \(to) must be allowed")
                #expect(execution.state == from)
                #expect(error.description.contains("execution j-1-p3-a1"))
            }
        }
    }

    @Test func terminalStatesHaveNoWayOut() {
        for state in ExecutionState.allCases where state.isTerminal {
            #expect(ExecutionState.allCases.allSatisfy { !state.canTransition(to: $0) })
        }
    }

    @Test func executionIDsNameJobPartitionAndAttempt() {
        let first = ExecutionID(job: "j-9", partition: 2, attempt: 1)
        let retry = ExecutionID(job: "j-9", partition: 2, attempt: 2)
        #expect(first.rawValue == "j-9-p2-a1")
        #expect(first != retry, "a retry is a new execution, so a late report of the first attempt cannot overwrite it")
    }
}

@Suite struct ModelValueTests {
    @Test func constraintsFollowKubernetesSelectorSemantics() {
        let labels: Labels = ["region": "eu", "tier": "gold"]
        #expect(LabelConstraint(key: "region", operator: .equals, values: ["eu"]).matches(labels))
        #expect(!LabelConstraint(key: "region", operator: .equals, values: ["us"]).matches(labels))
        #expect(LabelConstraint(key: "zone", operator: .notEquals, values: ["a"]).matches(labels), "!= matches a missing key")
        #expect(LabelConstraint(key: "tier", operator: .in, values: ["gold", "silver"]).matches(labels))
        #expect(!LabelConstraint(key: "zone", operator: .in, values: ["a"]).matches(labels))
        #expect(LabelConstraint(key: "zone", operator: .notIn, values: ["a"]).matches(labels))
        #expect(!LabelConstraint(key: "tier", operator: .notIn, values: ["gold"]).matches(labels))
        #expect(LabelConstraint(key: "tier", operator: .exists).matches(labels))
        #expect(LabelConstraint(key: "gpu", operator: .doesNotExist).matches(labels))
        #expect(!LabelConstraint(key: "gpu", operator: .exists).matches(labels))
    }

    @Test func contentDigestsAcceptOnlyLowercaseSHA256Hex() {
        #expect(ContentDigest(rawValue: String(repeating: "a", count: 64)) != nil)
        #expect(ContentDigest(rawValue: String(repeating: "A", count: 64)) == nil)
        #expect(ContentDigest(rawValue: String(repeating: "a", count: 63)) == nil)
        #expect(ContentDigest(rawValue: String(repeating: "g", count: 64)) == nil)
    }

    @Test func timestampsAddDurations() {
        #expect(Timestamp(milliseconds: 1000) + .milliseconds(250) == Timestamp(milliseconds: 1250))
        #expect(Timestamp(milliseconds: 1000) + .seconds(2) == Timestamp(milliseconds: 3000))
        #expect(Timestamp(milliseconds: 3000) - Timestamp(milliseconds: 1000) == .seconds(2))
    }

    @Test func resourcesFitInEveryDimension() {
        let node = Resources(cpuMillis: 1000, memoryBytes: 1 << 30)
        #expect(node.fits(Resources(cpuMillis: 1000, memoryBytes: 1 << 30)))
        #expect(!node.fits(Resources(cpuMillis: 1001, memoryBytes: 1)))
        #expect(!node.fits(Resources(cpuMillis: 1, memoryBytes: (1 << 30) + 1)))
        #expect(ByteCount.format(64 << 20) == "64Mi")
    }
}
