@testable import InsituSQL
import Testing

@Suite("Table naming")
struct TableNamingTests {
    @Test func fileKinds() {
        #expect(TableNaming.kind(ofFile: "patients.csv") == .csv)
        #expect(TableNaming.kind(ofFile: "Visits.CSV") == .csv)
        #expect(TableNaming.kind(ofFile: "lab.sqlite") == .sqlite)
        #expect(TableNaming.kind(ofFile: "lab.sqlite3") == .sqlite)
        #expect(TableNaming.kind(ofFile: "lab.db") == .sqlite)
        #expect(TableNaming.kind(ofFile: "notes.txt") == nil)
        #expect(TableNaming.kind(ofFile: ".csv") == nil)
        #expect(TableNaming.csvTableName("patients.csv") == "patients")
        #expect(TableNaming.csvTableName("Visits.CSV") == "Visits")
    }

    @Test func clashesAreRefusedNamingBothOriginsWithoutCase() {
        let tables = [
            TableNaming.Table(name: "patients", origin: "/data/a/patients.csv"),
            TableNaming.Table(name: "Patients", origin: "/data/b/lab.sqlite (table Patients)"),
        ]
        #expect {
            try TableNaming.check(tables)
        } throws: { error in
            let message = (error as? SQLRunError)?.message ?? ""
            return message.contains("/data/a/patients.csv") && message.contains("/data/b/lab.sqlite (table Patients)")
        }
    }

    @Test func reservedNamesAreRefused() {
        #expect(throws: SQLRunError.self) { try TableNaming.check([TableNaming.Table(name: "sqlite_master", origin: "/data/sqlite_master.csv")]) }
        #expect(throws: Never.self) {
            try TableNaming.check([TableNaming.Table(name: "a", origin: "/x/a.csv"), TableNaming.Table(name: "b", origin: "/x/b.csv")])
        }
    }
}

@Suite("Result encoding")
struct ResultEncodingTests {
    private func csv(_ value: ResultValue) -> String {
        var out: [UInt8] = []
        ResultEncoding.appendCSV(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func json(_ value: ResultValue) -> String {
        var out: [UInt8] = []
        ResultEncoding.appendJSON(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func csvFields() {
        #expect(csv(.null) == "")
        #expect(csv(.text([])) == "\"\"")
        #expect(csv(.text(Array("plain".utf8))) == "plain")
        #expect(csv(.text(Array("a,b".utf8))) == "\"a,b\"")
        #expect(csv(.text(Array("say \"hi\"\n".utf8))) == "\"say \"\"hi\"\"\n\"")
        #expect(csv(.integer(-3)) == "-3")
        #expect(csv(.real(2)) == "2.0")
        #expect(csv(.real(0.1)) == "0.1")
        #expect(csv(.blob([0x00, 0xAB])) == "00ab")
    }

    @Test func jsonValues() {
        #expect(json(.null) == "null")
        #expect(json(.integer(7)) == "7")
        #expect(json(.real(2.5)) == "2.5")
        #expect(json(.real(.infinity)) == "null")
        #expect(json(.text(Array("a\"b\\c\n\u{01}é".utf8))) == "\"a\\\"b\\\\c\\n\\u0001é\"")
        #expect(json(.text([0x61, 0xFF])) == "\"a\u{FFFD}\"")
        #expect(json(.blob([0x0F])) == "\"0f\"")
    }

    @Test func columnTypesMerge() {
        var tracker = ColumnTypeTracker()
        #expect(tracker.type == "null")
        tracker.observe(.integer(1))
        #expect(tracker.type == "integer")
        tracker.observe(.real(1.5))
        #expect(tracker.type == "real")
        tracker.observe(.null)
        #expect(tracker.type == "real" && tracker.sawNull)
        tracker.observe(.text([]))
        #expect(tracker.type == "mixed")
    }
}
