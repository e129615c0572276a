import ArgumentParser
import Foundation
import InsituAgent
@testable import InsituCLI
import Testing

/// `insitu orchestrator --config FILE`: every flag as a key, strict types and keys, flags win.
@Suite struct OrchestratorConfigFileTests {
    func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-config-\(UUID().uuidString).yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func problems(_ yaml: String) -> String {
        do {
            _ = try OrchestratorConfigFile.arguments(yaml: yaml, file: "config.yaml")
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func everyKeyBecomesItsFlag() throws {
        let path = try write(
            """
            host: 0.0.0.0
            port: 4747
            data_dir: /var/lib/insitu
            log_level: debug
            log_format: json
            metrics_listen: 127.0.0.1:9100
            heartbeat_interval: 2.5
            tls:
              names: [insitu.example.org, 10.0.0.5]
            max_connections: 64
            request_head_timeout: 5
            idle_timeout: 30
            default_timeout: 30m
            default_queue_timeout: 2h
            node_lost_after: 5m
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let options = try OrchestratorConfigFile.options(file: path, commandLine: [])
        #expect(options.host == "0.0.0.0" && options.port == 4747 && options.dataDir == "/var/lib/insitu")
        #expect(options.logLevel == .debug && options.logFormat == .json)
        #expect(options.metricsListen == ListenAddress("127.0.0.1:9100"))
        #expect(options.heartbeatInterval == 2.5 && options.maxConnections == 64)
        #expect(options.requestHeadTimeout == 5 && options.idleTimeout == 30)
        #expect(options.tlsNames == ["insitu.example.org", "10.0.0.5"])
        #expect(options.defaultTimeout == "30m" && options.defaultQueueTimeout == "2h" && options.nodeLostAfter == "5m")
    }

    @Test func flagsOverrideTheFile() throws {
        let path = try write("port: 4747\nlog_level: debug\ntls:\n  names: [a.example]\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fileOnly = try OrchestratorConfigFile.options(file: path, commandLine: [])
        #expect(fileOnly.port == 4747)
        let overridden = try OrchestratorConfigFile.options(
            file: path, commandLine: ["--port", "4646", "--tls-name", "b.example", "--log-level=error"])
        #expect(overridden.port == 4646, "a flag equal to its default still wins over the file")
        #expect(overridden.logLevel == .error)
        #expect(overridden.tlsNames == ["b.example"], "a list flag replaces the file's list")
    }

    @Test func unknownKeysAndWrongTypesAreErrorsNamingFileAndPath() {
        #expect(problems("tls:\n  cert: 5\n").contains("config.yaml: tls.cert: expected a string"))
        #expect(problems("port: \"4646\"\n").contains("config.yaml: port: expected an integer"))
        #expect(problems("dev: yes please\n").contains("config.yaml: dev: expected true or false"))
        #expect(problems("default_timeout: 60\n").contains("config.yaml: default_timeout: expected a duration string"))
        #expect(problems("tls: on\n").contains("config.yaml: tls: expected a mapping with tls.cert, tls.key, tls.names"))
        #expect(problems("tls:\n  certificate: a.pem\n").contains("config.yaml: tls.certificate: unknown key (allowed: tls.cert, tls.key, tls.names)"))
        #expect(problems("prot: 4646\n").contains("config.yaml: prot: unknown key"))
        #expect(problems("- port\n").contains("config.yaml: expected a mapping of settings"))
        let both = problems("prot: 1\nhost: 5\n")
        #expect(both.contains("prot: unknown key") && both.contains("host: expected a string"), "every problem at once: \(both)")
    }

    @Test func valuesTheFlagsRefuseAreReportedAsTheFilesKeys() throws {
        let path = try write("max_connections: 0\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: OrchestratorConfigFile.Invalid.self) { try OrchestratorConfigFile.options(file: path, commandLine: []) }
        do {
            _ = try OrchestratorConfigFile.options(file: path, commandLine: [])
        } catch {
            #expect("\(error)".contains("\(path): max_connections 0 is out of range"), "\(error)")
        }
        let level = try write("log_level: verbose\n")
        defer { try? FileManager.default.removeItem(atPath: level) }
        #expect(throws: OrchestratorConfigFile.Invalid.self) { try OrchestratorConfigFile.options(file: level, commandLine: []) }
    }

    /// A flag added to `ServerOptions` without a config key would make `--config` incomplete.
    @Test func everyServerFlagHasAConfigKey() {
        let help = ServerOptions.helpMessage(columns: 200)
        let flags = Set(help.matches(of: /--[a-z][a-z-]+/).map { String($0.output) }).subtracting(["--help"])
        let keyed = Set(OrchestratorConfigFile.keys.map(\.flag))
        #expect(!flags.isEmpty)
        #expect(flags.subtracting(keyed).isEmpty, "flags without a config key: \(flags.subtracting(keyed).sorted())")
        #expect(keyed.subtracting(flags).isEmpty, "config keys for flags that do not exist: \(keyed.subtracting(flags).sorted())")
    }

    @Test func theCommandLineIsTakenWithoutConfig() {
        #expect(
            OrchestratorConfigFile.commandLineArguments(["/bin/insitu", "orchestrator", "--config", "c.yaml", "--port", "1"]) == ["--port", "1"])
        #expect(OrchestratorConfigFile.commandLineArguments(["insitu", "orchestrator", "--config=c.yaml", "--dev"]) == ["--dev"])
    }
}
