import ArgumentParser
import Foundation
import InsituAPI
import InsituSpec

/// `insitu token create|list|revoke`: API tokens, managed by a token with `token:admin`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke API tokens.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token; its secret is printed once and stored nowhere in clear.")
        @Option(help: "A label for people, such as ci-pipeline or alice.") var name: String
        @Option(help: "The namespace the token acts in (* for every namespace).") var namespace = "default"
        @Option(help: "Comma-separated scopes: job:submit, job:read, node:read, node:admin, token:admin, audit:read (* for all).")
        var scopes: String
        @Option(help: "Lifetime as a duration (24h, 30d is 720h), or 'never'.") var ttl = "720h"
        @OptionGroup var options: ClientOptions

        func validate() throws {
            if ttl != "never" {
                guard let millis = SpecValues.parseDuration(ttl), millis >= 1000 else {
                    throw ValidationError("--ttl \(ttl) is not a duration of at least 1s (such as 24h or 720h) or 'never'")
                }
            }
        }

        func run() async throws {
            let ttlSeconds: Int64 = ttl == "never" ? 0 : (SpecValues.parseDuration(ttl) ?? 0) / 1000
            let scopeList = scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let created = try await options.client.createToken(
                CreateTokenRequest(name: name, namespace: namespace, scopes: scopeList, ttlSeconds: ttlSeconds))
            try Output.print(created, format: options.output) {
                """
                Token \(created.info.id) (\(created.info.name)) in namespace \(created.info.namespace): \(created.info.scopes.joined(separator: ", "))
                Expires: \(created.info.expiresAt.map(Output.time) ?? "never")
                Store it now; it is not shown again:
                \(created.token)

                """
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let tokens = try await options.client.tokens()
            try Output.print(tokens, format: options.output) {
                Output.table(
                    ["ID", "NAME", "NAMESPACE", "STATE", "EXPIRES", "SCOPES"],
                    tokens.map { [$0.id, $0.name, $0.namespace, $0.state.rawValue, $0.expiresAt.map(Output.time) ?? "never", $0.scopes.joined(separator: ",")] })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: every later request with it is refused.")
        @Argument(help: "Token ID (the 16 hex digits after insitu_).") var id: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let info = try await options.client.revokeToken(id)
            try Output.print(info, format: options.output) { "Token \(info.id) (\(info.name)) revoked.\n" }
        }
    }
}
