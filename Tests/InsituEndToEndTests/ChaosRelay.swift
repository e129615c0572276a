import Foundation
import InsituLocalCluster

/// A running scripts/chaos_relay.py: forwards TCP connections, and on `delay(true)` holds every
/// chunk 300 ms in both directions (the stand-in for netem's delay on kernels without it).
final class ChaosRelay: @unchecked Sendable {
    let process: Process
    let name: String

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/chaos_relay.py").path
    }

    /// Starts the relay (under `launcher`, e.g. `ip netns exec NAME`) and waits until it listens.
    init(name: String, launcher: [String] = [], arguments: [String], logPath: String) async throws {
        guard let python = ChaosNetwork.tool("python3") else { throw LocalClusterError("python3 is not installed") }
        self.name = name
        process = Process()
        let command = launcher + [python, "-u", Self.script] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try await waitUntil(timeout: .seconds(20), "relay \(name) to listen (log: \(logPath))", interval: .milliseconds(50)) {
            guard self.process.isRunning else { throw LocalClusterError("relay \(name) exited: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")") }
            return ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("relay listening")
        }
    }

    func delay(_ on: Bool) { kill(process.processIdentifier, on ? SIGUSR1 : SIGUSR2) }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
