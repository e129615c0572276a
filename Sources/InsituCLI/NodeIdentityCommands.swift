import ArgumentParser
import Foundation
import InsituAPI
import InsituSpec

/// `insitu node join-token ...`: the tokens nodes join with (scope node:admin).
struct JoinTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join-token", abstract: "Create, list and revoke the tokens nodes join the cluster with.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a join token; its secret is printed once. Put it in the node's config as join_token (or join_token_file).")
        @Option(help: "A label for people, such as factory-berlin.") var name: String
        @Option(help: "How many nodes may join with it.") var uses = 1
        @Option(help: "How long it may be used, as a duration (at most 720h).") var ttl = "1h"
        @Option(name: .customLong("label"), help: "A label pinned on every node that joins with it, as KEY=VALUE (repeatable).")
        var labels: [String] = []
        @Flag(help: "Each node waits for 'insitu node approve' before it gets its certificate.") var manualApproval = false
        @OptionGroup var options: ClientOptions

        func validate() throws {
            guard let millis = SpecValues.parseDuration(ttl), millis >= 1000 else {
                throw ValidationError("--ttl \(ttl) is not a duration of at least 1s, such as 1h or 24h")
            }
            guard uses >= 1 else { throw ValidationError("--uses \(uses): a join token admits at least one node") }
            for label in labels where !label.contains("=") {
                throw ValidationError("--label \(label): expected KEY=VALUE")
            }
        }

        func run() async throws {
            var pinned: [String: String] = [:]
            for label in labels {
                let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
                pinned[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            let created = try await options.client.createJoinToken(
                CreateJoinTokenRequest(
                    name: name, uses: uses, ttlSeconds: (SpecValues.parseDuration(ttl) ?? 0) / 1000, labels: pinned,
                    manualApproval: manualApproval))
            try Output.print(created, format: options.output) {
                """
                Join token \(created.info.id) (\(created.info.name)): \(created.info.maxUses) node\(created.info.maxUses == 1 ? "" : "s"), \
                expires \(Output.time(created.info.expiresAt))\(created.info.manualApproval ? ", each node needs approval" : "")
                Store it now; it is not shown again:
                \(created.token)

                """
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List join tokens (never their secrets).")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let tokens = try await options.client.joinTokens()
            try Output.print(tokens, format: options.output) {
                Output.table(
                    ["ID", "NAME", "STATE", "USES", "EXPIRES", "APPROVAL", "LABELS"],
                    tokens.map {
                        [
                            $0.id, $0.name, $0.state.rawValue, "\($0.uses)/\($0.maxUses)", Output.time($0.expiresAt),
                            $0.manualApproval ? "manual" : "auto", $0.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                        ]
                    })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a join token: no further node joins with it.")
        @Argument(help: "Join token ID (the 16 hex digits after insitu_join_).") var id: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let info = try await options.client.revokeJoinToken(id)
            try Output.print(info, format: options.output) { "Join token \(info.id) (\(info.name)) revoked.\n" }
        }
    }
}

/// `insitu node identities|approve|reject|revoke`: who may connect as a node.
struct NodeIdentitiesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identities", abstract: "List node identities: pending requests, approved, rejected and revoked nodes.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let identities = try await options.client.nodeIdentities()
        try Output.print(identities, format: options.output) {
            Output.table(
                ["ID", "NAME", "STATE", "JOIN TOKEN", "REQUESTED", "CERTIFICATE EXPIRES"],
                identities.map {
                    [$0.nodeID.rawValue, $0.name, $0.state, $0.joinTokenID, Output.time($0.requestedAt), $0.certificateExpiresAt.map(Output.time) ?? "-"]
                })
        }
    }
}

/// One administrator decision on a node identity.
protocol NodeDecisionCommand: AsyncParsableCommand {
    static var decision: String { get }
    var id: String { get }
    var options: ClientOptions { get }
}

extension NodeDecisionCommand {
    func run() async throws {
        let info = try await options.client.decideNode(id, Self.decision)
        try Output.print(info, format: options.output) { "Node \(info.nodeID) (\(info.name)) is \(info.state).\n" }
    }
}

struct NodeApproveCommand: NodeDecisionCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a node waiting to join; it gets its certificate when it next asks.")
    static let decision = "approve"
    @Argument(help: "Node ID (insitu node identities).") var id: String
    @OptionGroup var options: ClientOptions
}

struct NodeRejectCommand: NodeDecisionCommand {
    static let configuration = CommandConfiguration(commandName: "reject", abstract: "Reject a node waiting to join.")
    static let decision = "reject"
    @Argument(help: "Node ID (insitu node identities).") var id: String
    @OptionGroup var options: ClientOptions
}

struct NodeRevokeCommand: NodeDecisionCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a node: its link is cut now and its certificate refused from then on.")
    static let decision = "revoke"
    @Argument(help: "Node ID.") var id: String
    @OptionGroup var options: ClientOptions
}
