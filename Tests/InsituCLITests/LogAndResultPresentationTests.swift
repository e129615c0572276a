import Foundation
import InsituModel
import Testing

@testable import InsituCLI

/// Issue 9, item 1 and problem 8: the pure pieces of `job logs` and `job results`.
@Suite struct LogAndResultPresentationTests {
    static func entry(_ execution: String, _ stream: String, _ text: String, at: Int64) -> LogRecord {
        LogRecord(jobID: "j-1", executionID: ExecutionID(rawValue: execution), stream: stream, text: text, at: Timestamp(milliseconds: at))
    }

    @Test func chunksBecomeLinesPerExecutionAndStream() {
        var splitter = LogLineSplitter()
        #expect(splitter.feed(Self.entry("e1", "stdout", "hel", at: 1)).isEmpty)
        // Another execution's chunk does not join e1's unfinished line.
        let other = splitter.feed(Self.entry("e2", "stdout", "b1\nb2", at: 2))
        #expect(other.map(\.text) == ["b1"] && other[0].executionID.rawValue == "e2")
        let finished = splitter.feed(Self.entry("e1", "stdout", "lo\nworld\n", at: 3))
        // A line's time is when its first chunk came.
        #expect(
            finished.map(\.text) == ["hello", "world"] && finished.map(\.at.milliseconds) == [1, 3] && finished.allSatisfy(\.terminated))
        #expect(splitter.feed(Self.entry("e1", "stderr", "", at: 4)).isEmpty)
        #expect(splitter.feed(Self.entry("e1", "stderr", "\n", at: 5)).map(\.text) == [""])
        let rest = splitter.flush()
        #expect(rest.map(\.text) == ["b2"] && rest.allSatisfy { !$0.terminated })
        #expect(splitter.flush().isEmpty)
    }

    @Test func onlyJobsOfSeveralExecutionsArePrefixed() {
        #expect(LogAttribution.prefixes(type: .ops, count: 1, executions: 1))
        #expect(LogAttribution.prefixes(type: .batch, count: 4, executions: 0))
        #expect(LogAttribution.prefixes(type: .batch, count: 1, executions: 2))
        #expect(!LogAttribution.prefixes(type: .batch, count: 1, executions: 1))
        #expect(LogAttribution.label(nodeName: "lyon-1", partition: 0, attempt: 1) == "lyon-1/0")
        #expect(LogAttribution.label(nodeName: "lyon-1", partition: 3, attempt: 2) == "lyon-1/3#2")
    }

    @Test func resultFoldersAreNamedForPeople() {
        #expect(ResultFolder.defaultName(jobName: "count-words", id: "j-3f2a1b0c9d") == "count-words-j-3f2a1b")
        #expect(ResultFolder.partitionFolders(type: .batch, nodeNames: [0: "lyon", 1: "lyon"]) == [0: "partition-0", 1: "partition-1"])
        #expect(ResultFolder.partitionFolders(type: .ops, nodeNames: [0: "lyon", 1: "paris"]) == [0: "lyon", 1: "paris"])
        // A name that cannot be a folder, or is shared, falls back to the partition.
        let odd = ResultFolder.partitionFolders(
            type: .ops, nodeNames: [0: "../up", 1: "twin", 2: "twin", 3: "..", 4: ".hidden", 5: "partition-0"])
        #expect(odd == [0: "partition-0", 1: "partition-1", 2: "partition-2", 3: "partition-3", 4: "partition-4", 5: "partition-5"])
    }

    @Test func aNonEmptyDestinationNeedsForceAndLinksInsideItAreNotFollowed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-results-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dest = root + "/dest"
        let outside = root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)

        let fresh = try ResultFolder(path: dest, force: false)
        try fresh.store(Data("a".utf8), at: "partition-0/outputs/o/a.txt")
        fresh.finish()
        #expect(try String(contentsOfFile: dest + "/partition-0/outputs/o/a.txt", encoding: .utf8) == "a")

        let refused = #expect(throws: ResultFolder.Failure.self) { try ResultFolder(path: dest, force: false) }
        #expect(refused.map { "\($0)" }?.contains("exists and is not empty") == true)

        // Links planted in the destination, to a folder and to a file outside it.
        try FileManager.default.createSymbolicLink(atPath: dest + "/partition-1", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: dest + "/partition-0/stdout", withDestinationPath: outside + "/stolen")
        let forced = try ResultFolder(path: dest, force: true)
        defer { forced.finish() }
        for path in ["partition-1/stdout", "partition-0/stdout"] {
            let error = #expect(throws: ResultFolder.Failure.self) { try forced.store(Data("x".utf8), at: path) }
            #expect(error.map { "\($0)" }?.contains("symbolic link") == true, "\(path)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(throws: ResultFolder.Failure.self) { try forced.store(Data(), at: "../escape") }
        // An existing file is replaced.
        try forced.store(Data("b".utf8), at: "partition-0/outputs/o/a.txt")
        #expect(try String(contentsOfFile: dest + "/partition-0/outputs/o/a.txt", encoding: .utf8) == "b")
    }
}
