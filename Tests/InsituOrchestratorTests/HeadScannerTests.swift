@testable import InsituOrchestrator
import Testing

/// The byte-level scanner behind the request-head guard (the guard itself is exercised over real
/// sockets in the end-to-end API hardening tests).
@Suite struct HeadScannerTests {
    let limits = RequestHeadGuard.Limits(timeout: .seconds(1), maxRequestLineBytes: 16, maxHeadBytes: 64)

    func verdicts(_ chunks: [String]) -> [HeadScanner.Verdict] {
        var scanner = HeadScanner()
        return chunks.map { scanner.scan(Array($0.utf8), limits: limits) }
    }

    @Test func aHeadIsCompleteAtItsBlankLineEvenWhenSplitAcrossReads() {
        #expect(verdicts(["GET / HTTP/1.1\r", "\nHost: a\r\n\r", "\n"]) == [.needMore, .needMore, .complete])
        #expect(verdicts(["GET / HTTP/1.1\nHost: a\n\n"]) == [.complete])
    }

    @Test func aLongRequestLineIsTooLongBeforeItsEnd() {
        #expect(verdicts(["GET /0123456789abcdef HTTP/1.1\r\n"]) == [.requestLineTooLong])
    }

    @Test func aLongHeadIsTooLarge() {
        #expect(verdicts(["GET / HTTP/1.1\r\n", String(repeating: "X-A: b\r\n", count: 10)]) == [.needMore, .headTooLarge])
    }

    @Test func aHeaderValueWithCarriageReturnsDoesNotEndTheHead() {
        #expect(verdicts(["GET / HTTP/1.1\r\nA: \r\r\r\nB: c\r\n"]) == [.needMore])
    }
}
