import Foundation
import InsituAPI
@testable import InsituAgent
import InsituModel
import Testing

/// Live output is capped per stream, cut into small messages, and travels compactly.
@Suite struct LiveOutputTests {
    let id = ExecutionID(rawValue: "j-1-p0-a1")

    @Test func outputIsCappedPerStreamAndTheDropIsAnnounced() {
        let output = LiveOutput(limit: 100)
        output.append(.stdout, Array(repeating: UInt8(ascii: "a"), count: 60))
        output.append(.stderr, Array("err\n".utf8))
        output.append(.stdout, Array(repeating: UInt8(ascii: "b"), count: 60))
        let first = output.drain(id)
        #expect(first.map(\.stream) == ["stdout", "stderr", "stdout"], "arrival order is kept")
        #expect(first.filter { $0.stream == "stdout" }.map(\.text).joined() == String(repeating: "a", count: 60) + String(repeating: "b", count: 40))
        output.append(.stdout, Array("more".utf8))
        let last = output.drain(id, final: true)
        #expect(last.count == 1)
        #expect(last[0].stream == "stdout")
        #expect(last[0].text.contains("[insitu: 24 more bytes of stdout were dropped"), "\(last[0].text)")
        #expect(output.drain(id, final: true).isEmpty)
    }

    @Test func piecesAreSmallAndNotCutInsideACharacter() {
        let text = String(repeating: "ü€", count: 40_000)  // 5 bytes per pair, 200 000 bytes
        let pieces = LiveOutput.split(Array(text.utf8))
        #expect(pieces.allSatisfy { $0.count <= LiveOutput.chunkBytes })
        #expect(pieces.map { String(decoding: $0, as: UTF8.self) }.joined() == text)
        #expect(pieces.count == 4)
    }

    @Test func controlBytesTravelAsBase64AndTextAsText() throws {
        let raw = ExecutionOutput(executionID: id, stream: "stdout", text: String(repeating: "\u{1}", count: 60_000))
        let encodedRaw = try JSONEncoder().encode(raw)
        #expect(encodedRaw.count < 60_000 * 4 / 3 + 200, "6 bytes per control character would be \(60_000 * 6)")
        #expect(try JSONDecoder().decode(ExecutionOutput.self, from: encodedRaw).text == raw.text)

        let plain = ExecutionOutput(executionID: id, stream: "stderr", text: "hello, world\n")
        let encodedPlain = try JSONEncoder().encode(plain)
        #expect(String(decoding: encodedPlain, as: UTF8.self).contains("\"text\":\"hello, world\\n\""))
        let decoded = try JSONDecoder().decode(ExecutionOutput.self, from: encodedPlain)
        #expect(decoded.text == plain.text && decoded.stream == "stderr" && decoded.executionID == id)
    }
}
