import InsituContainer
import InsituExecutor
import Testing

private func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
    let payload = Array(text.utf8)
    let size = UInt32(payload.count)
    return [stream, 0, 0, 0, UInt8(size >> 24), UInt8(size >> 16 & 0xff), UInt8(size >> 8 & 0xff), UInt8(size & 0xff)] + payload
}

@Suite struct LogFrameDemultiplexerTests {
    @Test func framesAreSplitIntoStdoutAndStderr() throws {
        var frames = LogFrameDemultiplexer()
        let chunks = try frames.feed(frame(1, "out\n") + frame(2, "err\n") + frame(0, "in\n") + frame(3, "gone"))
        #expect(
            chunks == [
                .output(.stdout, Array("out\n".utf8)), .output(.stderr, Array("err\n".utf8)), .output(.stdout, Array("in\n".utf8)),
                .engineError(Array("gone".utf8)),
            ])
        #expect(frames.endedCleanly)
    }

    /// The stream arrives in blocks that cut headers and payloads anywhere.
    @Test func framesSplitAcrossEveryByteBoundaryComeOutWhole() throws {
        let stream = frame(1, "hello ") + frame(2, "warning\n") + frame(1, "world\n")
        for cut in 0...stream.count {
            var frames = LogFrameDemultiplexer()
            let chunks = try frames.feed(stream[..<cut]) + frames.feed(stream[cut...])
            #expect(
                chunks == [.output(.stdout, Array("hello ".utf8)), .output(.stderr, Array("warning\n".utf8)), .output(.stdout, Array("world\n".utf8))],
                "cut at \(cut)")
        }
        var byteByByte = LogFrameDemultiplexer()
        var collected: [LogFrameDemultiplexer.Chunk] = []
        for byte in stream { collected += try byteByByte.feed([byte]) }
        #expect(collected.count == 3)
    }

    @Test func aStreamEndingInsideAFrameIsNotClean() throws {
        var frames = LogFrameDemultiplexer()
        #expect(try frames.feed(Array(frame(1, "cut short").dropLast(3))).isEmpty)
        #expect(!frames.endedCleanly)
        #expect(frames.bufferedBytes > 0)
    }

    /// A hostile or broken engine cannot make the node buffer without bound or misread streams.
    @Test func malformedHeadersAreRefusedAndStayRefused() {
        var unknownStream = LogFrameDemultiplexer()
        #expect(throws: LogFrameDemultiplexer.Malformed.self) { try unknownStream.feed(frame(7, "x")) }
        #expect(throws: LogFrameDemultiplexer.Malformed.self) { try unknownStream.feed(frame(1, "fine")) }

        var padding = LogFrameDemultiplexer()
        #expect(throws: LogFrameDemultiplexer.Malformed.self) { try padding.feed([1, 0, 1, 0, 0, 0, 0, 1, 65]) }

        // The size is checked from the header alone: nothing of the claimed 4 GiB is awaited.
        var huge = LogFrameDemultiplexer(maxFrameBytes: 1024)
        #expect(throws: LogFrameDemultiplexer.Malformed.self) { try huge.feed([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]) }
        var justOver = LogFrameDemultiplexer(maxFrameBytes: 1024)
        #expect(throws: LogFrameDemultiplexer.Malformed.self) { try justOver.feed([2, 0, 0, 0, 0, 0, 4, 1]) }
        var atLimit = LogFrameDemultiplexer(maxFrameBytes: 4)
        #expect((try? atLimit.feed(frame(1, "four"))) == [.output(.stdout, Array("four".utf8))])
    }
}
