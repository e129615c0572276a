import ArgumentParser
import Foundation
@testable import InsituAgent
@testable import InsituCLI
import Testing

/// docs/OPERATIONS.md is the reference for every flag of the daemons, every key of the
/// orchestrator's config file and every key of the node config. These checks read the lists from
/// the code (ArgumentParser's own description of the commands, `OrchestratorConfigFile.keys`,
/// `AgentConfigShape.keyPaths`) and fail when the guide lacks one, lists one the code does not
/// know, or gives a flag another default than the code.
@Suite struct OperationsGuideTests {
    static let guidePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/OPERATIONS.md").path

    let guide: String

    init() throws {
        guide = try String(contentsOfFile: Self.guidePath, encoding: .utf8)
    }

    struct Flag: Equatable {
        var name: String
        var defaultValue: String?
    }

    /// The long flags of `command` with their defaults, from ArgumentParser's description of it
    /// (what `--experimental-dump-help` prints), without `--help` and `--version`.
    static func flags(of command: any ParsableCommand.Type) throws -> [Flag] {
        let dump = try #require(
            try JSONSerialization.jsonObject(with: Data(command._dumpHelp().utf8)) as? [String: Any], "the help dump is a JSON object")
        let info = try #require(dump["command"] as? [String: Any])
        let arguments = try #require(info["arguments"] as? [[String: Any]])
        return arguments.flatMap { argument -> [Flag] in
            let names = argument["names"] as? [[String: Any]] ?? []
            return names.compactMap { name in
                guard name["kind"] as? String == "long", let text = name["name"] as? String, !["help", "version"].contains(text) else {
                    return nil
                }
                return Flag(name: "--" + text, defaultValue: argument["defaultValue"] as? String)
            }
        }
    }

    /// The guide's text from the heading line `heading` to the next heading of the same or a
    /// higher level.
    func section(_ heading: String) throws -> String {
        let lines = guide.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex(of: heading), "docs/OPERATIONS.md has no heading \"\(heading)\"")
        let level = heading.prefix { $0 == "#" }.count
        let end = lines[(start + 1)...].firstIndex { line in
            let hashes = line.prefix { $0 == "#" }.count
            return hashes > 0 && hashes <= level && line.dropFirst(hashes).hasPrefix(" ")
        } ?? lines.endIndex
        return lines[start..<end].joined(separator: "\n")
    }

    /// The rows of the Markdown tables in `text`, split into trimmed cells (header and
    /// separator rows included).
    static func rows(in text: String) -> [[String]] {
        text.components(separatedBy: "\n").filter { $0.hasPrefix("|") }.map { line in
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    /// The code spans in `cell` (`` `host` `` → `host`).
    static func codeSpans(in cell: String) -> [String] {
        cell.split(separator: "`", omittingEmptySubsequences: false).enumerated().compactMap { $0.offset % 2 == 1 ? String($0.element) : nil }
    }

    /// "5.0" as the guide writes it: "5".
    static func written(_ value: String) -> String {
        value.hasSuffix(".0") ? String(value.dropLast(2)) : value
    }

    /// Each flag of each daemon has a row with its default: in the flag reference under its
    /// command's name, or, for the flags `orchestrator` and `serve` share (`ServerOptions`), in the
    /// config file's table, whose flag column the guide says both take.
    @Test func everyDaemonFlagIsDocumentedWithItsDefault() throws {
        let commands: [(name: String, command: any ParsableCommand.Type, sharesConfigTable: Bool)] = [
            ("orchestrator", OrchestratorCommand.self, true), ("serve", ServeCommand.self, true), ("agent", AgentCommand.self, false),
        ]
        let configRows = Self.rows(in: try section("### Configuration file")).filter { $0.count >= 4 && $0[0].hasPrefix("`") }
        let flagRows = Self.rows(in: try section("### Flag reference")).filter { $0.count >= 4 && $0[0].hasPrefix("`") }
        for (name, command, sharesConfigTable) in commands {
            let flags = try Self.flags(of: command)
            // Guards against an empty or changed dump making the check vacuous.
            #expect(flags.contains { $0.name == "--log-level" }, "the flags of insitu \(name) were not read")
            for flag in flags {
                let rows =
                    flagRows.filter { Self.codeSpans(in: $0[0]).first == name && Self.codeSpans(in: $0[1]).first == flag.name }
                    + (sharesConfigTable ? configRows.filter { Self.codeSpans(in: $0[1]).first == flag.name } : [])
                #expect(!rows.isEmpty, "docs/OPERATIONS.md has no row for `\(flag.name)` of insitu \(name)")
                guard let value = flag.defaultValue, !rows.isEmpty else { continue }
                #expect(
                    rows.contains { row in row.contains { Self.codeSpans(in: $0).contains(Self.written(value)) } },
                    "docs/OPERATIONS.md does not give `\(flag.name)` (insitu \(name)) its default `\(Self.written(value))`")
            }
            for row in flagRows where Self.codeSpans(in: row[0]).first == name {
                let documented = Self.codeSpans(in: row[1]).first ?? ""
                #expect(flags.contains { $0.name == documented }, "the flag reference lists `\(documented)`, which insitu \(name) does not take")
            }
        }
    }

    @Test func theOrchestratorConfigTableListsEveryKeyWithItsFlag() throws {
        let table = Self.rows(in: try section("### Configuration file")).filter { $0.count >= 4 && $0[0].hasPrefix("`") }
        let documented = table.map { Self.codeSpans(in: $0[0]).first ?? "" }
        for key in OrchestratorConfigFile.keys {
            let row = table.first { Self.codeSpans(in: $0[0]).first == key.path }
            #expect(row != nil, "the orchestrator config table in docs/OPERATIONS.md has no row for `\(key.path)`")
            if let row { #expect(Self.codeSpans(in: row[1]).first == key.flag, "`\(key.path)` sets \(key.flag), the guide says \(row[1])") }
        }
        for path in documented where !OrchestratorConfigFile.keys.contains(where: { $0.path == path }) {
            Issue.record("the orchestrator config table in docs/OPERATIONS.md lists `\(path)`, which the config file does not accept")
        }
    }

    @Test func theNodeConfigReferenceListsEveryKey() throws {
        let table = Self.rows(in: try section("## Node config reference")).filter { $0.count >= 4 && $0[0].hasPrefix("`") }
        let documented = table.map { Self.codeSpans(in: $0[0]).first ?? "" }
        #expect(AgentConfigShape.keyPaths.count > 30, "the node config's key paths were not read")
        for path in AgentConfigShape.keyPaths {
            #expect(documented.contains(path), "the node config reference in docs/OPERATIONS.md has no row for `\(path)`")
        }
        for path in documented where !AgentConfigShape.keyPaths.contains(path) {
            Issue.record("the node config reference in docs/OPERATIONS.md lists `\(path)`, which the node config does not accept")
        }
    }
}
