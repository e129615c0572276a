import ArgumentParser
import InsituAPI
import InsituModel

/// A job's log entries (chunks as the node sent them) cut into lines, per execution and stream,
/// for output that prefixes, filters or counts lines (`job logs` with attribution, `--tail`,
/// `--since`, `--timestamps`, `-o json`). A line's time is when its first chunk arrived.
struct LogLineSplitter {
    struct Line: Equatable {
        var executionID: ExecutionID
        var stream: String
        var at: Timestamp
        /// Without its newline.
        var text: String
        /// False for the last line of a stream that ended without a newline.
        var terminated: Bool
    }

    private struct Key: Hashable {
        var execution: ExecutionID
        var stream: String
    }

    private var partial: [Key: (at: Timestamp, text: String)] = [:]
    private var order: [Key] = []

    /// The lines `entry` completes; a trailing unfinished line waits for the next chunk.
    mutating func feed(_ entry: LogRecord) -> [Line] {
        let key = Key(execution: entry.executionID, stream: entry.stream)
        var pending = partial.removeValue(forKey: key)
        order.removeAll { $0 == key }
        var lines: [Line] = []
        var rest = Substring(entry.text)
        while let newline = rest.firstIndex(of: "\n") {
            lines.append(
                Line(
                    executionID: entry.executionID, stream: entry.stream, at: pending?.at ?? entry.at,
                    text: (pending?.text ?? "") + rest[..<newline], terminated: true))
            pending = nil
            rest = rest[rest.index(after: newline)...]
        }
        if let started = pending ?? (rest.isEmpty ? nil : (entry.at, "")) {
            partial[key] = (started.at, started.text + rest)
            order.append(key)
        }
        return lines
    }

    /// The unfinished lines, once no more output can come.
    mutating func flush() -> [Line] {
        defer {
            partial = [:]
            order = []
        }
        return order.compactMap { key in
            partial[key].map { Line(executionID: key.execution, stream: key.stream, at: $0.at, text: $0.text, terminated: false) }
        }
    }
}

/// Who wrote a log line, as `job logs` shows it when a job runs more than one execution: the
/// node's name and the partition, `lyon-1/0`, and the attempt after `#` from the second on
/// (`lyon-1/0#2`), as `docker compose logs` prefixes a service's replicas.
enum LogAttribution {
    /// Whether lines get a prefix: jobs that may run several executions at once (every ops job,
    /// batch jobs of more than one partition) and jobs that already ran more than one.
    static func prefixes(type: JobType, count: Int, executions: Int) -> Bool {
        type == .ops || count > 1 || executions > 1
    }

    static func label(nodeName: String, partition: Int, attempt: Int) -> String {
        "\(nodeName)/\(partition)" + (attempt > 1 ? "#\(attempt)" : "")
    }
}

/// The executions of a job as log output names them, from `GET /v1/jobs/{id}`.
struct LogSources {
    struct Source {
        var nodeID: String
        var nodeName: String
        var partition: Int
        var attempt: Int
        var label: String
    }

    private var sources: [ExecutionID: Source] = [:]
    /// Whether lines get a node/partition prefix (`LogAttribution.prefixes`).
    let prefixes: Bool
    let labelWidth: Int

    init(_ detail: JobDetail) {
        for execution in detail.executions {
            let name = detail.nodeNames?[execution.nodeID.rawValue] ?? execution.nodeID.rawValue
            sources[execution.id] = Source(
                nodeID: execution.nodeID.rawValue, nodeName: name, partition: execution.partition, attempt: execution.attempt,
                label: LogAttribution.label(nodeName: name, partition: execution.partition, attempt: execution.attempt))
        }
        prefixes = LogAttribution.prefixes(type: detail.job.spec.type, count: detail.job.spec.count, executions: detail.executions.count)
        labelWidth = sources.values.map(\.label.count).max() ?? 0
    }

    func knows(_ execution: ExecutionID) -> Bool { sources[execution] != nil }
    func source(of execution: ExecutionID) -> Source? { sources[execution] }
}

/// One line of `job logs -o json`. The time is RFC 3339; `partial` marks a last line that ended
/// without a newline.
struct LogLineRecord: Encodable {
    var time: String
    var execution: String
    var node: String?
    var nodeID: String?
    var partition: Int?
    var attempt: Int?
    var stream: String
    var text: String
    var partial: Bool?
}

enum LogOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
