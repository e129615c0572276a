import ArgumentParser
import Foundation
import InsituClient

/// `insitu login`: checks a token against an orchestrator and keeps both in a context of the
/// CLI's config file, so later commands need neither `--api` nor `--token`.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Store an orchestrator address and token in a context of ~/.config/insitu/config.yaml (mode 0600).")
    @Option(help: "Orchestrator API address.") var api: String
    @Option(help: "Name of the context to create or replace.") var context = "default"
    @Option(help: "The token (default: $INSITU_TOKEN, else one line read from stdin, which keeps it out of the process list).")
    var token: String?
    @Option(help: "PEM file of the cluster CA (the orchestrator prints its path at start); stored in the context.")
    var caCert: String?

    func run() async throws {
        var secret = resolvedToken(token)
        if secret == nil {
            secret = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
        }
        guard let secret, !secret.isEmpty else {
            throw CLIFailure("no token given: pass --token, set INSITU_TOKEN or write it to stdin")
        }
        let caPEM = try caCert.map { path in
            do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw CLIFailure("cannot read the CA certificate \(path): \(error.localizedDescription)")
            }
        }
        // Refuse a token (or a certificate) the orchestrator does not take now rather than store it.
        let caller = try await InsituClient(baseURL: api, token: secret, caCertificatePEM: caPEM).whoami()
        var file = try ContextFile.load()
        file.contexts[context] = .init(api: InsituClient(baseURL: api).baseURL, token: secret, caCertificate: caPEM)
        file.currentContext = context
        try file.save()
        print("Logged in to \(api) as \(caller.tokenName ?? caller.kind) (token \(caller.tokenID ?? "-"), namespace \(caller.namespace)); "
            + "context \(context) saved in \(ContextFile.path)")
    }
}

struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout", abstract: "Forget the token of a context (the current one by default).")
    @Option(help: "Context to log out of.") var context: String?

    func run() async throws {
        var file = try ContextFile.load()
        guard let name = context ?? file.currentContext, file.contexts[name] != nil else {
            throw CLIFailure("no such context\(context.map { " \($0)" } ?? ""); contexts: \(file.contexts.keys.sorted().joined(separator: ", "))")
        }
        file.contexts[name]?.token = nil
        try file.save()
        print("Token of context \(name) removed from \(ContextFile.path).")
    }
}
