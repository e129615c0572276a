import Foundation
@testable import InsituCLI
import Logging
import Testing

/// `--log-format json`: one JSON object per line, whatever the message and metadata hold.
@Suite struct JSONLogHandlerTests {
    @Test func aLineIsOneJSONObjectWithTimeLevelLabelMessageAndMetadata() throws {
        let time = Date(timeIntervalSince1970: 1_764_540_000.25)
        let line = JSONLogHandler.line(
            time: time, level: .warning, label: "insitu.orchestrator", message: "two\nlines \"quoted\"",
            metadata: ["node": "n-1", "list": .array(["a", .stringConvertible(7)]), "nested": .dictionary(["k": "v"])])
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") }, "one line, even for a message with a newline")
        let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        #expect(object["time"] as? String == "2025-11-30T22:00:00.250Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["label"] as? String == "insitu.orchestrator")
        #expect(object["message"] as? String == "two\nlines \"quoted\"")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["node"] as? String == "n-1")
        #expect(metadata["list"] as? [String] == ["a", "7"])
        #expect((metadata["nested"] as? [String: String]) == ["k": "v"])
    }
}
