import Crypto
@testable import InsituAgent
import Foundation
import InsituPolicy
import Testing
import Yams

/// The node config is read strictly: a key this agent does not know or a value of the wrong
/// type anywhere in the file is an error naming its path, never silently ignored.
@Suite struct AgentConfigStrictnessTests {
    let base = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\n"

    func problems(_ extra: String, base: String? = nil) -> [String] {
        do {
            _ = try AgentConfig.parse((base ?? self.base) + extra, file: "node.yaml", baseDirectory: "/etc/insitu")
            return []
        } catch let invalid as AgentConfig.Invalid {
            return invalid.problems
        } catch {
            return ["\(error)"]
        }
    }

    @Test func unknownKeysInEverySectionAreErrorsWithTheirPath() {
        #expect(problems("engines:\n  wsam:\n    runtime: wasmkit\n").contains { $0.hasPrefix("engines: unknown key \"wsam\"") })
        #expect(problems("resources:\n  gpu: 1\n").contains { $0.hasPrefix("resources: unknown key \"gpu\"") })
        let dataset = FileManager.default.temporaryDirectory.path
        #expect(
            problems("datasets:\n  - name: d\n    path: \(dataset)\n    descripton: typo\n")
                .contains { $0.hasPrefix("datasets[0]: unknown key \"descripton\"") })
    }

    @Test func valuesOfTheWrongTypeAreErrorsWithTheirPath() {
        #expect(problems("", base: "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: [x]\n").contains("data_dir: expected a string"))
        #expect(problems("labels: [eu]\n").contains("labels: expected a mapping of label names to values"))
        #expect(problems("labels:\n  region: [eu]\n").contains("labels.region: expected a string"))
        #expect(problems("engines:\n  wasm:\n    isolation: 5\n").contains("engines.wasm.isolation: expected a string"))
        #expect(problems("engines: process\n").contains("engines: expected a mapping"))
        #expect(problems("connection: 10s\n").contains("connection: expected a mapping"))
        #expect(problems("datasets: patients\n").contains { $0.hasPrefix("datasets: expected a list") })
        #expect(
            problems("", base: "name: a\norchestrators: [http://127.0.0.1:1, 5]\ndata_dir: /tmp/x\n")
                .contains("orchestrators[1]: expected a URL string"))
    }

    @Test func metricsListenIsAnAddressOrAnError() throws {
        let config = try AgentConfig.parse(base + "metrics_listen: 127.0.0.1:9101\n", file: "node.yaml", baseDirectory: "/")
        #expect(config.metricsListen == ListenAddress("127.0.0.1:9101"))
        #expect(try AgentConfig.parse(base, file: "node.yaml", baseDirectory: "/").metricsListen == nil)
        #expect(problems("metrics_listen: 9101\n").contains("metrics_listen: expected a string"))
        #expect(problems("metrics_listen: localhost:99999\n").contains { $0.hasPrefix("metrics_listen: \"localhost:99999\" is not HOST:PORT") })
    }

    @Test func listenAddressesParse() {
        #expect(ListenAddress("[::1]:9100") == ListenAddress(host: "::1", port: 9100))
        #expect(ListenAddress("0.0.0.0:0")?.port == 0)
        for bad in ["9100", ":9100", "host:", "host:-1", "host:65536", "::1:9100", "[::1]9100", "a b:1"] {
            #expect(ListenAddress(bad) == nil, "\(bad)")
        }
    }

    /// The key paths a parsed config file holds, written as `AgentConfigShape.keyPaths` writes
    /// them (`datasets[].name`, `policy.datasets.<name>.modules`); labels are values, not keys.
    static func keyPaths(in value: Any, prefix: String = "") -> Set<String> {
        if prefix.hasSuffix("labels.") { return [String(prefix.dropLast())] }
        if let mapping = value as? [String: Any] {
            return mapping.reduce(into: Set<String>()) { paths, entry in
                let name = prefix == "policy.datasets." ? "<name>" : entry.key
                paths.formUnion(keyPaths(in: entry.value, prefix: prefix + name + "."))
            }
        }
        if let list = value as? [Any], prefix == "datasets." {
            return list.reduce(into: Set<String>()) { $0.formUnion(keyPaths(in: $1, prefix: "datasets[].")) }
        }
        return [String(prefix.dropLast())]
    }

    /// Every key the shape lists is one the parser accepts: two configs that together set each
    /// of them (two, because `join_token`/`join_token_file` and `policy.module_hosts`/
    /// `modules.allowed_hosts` are each one setting) parse without a problem.
    @Test func everyKnownKeyPathIsAccepted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-all-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/patients", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        FileManager.default.createFile(atPath: directory + "/join-token", contents: Data("insitu_join_x\n".utf8), attributes: [.posixPermissions: 0o600])
        let key = ModuleSignature.text(of: Curve25519.Signing.PrivateKey().publicKey)
        let first = """
            name: a
            orchestrator: https://127.0.0.1:1
            orchestrators: [https://127.0.0.1:2]
            orchestrator_ca: ca.crt
            join_token: insitu_join_x
            data_dir: /tmp/x
            metrics_listen: 127.0.0.1:0
            labels: {site: a}
            datasets:
              - {name: patients, path: \(directory)/patients, description: admissions, labels: {kind: csv}}
            resources: {cpu: 2, memory: 4Gi}
            engines:
              process: {enabled: false, sandbox: bubblewrap, user: "65534:65534", cgroup_parent: insitu, bwrap: /usr/bin/bwrap, system_paths: [/usr]}
              wasm: {isolation: process, runtime: wasmkit, wasmtime_library: /opt/libwasmtime.so}
              container: {socket: /run/podman/podman.sock, allowed_images: [docker.io/library/python:3.12], pids_limit: 256}
              sql: {enabled: true, max_rows: 10}
            limits: {outputs_disk: 1Gi}
            modules: {cross_host_redirects: false}
            connection: {handshake_timeout: 10s}
            identity: {renew_before: 240h}
            policy:
              engines: [wasm]
              datasets: {patients: {namespaces: [clinical], modules: ["sha256:\(String(repeating: "c", count: 64))"], trusted_keys: ["\(key)"]}}
              output: {max_bytes: 1Mi, stdout: true, stderr: true}
              module_hosts: [modules.example.org]
            """
        let second = "name: a\norchestrator: http://127.0.0.1:1\njoin_token_file: join-token\nmodules: {allowed_hosts: [modules.example.org]}\n"
        var covered: Set<String> = []
        for text in [first, second] {
            _ = try AgentConfig.parse(text, file: "node.yaml", baseDirectory: directory)
            covered.formUnion(Self.keyPaths(in: try #require(try Yams.load(yaml: text))))
        }
        #expect(covered == Set(AgentConfigShape.keyPaths), "set every key of AgentConfigShape.keyPaths here")
    }
}
