public import ArgumentParser
import Foundation

/// The `insitu` command: server roles and a Nomad/Bacalhau-style client.
public struct Insitu: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "insitu",
        abstract: "Insitu: send computation to where the data lives.",
        version: InsituVersion.current,
        subcommands: [
            OrchestratorCommand.self, AgentCommand.self, ServeCommand.self, JobCommand.self, NodeCommand.self,
            DemoCommand.self, AuditCommand.self,
        ]
    )
    public init() {}
}

public enum InsituVersion {
    public static let current = "0.1.0"
}

/// Options every client command shares.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Orchestrator API address (default: $INSITU_API or http://127.0.0.1:4646).")
    var api: String?

    @Option(name: [.short, .long], help: "Output format: table, json or yaml.")
    var output: OutputFormat = .table

    var address: String {
        api ?? ProcessInfo.processInfo.environment["INSITU_API"] ?? "http://127.0.0.1:4646"
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

extension Insitu {
    /// Parses the command line and runs the chosen command asynchronously. (Calling `main()` from
    /// another module's top-level code resolves to the synchronous overload.)
    public static func runAsync() async {
        do {
            var command = try await asyncParseAsRoot(nil)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
