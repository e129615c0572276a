import Foundation
import InsituModel
import InsituSpec
import Yams

/// Renders read-command answers as a table for people or JSON/YAML for scripts.
enum Output {
    static func print<T: Encodable>(_ value: T, format: OutputFormat, table: () -> String) throws {
        switch format {
        case .table, .wide:
            Swift.print(table(), terminator: "")
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.userInfo[Timestamp.rfc3339UserInfoKey] = true
            Swift.print(String(decoding: try encoder.encode(value), as: UTF8.self))
        case .yaml:
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            Swift.print(try encoder.encode(value, userInfo: [Timestamp.rfc3339UserInfoKey: true]), terminator: "")
        }
    }

    /// A plain left-aligned table in the style of `nomad job status`; without `headers`, only the
    /// rows (`--no-headers`, as kubectl), still aligned as they would be under one.
    static func table(_ header: [String], _ rows: [[String]], headers: Bool = true) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }
        return (headers ? line(header) : "") + rows.map(line).joined()
    }

    /// How long ago `timestamp` was, for an AGE column: `45s`, `3m`, `2h`, `5d`.
    static func age(_ timestamp: Timestamp, now: Timestamp = now()) -> String {
        HumanDuration.text(milliseconds: now.milliseconds - timestamp.milliseconds)
    }

    static func now() -> Timestamp {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }

    /// An instant in RFC 3339 (UTC, milliseconds), as in `job logs --timestamps`.
    static func preciseTime(_ timestamp: Timestamp) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(timestamp.milliseconds) / 1000))
    }

    /// One line on stdout, flushed at once so progress shows even when stdout is a pipe.
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// A remark for the person at the terminal, on stderr so it never mixes with -o json output.
    static func note(_ text: String) {
        FileHandle.standardError.write(Data(("Note: " + text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("Error: " + text + "\n").utf8))
    }

    /// A duration for people: `90s`, `2m`, `1h30m`, `250ms`, as a spec would write it.
    static func duration(_ millis: Int64) -> String { JobSpecWriter.duration(millis) }

    static func describe(_ retry: RetryPolicy) -> String {
        guard retry.attempts > 1 else { return "none (1 attempt)" }
        return "\(retry.attempts) attempts, delay \(duration(retry.delayMillis)) ×\(retry.backoff) up to \(duration(retry.maxDelayMillis))"
    }

    /// The local wall-clock time of day, for progress lines.
    static func clockTime(_ timestamp: Timestamp) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(timestamp.milliseconds) / 1000))
    }

    static func time(_ timestamp: Timestamp) -> String {
        let date = Date(timeIntervalSince1970: Double(timestamp.milliseconds) / 1000)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

/// A failure the CLI reports to its user: a message and a non-zero exit.
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
