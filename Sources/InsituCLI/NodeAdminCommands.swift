import ArgumentParser
import Foundation
import InsituAPI

/// `insitu node drain NODE [--disable]` (Nomad's `node drain -enable/-disable`).
struct NodeDrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Stop placing new work on a node; what it runs finishes. --disable lifts the drain.")
    @Argument(help: "Node ID or name.") var node: String
    @Flag(help: "Lift the drain: the node takes new work again.") var disable = false
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let summary = try await options.client.drainNode(node, !disable)
        try Output.print(summary, format: options.output) {
            disable
                ? "Node \(summary.name) (\(summary.id)) takes new work again.\n"
                : "Node \(summary.name) (\(summary.id)) is draining: no new work; its \(summary.activeExecutions) active execution(s) finish.\n"
        }
    }
}

/// `insitu node delete NODE` (kubectl's `delete node`): for a node that will not come back.
struct NodeDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Forget a node that is away for good: its unfinished work is lost now and retried elsewhere per each job's policy.")
    @Argument(help: "Node ID or name.") var node: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let deleted = try await options.client.deleteNode(node)
        try Output.print(deleted, format: options.output) {
            "Node \(deleted.nodeID) deleted; \(deleted.lostExecutions) unfinished execution(s) lost with it "
                + "(retried elsewhere where their jobs' nodeLoss and retry allow). If its agent starts again it registers anew; "
                + "revoke its identity (insitu node revoke) to keep it out.\n"
        }
    }
}
