import Crypto
import Foundation
@testable import InsituAgent
import InsituModel
import InsituPolicy
import Testing

/// The `policy:` section of a node config: what it means, and that anything malformed is an
/// error with its path rather than a rule silently dropped.
@Suite struct PolicyConfigTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-policy-config-\(UUID().uuidString)").path

    func parse(_ policy: String) throws -> AgentConfig {
        try FileManager.default.createDirectory(atPath: directory + "/patients", withIntermediateDirectories: true)
        let text = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\ndatasets: [{name: patients, path: \(directory)/patients}]\n"
        return try AgentConfig.parse(text + policy, file: "a.yaml", baseDirectory: "/tmp")
    }

    func problems(_ policy: String) -> [String] {
        do {
            _ = try parse(policy)
            return []
        } catch let invalid as AgentConfig.Invalid {
            return invalid.problems
        } catch {
            return ["\(error)"]
        }
    }

    @Test func aFullPolicyIsReadAsWritten() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = ModuleSignature.text(of: Curve25519.Signing.PrivateKey().publicKey)
        let module = String(repeating: "c", count: 64)
        let config = try parse(
            """
            policy:
              engines: [wasm, sql]
              datasets:
                patients:
                  namespaces: [clinical, audit]
                  modules: ["sha256:\(module)"]
                  trusted_keys: ["\(key)"]
              output: {max_bytes: 1Mi, stdout: false, stderr: true}
              module_hosts: [modules.example.org]
            """)
        let policy = config.policy
        #expect(policy.engines == [.sql, .wasm])
        #expect(policy.datasets["patients"] == .init(namespaces: ["audit", "clinical"], modules: [ContentDigest(rawValue: module)!], trustedKeys: [key]))
        #expect(policy.output == .init(maxBytes: 1 << 20, stdout: false, stderr: true))
        #expect(policy.moduleHosts == ["modules.example.org"])
        #expect(config.moduleAllowedHosts == ["modules.example.org"], "the fetcher uses the policy's hosts")
    }

    @Test func noPolicyAllowsEverything() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try parse("").policy.isOpen)
    }

    @Test func mistakesAreProblemsWithTheirPaths() {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cases: [(String, String)] = [
            ("policy: {engine: [wasm]}", "policy: unknown key \"engine\""),
            ("policy: {engines: wasm}", "policy.engines: write a list"),
            ("policy: {engines: [wasm, python]}", "policy.engines: \"python\" is not an engine"),
            ("policy: {datasets: {patiens: {namespaces: [a]}}}", "policy.datasets.patiens: no dataset \"patiens\" is declared"),
            ("policy: {datasets: {patients: {namespace: [a]}}}", "policy.datasets.patients: unknown key \"namespace\""),
            ("policy: {datasets: {patients: {namespaces: [Clinical]}}}", "policy.datasets.patients.namespaces: \"Clinical\""),
            ("policy: {datasets: {patients: {modules: [sha256:abc]}}}", "policy.datasets.patients.modules: \"sha256:abc\" is not a module digest"),
            ("policy: {datasets: {patients: {trusted_keys: [\"ed25519:AAAA\"]}}}", "policy.datasets.patients.trusted_keys: \"ed25519:AAAA\" is not a public key"),
            ("policy: {output: {max_bytes: lots}}", "policy.output.max_bytes: \"lots\" is not a positive size"),
            ("policy: {output: {stdout: no-thanks}}", "policy.output.stdout: \"no-thanks\" must be true or false"),
            ("policy: {output: {maxBytes: 10}}", "policy.output: unknown key \"maxBytes\""),
            ("policy: {module_hosts: [\"http://x/\"]}", "policy.module_hosts: \"http://x/\" is not a host name"),
            ("policy: {module_hosts: [a.org]}\nmodules: {allowed_hosts: [b.org]}", "modules.allowed_hosts: give the module hosts once"),
            ("policy: [wasm]", "policy: write a mapping"),
        ]
        for (text, expected) in cases {
            let found = problems(text)
            #expect(found.contains { $0.hasPrefix(expected) }, "\(text) → \(found)")
        }
    }

    @Test func theDigestDoesNotDependOnHowTheConfigIsOrdered() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try parse("policy: {engines: [wasm, sql], output: {stdout: false}, datasets: {patients: {namespaces: [b, a]}}}").policy
        let second = try parse("policy: {datasets: {patients: {namespaces: [a, b]}}, output: {stdout: false}, engines: [sql, wasm]}").policy
        let third = try parse("policy: {datasets: {patients: {namespaces: [a]}}, output: {stdout: false}, engines: [sql, wasm]}").policy
        #expect(first.digest == second.digest)
        #expect(first.digest != third.digest)
    }
}
