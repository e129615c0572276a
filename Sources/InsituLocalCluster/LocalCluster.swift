public import Foundation
public import InsituClient
import InsituOwnExecutable
import InsituAPI

/// A process started and owned by a `LocalCluster`.
public final class ManagedProcess: @unchecked Sendable {
    public let name: String
    public let process: Process
    public let logPath: String

    init(name: String, process: Process, logPath: String) {
        self.name = name
        self.process = process
        self.logPath = logPath
    }

    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` and waits for the process to exit.
    public func stop(signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }
}

/// An orchestrator and compute nodes as separate `insitu` processes on loopback, each with its
/// own data directory: what the demo, the benchmark and the end-to-end tests run against.
public final class LocalCluster: @unchecked Sendable {
    public let executable: String
    public let root: String
    public private(set) var orchestrator: ManagedProcess?
    public private(set) var agents: [String: ManagedProcess] = [:]
    public private(set) var apiURL: String = ""
    /// Whether the orchestrator runs as in production (TLS, API tokens); otherwise with `--dev`.
    public let requireTokens: Bool
    /// The administrator token the orchestrator printed at its first start (with `requireTokens`).
    public private(set) var adminToken: String?
    /// The cluster CA's certificate file the orchestrator printed (with `requireTokens`).
    public private(set) var caPath: String?
    /// A join token for many nodes, which `startAgent` gives each node (with `requireTokens`).
    public private(set) var joinToken: String?
    /// What the orchestrator printed on stdout at its last start, up to its address.
    public private(set) var orchestratorStartLines: [String] = []
    private var orchestratorPort = 0
    private let lock = NSLock()

    public init(executable: String, root: String, requireTokens: Bool = false) throws {
        self.executable = executable
        self.root = root
        self.requireTokens = requireTokens
        try FileManager.default.createDirectory(atPath: root + "/logs", withIntermediateDirectories: true)
    }

    deinit { stopAll() }

    public var client: InsituClient { client(token: adminToken) }

    /// A client of this cluster presenting `token`, trusting the cluster CA when there is one.
    public func client(token: String?) -> InsituClient {
        guard let caPath, let pem = try? String(contentsOfFile: caPath, encoding: .utf8),
            let client = try? InsituClient(baseURL: apiURL, token: token, caCertificatePEM: pem)
        else { return InsituClient(baseURL: apiURL, token: token) }
        return client
    }

    /// Finds a built product (`insitu` by default, or one of its runners) beside the running binary
    /// (tests, benchmarks), or beside $INSITU_BINARY, which names the `insitu` executable itself.
    public static func locateExecutable(named name: String = "insitu") -> String? {
        if let explicit = ProcessInfo.processInfo.environment["INSITU_BINARY"] {
            return name == "insitu" ? explicit : URL(fileURLWithPath: explicit).deletingLastPathComponent().appendingPathComponent(name).path
        }
        var directory = URL(fileURLWithPath: OwnExecutable.path).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    /// Starts the orchestrator (on a free port the first time, on the same port after a restart)
    /// and waits until its API answers.
    public func startOrchestrator(extraArguments: [String] = []) async throws {
        let port = orchestratorPort
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments =
            ["orchestrator", "--port", "\(port)", "--data-dir", root + "/orchestrator"] + (requireTokens ? [] : ["--dev"]) + extraArguments
        let logPath = root + "/logs/orchestrator.log"
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try appendingHandle(logPath)
        try process.run()
        let managed = ManagedProcess(name: "orchestrator", process: process, logPath: logPath)
        lock.withLock { orchestrator = managed }
        // The orchestrator prints its address once it listens, after the administrator token on
        // its first start.
        let lines = try await readLines(from: stdout.fileHandleForReading, until: "listening on", timeout: .seconds(60))
        orchestratorStartLines = lines
        if let tokenLine = lines.first(where: { $0.hasPrefix(Self.bootstrapTokenPrefix) }) {
            adminToken = tokenLine.split(separator: " ").last.map(String.init)
        }
        if let caLine = lines.first(where: { $0.hasPrefix(Self.clusterCAPrefix) }) {
            caPath = caLine.split(separator: " ").last.map(String.init)
        }
        let line = lines.last ?? ""
        guard let url = line.split(separator: " ").last.map(String.init), url.hasPrefix("http://") || url.hasPrefix("https://"),
            let chosen = Int(url.split(separator: ":").last ?? "")
        else {
            managed.stop(signal: SIGKILL)
            throw LocalClusterError("orchestrator did not start: \(line)\n\(managed.log())")
        }
        orchestratorPort = chosen
        apiURL = url
        try await waitUntil(timeout: .seconds(30), "orchestrator API at \(url)") {
            (try? await self.client(token: nil).health()) != nil
        }
        if requireTokens, joinToken == nil, adminToken != nil {
            joinToken = try await client.createJoinToken(
                CreateJoinTokenRequest(name: "local-cluster", uses: 1000, ttlSeconds: 24 * 3600)).token
        }
    }

    /// Kills the orchestrator with `signal` (SIGKILL: no chance to clean up).
    public func killOrchestrator(signal: Int32 = SIGKILL) {
        orchestrator?.stop(signal: signal)
    }

    /// Writes a node config and starts `insitu agent` with it. `launcher` is a command the agent
    /// runs under, which must exec it in place (such as `ip netns exec NAME`, so a signal to the
    /// returned process reaches the agent); `orchestratorURL` replaces the API address the agent
    /// dials (an address reachable from inside the launcher's namespace); `extraConfig` is YAML
    /// appended to the node config as it is; `processSettings` are keys written under
    /// `engines.process` when `processEngine` is on (`sandbox: none`, `cgroup_parent: ...`);
    /// `orchestratorCA` replaces the cluster CA the node trusts; `joinToken` the cluster's join token
    /// (`.some(nil)`: none, for a node that is to be refused); `agentArguments` follow the config on
    /// the agent's command line.
    @discardableResult
    public func startAgent(
        name: String, labels: [String: String] = [:], datasets: [String: String] = [:], processEngine: Bool = false,
        wasmIsolation: String? = nil, wasmRuntime: String? = nil, cpu: String? = nil, memory: String? = nil, launcher: [String] = [],
        orchestratorURL: String? = nil, extraConfig: String = "", processSettings: [String: String] = [:],
        orchestratorCA: String? = nil, joinToken: String?? = .none, agentArguments: [String] = []
    ) throws -> ManagedProcess {
        let directory = root + "/agents/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var yaml = "name: \(name)\norchestrator: \(orchestratorURL ?? apiURL)\ndata_dir: \(directory)/state\n"
        if let ca = orchestratorCA ?? caPath { yaml += "orchestrator_ca: \(ca)\n" }
        if let token = joinToken ?? self.joinToken { yaml += "join_token: \(token)\n" }
        if !labels.isEmpty {
            yaml += "labels:\n" + labels.sorted { $0.key < $1.key }.map { "  \($0.key): \"\($0.value)\"\n" }.joined()
        }
        if !datasets.isEmpty {
            yaml += "datasets:\n" + datasets.sorted { $0.key < $1.key }.map { "  - name: \($0.key)\n    path: \($0.value)\n" }.joined()
        }
        if cpu != nil || memory != nil {
            yaml += "resources:\n" + (cpu.map { "  cpu: \($0)\n" } ?? "") + (memory.map { "  memory: \($0)\n" } ?? "")
        }
        if processEngine || wasmIsolation != nil || wasmRuntime != nil {
            yaml += "engines:\n"
            if processEngine {
                yaml += "  process:\n    enabled: true\n"
                yaml += processSettings.sorted { $0.key < $1.key }.map { "    \($0.key): \($0.value)\n" }.joined()
            }
            if wasmIsolation != nil || wasmRuntime != nil { yaml += "  wasm:\n" }
            if let wasmIsolation { yaml += "    isolation: \(wasmIsolation)\n" }
            if let wasmRuntime { yaml += "    runtime: \(wasmRuntime)\n" }
        }
        yaml += extraConfig
        let configPath = directory + "/agent.yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: configPath))
        let process = Process()
        if let command = launcher.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(launcher.dropFirst()) + [executable, "agent", "--config", configPath] + agentArguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["agent", "--config", configPath] + agentArguments
        }
        let logPath = root + "/logs/agent-\(name).log"
        let handle = try appendingHandle(logPath)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let managed = ManagedProcess(name: name, process: process, logPath: logPath)
        lock.withLock { agents[name] = managed }
        return managed
    }

    /// Waits until `count` nodes are connected.
    public func waitForNodes(_ count: Int, timeout: Duration = .seconds(30)) async throws {
        let client = self.client
        try await waitUntil(timeout: timeout, "\(count) connected nodes") {
            ((try? await client.nodes()) ?? []).filter { $0.liveness == .connected }.count >= count
        }
    }

    /// Stops every process of the cluster with `signal` and waits for each to exit.
    public func stopAll(signal: Int32 = SIGKILL) {
        let (orchestrator, agents) = lock.withLock { (self.orchestrator, self.agents) }
        for agent in agents.values { agent.stop(signal: signal) }
        orchestrator?.stop(signal: signal)
    }

    private func appendingHandle(_ path: String) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        return handle
    }

    /// How `insitu orchestrator` starts the line with the administrator token it created.
    public static let bootstrapTokenPrefix = "insitu bootstrap admin token"
    /// How it starts the line naming the cluster CA: the prefix, the fingerprint, the file.
    public static let clusterCAPrefix = "insitu cluster CA"

    /// Lines from `handle` up to and including the first that contains `marker` (or all there
    /// were when the stream ends first).
    private func readLines(from handle: FileHandle, until marker: String, timeout: Duration) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        var buffer = Data()
        while ContinuousClock.now < deadline {
            // availableData blocks; the orchestrator writes its first lines within a second or two.
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            // Complete lines only: a chunk may end in the middle of the address.
            guard let lastNewline = buffer.lastIndex(of: UInt8(ascii: "\n")) else { continue }
            let lines = String(decoding: buffer[..<lastNewline], as: UTF8.self).split(separator: "\n").map(String.init)
            if let index = lines.firstIndex(where: { $0.contains(marker) }) { return Array(lines[...index]) }
        }
        return String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

public struct LocalClusterError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds, failing with a message that says what was awaited.
public func waitUntil(
    timeout: Duration, _ what: String, interval: Duration = .milliseconds(100), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    throw LocalClusterError("timed out after \(timeout) waiting for \(what)")
}
