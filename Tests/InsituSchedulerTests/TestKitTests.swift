import InsituModel
import InsituTestKit
import Testing

@Suite("Test kit")
struct TestKitTests {
    @Test func manualClockMovesOnlyWhenTold() {
        let clock = ManualClock(start: Timestamp(milliseconds: 1_000))
        #expect(clock.now == Timestamp(milliseconds: 1_000))
        #expect(clock.advance(by: .seconds(90)) == Timestamp(milliseconds: 91_000))
        clock.advance(by: .milliseconds(5))
        #expect(clock.now == Timestamp(milliseconds: 91_005))
        clock.advance(to: Timestamp(milliseconds: 100_000))
        #expect(clock.now.milliseconds == 100_000)
    }

    @Test func splitMix64MatchesReferenceOutput() {
        var random = SeededRandom(seed: 0)
        #expect(random.next() == 0xE220_A839_7B1D_CDAF)
        #expect(random.next() == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test func seededIDsAreDeterministicAndOrdered() {
        var first = SeededIDs(seed: 42)
        var second = SeededIDs(seed: 42)
        let jobs = (0..<3).map { _ in first.nextJobID() }
        #expect(jobs == (0..<3).map { _ in second.nextJobID() })
        #expect(jobs == jobs.sorted())
        #expect(jobs[0].rawValue.hasPrefix("job-0001-"))
        let nodes = (0..<12).map { _ in first.nextNodeID() }
        #expect(nodes == nodes.sorted())
        #expect(Set(nodes).count == 12)

        var other = SeededIDs(seed: 43)
        #expect(other.nextJobID() != SeededIDs(seed: 42).nextJobIDCopy())
    }
}

extension SeededIDs {
    fileprivate func nextJobIDCopy() -> JobID {
        var copy = self
        return copy.nextJobID()
    }
}
