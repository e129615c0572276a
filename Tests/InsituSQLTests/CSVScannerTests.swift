@testable import InsituSQL
import Testing

/// Every record of `text` as (field text, quoted) pairs, or the error.
private func records(_ text: String) -> Result<[[String]], CSVError> {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { raw in
        var scanner = CSVScanner(raw)
        var fields: [CSVField] = []
        var out: [[String]] = []
        do throws(CSVError) {
            while try scanner.next(&fields) {
                out.append(fields.map { (field: CSVField) in (field.quoted ? "q:" : "") + scanner.text(of: field) })
            }
        } catch {
            return .failure(error)
        }
        return .success(out)
    }
}

@Suite("CSV scanner")
struct CSVScannerTests {
    @Test func plainRecordsWithLFAndCRLF() {
        #expect(records("a,b\n1,2\r\n3,4") == .success([["a", "b"], ["1", "2"], ["3", "4"]]))
    }

    @Test func quotedFieldsHoldCommasLineBreaksAndDoubledQuotes() {
        let text = "name,note\n\"Smith, J\",\"said \"\"hi\"\"\nthen left\"\n"
        #expect(records(text) == .success([["name", "note"], ["q:Smith, J", "q:said \"hi\"\nthen left"]]))
    }

    @Test func emptyFieldsQuotedEmptyAndTrailingComma() {
        #expect(records("a,b,c\n,\"\",\n") == .success([["a", "b", "c"], ["", "q:", ""]]))
    }

    @Test func byteOrderMarkAndEmptyLinesAreSkipped() {
        #expect(records("\u{FEFF}a\n\n1\r\n\r\n2\n") == .success([["a"], ["1"], ["2"]]))
    }

    @Test func loneCarriageReturnIsData() {
        #expect(records("a\rb,c\n") == .success([["a\rb", "c"]]))
    }

    @Test func quoteInsideUnquotedFieldIsKept() {
        #expect(records("5\" disk,x\n") == .success([["5\" disk", "x"]]))
    }

    @Test func unclosedQuoteIsRefusedWithItsLine() {
        guard case .failure(let error) = records("a\n1\n\"open\nstill open\n") else {
            Issue.record("an unclosed quote was accepted")
            return
        }
        #expect(error.line == 3)
        #expect(error.problem.contains("never closed"))
    }

    @Test func textAfterClosingQuoteIsRefused() {
        guard case .failure(let error) = records("a,b\n\"x\"y,2\n") else {
            Issue.record("text after a closing quote was accepted")
            return
        }
        #expect(error.line == 2)
        #expect(error.problem.contains("'y'"))
    }

    @Test func recordLineCountsLineBreaksInsideQuotes() throws {
        let bytes = Array("a\n\"x\ny\"\nlast\n".utf8)
        try bytes.withUnsafeBytes { raw in
            var scanner = CSVScanner(raw)
            var fields: [CSVField] = []
            var lines: [Int] = []
            while try scanner.next(&fields) { lines.append(scanner.recordLine) }
            #expect(lines == [1, 2, 4])
        }
    }
}

@Suite("CSV values")
struct CSVValueTests {
    private func classify(_ text: String, quoted: Bool = false) -> CSVValue {
        Array(text.utf8).withUnsafeBytes { CSVValue.classify($0, quoted: quoted) }
    }

    @Test func integers() {
        #expect(classify("0") == .integer(0))
        #expect(classify("42") == .integer(42))
        #expect(classify("-17") == .integer(-17))
        #expect(classify("9223372036854775807") == .integer(.max))
        #expect(classify("-9223372036854775808") == .integer(.min))
    }

    @Test func reals() {
        #expect(classify("1.5") == .real(1.5))
        #expect(classify("-0.25") == .real(-0.25))
        #expect(classify("6.02e23") == .real(6.02e23))
        #expect(classify("1E-3") == .real(0.001))
    }

    @Test func textKeepsWhatNumbersWouldLose() {
        for text in ["007", "9223372036854775808", "12345678901234567890123", "+5", "1.", ".5", "1e", "2026-03-05", "F", "-", "1,5", " 1"] {
            #expect(classify(text) == .text, "\(text)")
        }
    }

    @Test func emptyIsNullUnlessQuoted() {
        #expect(classify("") == .null)
        #expect(classify("", quoted: true) == .text)
        #expect(classify("42", quoted: true) == .text)
    }
}
