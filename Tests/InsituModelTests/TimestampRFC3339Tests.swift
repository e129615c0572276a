import Foundation
import InsituModel
import Testing

/// Issue 9, item 1: times in the REST API and the CLI's JSON/YAML are RFC 3339 text.
struct TimestampRFC3339Tests {
    @Test func knownInstantsAreWrittenInUTC() {
        #expect(Timestamp(milliseconds: 0).rfc3339 == "1970-01-01T00:00:00Z")
        #expect(Timestamp(milliseconds: 1_795_000_000_250).rfc3339 == "2026-11-18T11:06:40.250Z")
        #expect(Timestamp(milliseconds: 951_782_400_000).rfc3339 == "2000-02-29T00:00:00Z")
        #expect(Timestamp(milliseconds: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
    }

    /// Against Foundation's own formatter, over instants spread across four centuries.
    @Test func writingAgreesWithFoundationAndReadingInvertsIt() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let millis = Int64.random(in: -5_000_000_000_000...10_000_000_000_000, using: &generator)
            let timestamp = Timestamp(milliseconds: millis)
            let text = timestamp.rfc3339
            let parsed = try #require(formatter.date(from: text.contains(".") ? text : text.replacingOccurrences(of: "Z", with: ".000Z")))
            #expect(Int64((parsed.timeIntervalSince1970 * 1000).rounded()) == millis, "\(text)")
            #expect(Timestamp(rfc3339: text) == timestamp, "\(text)")
        }
    }

    /// A timestamp from a stored record or a peer may hold any value: writing one never traps.
    @Test func extremeValuesAreWrittenWithoutTrapping() {
        #expect(Timestamp(milliseconds: .max).rfc3339.hasSuffix(".807Z"))
        #expect(Timestamp(milliseconds: .min).rfc3339.hasSuffix(".192Z"))
        #expect(Timestamp(milliseconds: .min + 1).rfc3339.hasPrefix("-"))
    }

    @Test func offsetsFractionsAndTheRFCsAllowancesAreRead() {
        #expect(Timestamp(rfc3339: "2026-12-01T10:30:00+01:00") == Timestamp(rfc3339: "2026-12-01T09:30:00Z"))
        #expect(Timestamp(rfc3339: "2026-12-01T04:00:00-05:30") == Timestamp(rfc3339: "2026-12-01T09:30:00Z"))
        #expect(Timestamp(rfc3339: "2026-12-01t09:30:00.5z")?.milliseconds == Timestamp(rfc3339: "2026-12-01T09:30:00.500Z")?.milliseconds)
        #expect(Timestamp(rfc3339: "2026-12-01 09:30:00.123456789Z") == Timestamp(rfc3339: "2026-12-01T09:30:00.123Z"))
    }

    @Test func malformedTextIsRefused() {
        for text in [
            "", "2026-12-01", "2026-12-01T09:30:00", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-01T24:00:00Z",
            "2026-12-01T09:60:00Z", "2026-12-01T09:30:00.Z", "2026-12-01T09:30:00Zjunk", "+2026-12-01T09:30:00Z", "0000-01-01T00:00:00Z",
            "2026-12-01T09:30:00+1:00", "１９７０-01-01T00:00:00Z",
        ] {
            #expect(Timestamp(rfc3339: text) == nil, "\(text.debugDescription)")
        }
    }

    @Test func codableWritesTextOnlyWhenAskedAndReadsBoth() throws {
        struct Box: Codable, Equatable { var at: Timestamp }
        let box = Box(at: Timestamp(milliseconds: 1_795_000_000_250))
        #expect(String(decoding: try JSONEncoder().encode(box), as: UTF8.self) == #"{"at":1795000000250}"#, "stored form unchanged")
        let api = JSONEncoder()
        api.userInfo[Timestamp.rfc3339UserInfoKey] = true
        let text = try api.encode(box)
        #expect(String(decoding: text, as: UTF8.self) == #"{"at":"2026-11-18T11:06:40.250Z"}"#)
        #expect(try JSONDecoder().decode(Box.self, from: text) == box)
        #expect(try JSONDecoder().decode(Box.self, from: Data(#"{"at":1795000000250}"#.utf8)) == box)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Box.self, from: Data(#"{"at":"yesterday"}"#.utf8)) }
    }
}
