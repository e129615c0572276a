@testable import InsituAgent
import Foundation
import Testing

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
}
