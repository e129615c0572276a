import ArgumentParser
import Foundation
import Yams

/// `insitu orchestrator --config FILE`: every orchestrator flag as a YAML key, checked strictly
/// (an unknown key or a value of the wrong type is an error naming the file and the key's path),
/// with flags on the command line overriding the file.
///
/// The file is read into the flags it stands for, so its values meet exactly the checks the
/// flags meet (`ServerOptions.validate()`), and the command line follows them (the last value of
/// a flag wins; a list flag given on the command line replaces the file's list).
enum OrchestratorConfigFile {
    enum Kind: Equatable {
        case string, integer, seconds, boolean, duration, strings
        /// The value's type, as the error message names it.
        var expected: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .seconds: "a number of seconds"
            case .boolean: "true or false"
            case .duration: "a duration string such as 30s, 10m or 1h"
            case .strings: "a list of strings"
            }
        }
    }

    struct Key {
        var path: String
        var flag: String
        var kind: Kind
    }

    /// Each key, the flag it sets and its type; defaults are the flags' (docs/OPERATIONS.md).
    static let keys: [Key] = [
        Key(path: "host", flag: "--host", kind: .string),
        Key(path: "port", flag: "--port", kind: .integer),
        Key(path: "data_dir", flag: "--data-dir", kind: .string),
        Key(path: "log_level", flag: "--log-level", kind: .string),
        Key(path: "log_format", flag: "--log-format", kind: .string),
        Key(path: "metrics_listen", flag: "--metrics-listen", kind: .string),
        Key(path: "heartbeat_interval", flag: "--heartbeat-interval", kind: .seconds),
        Key(path: "dev", flag: "--dev", kind: .boolean),
        Key(path: "init", flag: "--init", kind: .boolean),
        Key(path: "tls.cert", flag: "--tls-cert", kind: .string),
        Key(path: "tls.key", flag: "--tls-key", kind: .string),
        Key(path: "tls.names", flag: "--tls-name", kind: .strings),
        Key(path: "max_connections", flag: "--max-connections", kind: .integer),
        Key(path: "request_head_timeout", flag: "--request-head-timeout", kind: .seconds),
        Key(path: "idle_timeout", flag: "--idle-timeout", kind: .seconds),
        Key(path: "default_timeout", flag: "--default-timeout", kind: .duration),
        Key(path: "default_queue_timeout", flag: "--default-queue-timeout", kind: .duration),
        Key(path: "node_lost_after", flag: "--node-lost-after", kind: .duration),
    ]

    struct Invalid: Error, CustomStringConvertible {
        var file: String
        var problems: [String]
        var description: String { problems.map { "\(file): \($0)" }.joined(separator: "\n") }
    }

    /// The options `commandLine` (the orchestrator's arguments, without `--config`) and the file
    /// at `path` give together.
    static func options(file path: String, commandLine: [String]) throws -> ServerOptions {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(file: path, problems: ["cannot read the file; check the path given to --config"])
        }
        var fileArguments = try arguments(yaml: String(decoding: data, as: UTF8.self), file: path)
        // Checked alone first, so a bad value in the file is reported as the file's.
        do {
            _ = try ServerOptions.parse(fileArguments)
        } catch {
            throw Invalid(file: path, problems: [keyNames(in: ServerOptions.message(for: error))])
        }
        for key in keys where key.kind == .strings && commandLine.contains(where: { $0 == key.flag || $0.hasPrefix(key.flag + "=") }) {
            fileArguments = removing(key.flag, from: fileArguments)
        }
        return try ServerOptions.parse(fileArguments + commandLine)
    }

    /// The flags the file's settings stand for; every problem in the file at once.
    static func arguments(yaml text: String, file: String) throws -> [String] {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw Invalid(file: file, problems: ["not valid YAML: \(error)"])
        }
        guard let loaded else { return [] }
        guard let root = loaded as? [String: Any] else {
            throw Invalid(file: file, problems: ["expected a mapping of settings, like `port: 4646`"])
        }
        var problems: [String] = []
        var arguments: [String] = []
        let byPath = Dictionary(uniqueKeysWithValues: keys.map { ($0.path, $0) })
        func visit(_ mapping: [String: Any], prefix: String) {
            for (name, value) in mapping.sorted(by: { $0.key < $1.key }) {
                let path = prefix + name
                if let key = byPath[path] {
                    if let values = flagValues(value, kind: key.kind) {
                        arguments += key.kind == .boolean ? (values == ["true"] ? [key.flag] : []) : values.flatMap { [key.flag, $0] }
                    } else {
                        problems.append("\(path): expected \(key.kind.expected)")
                    }
                } else if keys.contains(where: { $0.path.hasPrefix(path + ".") }) {
                    if let section = value as? [String: Any] {
                        visit(section, prefix: path + ".")
                    } else {
                        problems.append("\(path): expected a mapping with \(keys.map(\.path).filter { $0.hasPrefix(path + ".") }.joined(separator: ", "))")
                    }
                } else {
                    let allowed = keys.map(\.path).filter { $0.hasPrefix(prefix) }.joined(separator: ", ")
                    problems.append("\(path): unknown key (allowed: \(allowed))")
                }
            }
        }
        visit(root, prefix: "")
        guard problems.isEmpty else { throw Invalid(file: file, problems: problems) }
        return arguments
    }

    /// The value as flag arguments, or nil when it is not of `kind`.
    static func flagValues(_ value: Any, kind: Kind) -> [String]? {
        switch kind {
        case .string, .duration:
            return (value as? String).map { [$0] }
        case .integer:
            return (value as? Int).map { [String($0)] }
        case .seconds:
            if let whole = value as? Int { return [String(whole)] }
            return (value as? Double).map { [String($0)] }
        case .boolean:
            return (value as? Bool).map { [String($0)] }
        case .strings:
            guard let list = value as? [Any] else { return nil }
            let strings = list.compactMap { $0 as? String }
            return strings.count == list.count ? strings : nil
        }
    }

    /// `arguments` without `flag` and its values.
    static func removing(_ flag: String, from arguments: [String]) -> [String] {
        var kept: [String] = []
        var index = 0
        while index < arguments.count {
            if arguments[index] == flag { index += 2 } else {
                kept.append(arguments[index])
                index += 1
            }
        }
        return kept
    }

    /// A flag check's message with the flags named as the file's keys.
    static func keyNames(in message: String) -> String {
        keys.sorted { $0.flag.count > $1.flag.count }.reduce(message) { text, key in text.replacingOccurrences(of: key.flag, with: key.path) }
    }

    /// The orchestrator's own arguments as given on the command line (everything after the
    /// `orchestrator` subcommand), without `--config` and its value.
    static func commandLineArguments(_ all: [String] = CommandLine.arguments) -> [String] {
        var rest = Array(all.drop(while: { $0 != "orchestrator" }).dropFirst())
        if let index = rest.firstIndex(of: "--config") {
            rest.removeSubrange(index..<min(index + 2, rest.count))
        }
        rest.removeAll { $0.hasPrefix("--config=") }
        return rest
    }
}
