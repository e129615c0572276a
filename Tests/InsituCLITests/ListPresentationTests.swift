import ArgumentParser
import InsituModel
import Testing

@testable import InsituCLI

/// Issue 9, item 1: the pure pieces of `job list` and `node list`.
@Suite struct ListPresentationTests {
    /// The same cut-offs as kubectl's AGE column.
    @Test func agesReadLikeKubectl() {
        let cases: [(Int64, String)] = [
            (0, "0s"), (999, "0s"), (45_000, "45s"), (119_000, "119s"), (120_000, "2m"), (200_000, "3m20s"),
            (3 * 60_000, "3m"), (45 * 60_000, "45m"), (3 * 3_600_000, "3h"), (3 * 3_600_000 + 600_000, "3h10m"),
            (20 * 3_600_000, "20h"), (5 * 86_400_000, "5d"), (5 * 86_400_000 + 3_600_000, "5d1h"), (30 * 86_400_000, "30d"),
            (800 * 86_400_000, "2y70d"), (3_000 * 86_400_000, "8y"),
            // A creation time a little ahead of this clock is skew, shown as just now.
            (-4_000, "0s"),
        ]
        for (millis, text) in cases {
            #expect(HumanDuration.text(milliseconds: millis) == text, "\(millis) ms")
        }
        #expect(Output.age(Timestamp(milliseconds: 1_000), now: Timestamp(milliseconds: 46_000)) == "45s")
    }

    @Test func stateFlagsTakeRepeatsAndCommaListsAndRefuseTypos() throws {
        #expect(try ListFlags.jobStates(["running,failed", "queued", "failed"]) == [.running, .failed, .queued])
        #expect(try ListFlags.jobStates([]) == [])
        for wrong in [["runing"], ["running,"], ["Running"]] {
            let error = #expect(throws: ValidationError.self) { try ListFlags.jobStates(wrong) }
            #expect(error?.message.contains("is not a job state") == true && error?.message.contains("pending, queued, running") == true)
        }
        #expect(try ListFlags.nodeStatuses(["connected,lost"]) == [.connected, .lost])
        #expect(throws: ValidationError.self) { try ListFlags.nodeStatuses(["up"]) }
        #expect(try ListFlags.labels(["site=lyon", "tier="]) == ["site=lyon", "tier="])
        for wrong in ["site", "=lyon"] {
            #expect(throws: ValidationError.self) { try ListFlags.labels([wrong]) }
        }
        #expect(throws: ValidationError.self) { try ListFlags.limit(0) }
        #expect(throws: ValidationError.self) { try ListFlags.limit(10_001) }
    }

    @Test func tablesCanLeaveOutTheirHeaderRow() {
        let rows = [["j-1", "short"], ["j-22", "x"]]
        #expect(Output.table(["ID", "NAME"], rows) == "ID    NAME\nj-1   short\nj-22  x\n")
        #expect(Output.table(["ID", "NAME"], rows, headers: false) == "j-1   short\nj-22  x\n")
    }
}
