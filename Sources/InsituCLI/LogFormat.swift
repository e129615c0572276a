import ArgumentParser
import Foundation
import Logging
import Synchronization

/// How a daemon writes its log on stderr (`--log-format`).
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Lines for people: time, level, label, message and metadata.
    case text
    /// One JSON object per line, for log collectors: `time` (RFC 3339, UTC), `level`, `label`,
    /// `message` and `metadata`.
    case json
}

/// `--log-level`: refused at parse time unless it is one of swift-log's levels.
enum LogLevel: String, ExpressibleByArgument, CaseIterable, Sendable {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
}

func makeLogger(_ label: String, level: LogLevel, format: LogFormat) -> Logger {
    var logger = Logger(label: label) { label -> any LogHandler in
        switch format {
        case .text: return StreamLogHandler.standardError(label: label)
        case .json: return JSONLogHandler(label: label)
        }
    }
    logger.logLevel = level.level
    return logger
}

/// Writes each log entry as one line of JSON on stderr.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// One writer for every handler of the process, so lines from concurrent tasks never interleave.
    private static let output = Mutex<Void>(())

    init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line = Self.line(
            time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged)
        Self.output.withLock { _ in
            FileHandle.standardError.write(line)
        }
    }

    /// The entry as one line of JSON, newline included.
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> Data {
        let entry: [String: Any] = [
            "time": time.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": level.rawValue, "label": label, "message": message,
            "metadata": metadata.mapValues(Self.json),
        ]
        // Every value is a string, array or object of those, which JSONSerialization always encodes.
        var data = (try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }
}
