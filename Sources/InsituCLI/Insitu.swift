public import ArgumentParser
import Foundation
import InsituClient
import InsituAPI

/// The `insitu` command: server roles and a Nomad/Bacalhau-style client.
public struct Insitu: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "insitu",
        abstract: "Insitu: send computation to where the data lives.",
        version: InsituVersion.current,
        subcommands: [
            OrchestratorCommand.self, AgentCommand.self, ServeCommand.self, JobCommand.self, NodeCommand.self,
            TokenCommand.self, LoginCommand.self, LogoutCommand.self, DemoCommand.self, AuditCommand.self, VersionCommand.self,
            CompletionCommand.self, ContextCommand.self,
        ]
    )
    public init() {}
}

public enum InsituVersion {
    public static let current = InsituBuild.version
}

/// Options every client command shares.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Orchestrator API address (default: $INSITU_API, the current context of `insitu login`, or http://127.0.0.1:4646).")
    var api: String?

    @Option(name: [.short, .long], help: "Output format: table, wide (a table with more columns), json or yaml.")
    var output: OutputFormat = .table

    @Option(name: .long, help: "API token (default: $INSITU_TOKEN). Not needed against an orchestrator started with --dev.")
    var token: String?

    @Option(name: .long, help: "PEM file of the CA to trust for https (default: $INSITU_CA_CERT or the current context's).")
    var caCert: String?

    @Option(name: .long, help: "Use this context of `insitu login` instead of the current one (default: $INSITU_CONTEXT).")
    var context: String?

    var client: InsituClient {
        get throws { try makeClient(api: api, token: token, caCert: caCert, context: context) }
    }
}

/// The client a command uses.
///
/// Without a named context: the address is `--api`, else `$INSITU_API`, else the current context
/// of `insitu login`, else the local default; the token `--token`, else `$INSITU_TOKEN`, else the
/// context's token, and that only when the address is the context's own (a token is never sent to
/// an orchestrator other than the one it was stored for); the CA likewise.
///
/// With a context named by `--context` or `$INSITU_CONTEXT`, that context decides and only flags
/// override it: `$INSITU_API`, `$INSITU_TOKEN` and `$INSITU_CA_CERT` are ignored, so a token meant
/// for one cluster never follows a request to the cluster the user named.
func makeClient(api: String?, token: String?, caCert: String? = nil, context named: String? = nil) throws -> InsituClient {
    let environment = ProcessInfo.processInfo.environment
    let contextName = (named ?? environment["INSITU_CONTEXT"]).flatMap { $0.isEmpty ? nil : $0 }
    let explicitAddress: String?
    let explicitToken: String?
    let explicitCA: String?
    let context: ContextFile.Context?
    if let contextName {
        context = try ContextFile.load().context(named: contextName)
        explicitAddress = api
        explicitToken = token.flatMap { $0.isEmpty ? nil : $0 }
        explicitCA = caCert.flatMap { $0.isEmpty ? nil : $0 }
    } else {
        explicitAddress = api ?? environment["INSITU_API"]
        explicitToken = resolvedToken(token)
        explicitCA = (caCert ?? environment["INSITU_CA_CERT"]).flatMap { $0.isEmpty ? nil : $0 }
        context = explicitAddress != nil && explicitToken != nil && explicitCA != nil ? nil : try ContextFile.load().current
    }
    let address = explicitAddress ?? context?.api ?? "http://127.0.0.1:4646"
    let sameServer = context.map { InsituClient(baseURL: $0.api).baseURL == InsituClient(baseURL: address).baseURL } ?? false
    let caPEM: String?
    if let explicitCA {
        do {
            caPEM = try String(contentsOfFile: explicitCA, encoding: .utf8)
        } catch {
            throw CLIFailure("cannot read the CA certificate \(explicitCA): \(error.localizedDescription)")
        }
    } else {
        caPEM = sameServer ? context?.caCertificate : nil
    }
    return try InsituClient(baseURL: address, token: explicitToken ?? (sameServer ? context?.token : nil), caCertificatePEM: caPEM)
}

/// `--token`, else `$INSITU_TOKEN`, else none; an empty value counts as none.
func resolvedToken(_ option: String?) -> String? {
    let value = option ?? ProcessInfo.processInfo.environment["INSITU_TOKEN"]
    return value?.isEmpty == false ? value : nil
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, wide, json, yaml

    /// For people (a table), not scripts.
    var isTable: Bool { self == .table || self == .wide }
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
