import ArgumentParser
import Foundation

/// `insitu context`: the named contexts of the CLI's config file (kubectl's `config
/// get-contexts` / `use-context`). `insitu login` creates them; `--context NAME` or
/// `$INSITU_CONTEXT` picks one for a single command.
struct ContextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "context", abstract: "List, switch and delete the contexts `insitu login` stored.",
        subcommands: [List.self, Use.self, Delete.self])

    struct Row: Encodable {
        var name: String
        var current: Bool
        var api: String
        var token: Bool
        var caCertificate: Bool
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the contexts; * marks the current one.")
        @Option(name: [.short, .long], help: "Output format: table, json or yaml.") var output: OutputFormat = .table

        func run() async throws {
            let file = try ContextFile.load()
            let rows = file.contexts.keys.sorted().compactMap { name in
                file.contexts[name].map {
                    Row(name: name, current: name == file.currentContext, api: $0.api, token: $0.token != nil, caCertificate: $0.caCertificate != nil)
                }
            }
            try Output.print(rows, format: output) {
                guard !rows.isEmpty else { return "No contexts in \(ContextFile.path): create one with `insitu login --api URL`.\n" }
                return Output.table(
                    ["CURRENT", "NAME", "API", "TOKEN", "CA"],
                    rows.map { [$0.current ? "*" : "", $0.name, $0.api, $0.token ? "stored" : "none", $0.caCertificate ? "stored" : "system"] })
            }
        }
    }

    struct Use: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a context the current one.")
        @Argument(help: "The context's name.") var name: String

        func run() async throws {
            var file = try ContextFile.load()
            _ = try file.context(named: name)
            file.currentContext = name
            try file.save()
            print("Switched to context \(name) (\(file.contexts[name]?.api ?? "")).")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a context and its token.")
        @Argument(help: "The context's name.") var name: String

        func run() async throws {
            var file = try ContextFile.load()
            _ = try file.context(named: name)
            file.contexts[name] = nil
            if file.currentContext == name { file.currentContext = nil }
            try file.save()
            print("Deleted context \(name) from \(ContextFile.path).")
        }
    }
}

extension ContextFile {
    /// The context called `name`, or an error that lists the ones there are.
    func context(named name: String) throws(CLIFailure) -> Context {
        guard let context = contexts[name] else {
            let known = contexts.keys.sorted()
            throw CLIFailure(
                "no context \(name) in \(ContextFile.path)"
                    + (known.isEmpty ? "; create one with `insitu login --api URL --context \(name)`" : "; contexts: \(known.joined(separator: ", "))"))
        }
        return context
    }
}
