import ArgumentParser
import Foundation
import InsituAPI

/// `insitu version`: this client's version and, when it answers, the orchestrator's.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Show the client's version and the orchestrator's (when it answers).")
    @OptionGroup var options: ClientOptions

    struct Versions: Codable {
        var client: String
        var server: String?
        var serverError: String?
    }

    func run() async throws {
        var versions = Versions(client: InsituBuild.version)
        do {
            versions.server = try await options.client.health()["version"] ?? "unknown (an orchestrator older than 0.1.0)"
        } catch {
            versions.serverError = "\(error)"
        }
        try Output.print(versions, format: options.output) {
            "Client: \(versions.client)\nServer: \(versions.server ?? "not reachable (\(versions.serverError ?? ""))")\n"
        }
    }
}

/// `insitu completion bash|zsh|fish`: the shell completion script, to source or install.
struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion",
        abstract: "Print a shell completion script.",
        discussion: """
            bash: insitu completion bash > /etc/bash_completion.d/insitu
            zsh:  insitu completion zsh > "${fpath[1]}/_insitu"
            fish: insitu completion fish > ~/.config/fish/completions/insitu.fish
            """)

    enum Shell: String, ExpressibleByArgument, CaseIterable {
        case bash, zsh, fish
    }

    @Argument(help: "The shell: bash, zsh or fish.") var shell: Shell

    func run() throws {
        let kind: CompletionShell =
            switch shell {
            case .bash: .bash
            case .zsh: .zsh
            case .fish: .fish
            }
        print(Insitu.completionScript(for: kind))
    }
}
