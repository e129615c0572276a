import Foundation
import InsituAPI
import Testing

/// Issue 9, item 1: contexts in `~/.config/insitu/config.yaml` besides `--api`/`INSITU_API`,
/// listed and switched like kubectl's, and picked per command with `--context`/`INSITU_CONTEXT`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ContextTests {
    @Test func contextsAreListedSwitchedAndPickedPerCommand() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let nowhere = "http://127.0.0.1:\(try ServeTests().freePort())"
        let ca = try String(contentsOfFile: try #require(e2e.cluster.caPath), encoding: .utf8)
        let config = """
            current-context: other
            contexts:
              good: {api: "\(e2e.cluster.apiURL)", token: "\(try #require(e2e.cluster.adminToken))", ca-certificate: \(try Self.yamlString(ca))}
              other: {api: "\(nowhere)"}

            """
        let path = e2e.root + "/cli-config.yaml"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(config.utf8), attributes: [.posixPermissions: 0o600]))
        // Nothing from the environment: the config file alone decides.
        let bare: [String: String?] = ["INSITU_API": nil, "INSITU_TOKEN": nil, "INSITU_CA_CERT": nil]

        let listed = try e2e.cli(["context", "list", "-o", "json"], environment: bare)
        #expect(listed.status == 0, "\(listed.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["good", "other"])
        #expect(rows.map { $0["current"] as? Bool } == [false, true])

        let current = try e2e.cli(["job", "list"], environment: bare)
        #expect(current.status == 1 && current.stderr.contains("nothing is listening at \(nowhere)"), "\(current.stderr)")
        let byFlag = try e2e.cli(["job", "list", "--context", "good"], environment: bare)
        #expect(byFlag.status == 0, "\(byFlag.stderr)")
        // `job logs` has its own connection flags; --context is among them.
        let logs = try e2e.cli(["job", "logs", "j-none", "--context", "good"], environment: bare)
        #expect(logs.status == 1 && logs.stderr.contains("does not exist"), "reached the orchestrator: \(logs.stderr)")
        var byVariable = bare
        byVariable["INSITU_CONTEXT"] = "good"
        #expect(try e2e.cli(["job", "list"], environment: byVariable).status == 0)
        // A named context outranks the environment: its token never goes to $INSITU_API's server.
        var misleading = bare
        misleading["INSITU_API"] = nowhere
        misleading["INSITU_TOKEN"] = "insitu_not-this-one"
        let named = try e2e.cli(["job", "list", "--context", "good"], environment: misleading)
        #expect(named.status == 0, "\(named.stderr)")

        let unknown = try e2e.cli(["job", "list", "--context", "nope"], environment: bare)
        #expect(unknown.status == 1 && unknown.stderr.contains("no context nope") && unknown.stderr.contains("contexts: good, other"), "\(unknown.stderr)")

        #expect(try e2e.cli(["context", "use", "good"], environment: bare).status == 0)
        #expect(try e2e.cli(["job", "list"], environment: bare).status == 0, "the current context is now good")
        #expect(try e2e.cli(["context", "delete", "other"], environment: bare).status == 0)
        let after = try e2e.cli(["context", "list"], environment: bare)
        #expect(after.stdout.contains("good") && !after.stdout.contains("other"), "\(after.stdout)")
    }

    /// A YAML double-quoted scalar holding `text` (a PEM has newlines).
    static func yamlString(_ text: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return String(decoding: try encoder.encode(text), as: UTF8.self)
    }
}
