import Foundation
import InsituLocalCluster

/// The chaos harness's network: a hub namespace holding a bridge, and one namespace per agent
/// joined to the bridge by a veth pair. Every address lives inside a namespace made here; the
/// harness's own namespace gets none. Deleting a namespace deletes its links and nft rules, so
/// `tearDown` (and `removeStale` for a run that was killed) leave nothing behind.
///
///     hub  (insitu-chaos-PID-hub): br0 10.77.0.1/24, relay 10.77.0.1:7000 → orchestrator on the harness's 127.0.0.1
///     a<i> (insitu-chaos-PID-a<i>): vn<i> 10.77.0.(10+i)/24, peer vh<i> on br0 in the hub
final class ChaosNetwork: @unchecked Sendable {
    static let prefix = "insitu-chaos-"
    static let hubAddress = "10.77.0.1"
    static let relayPort = 7000

    let hub: String
    let agents: [String]
    private var created: [String] = []

    /// Why the harness cannot run here, or nil when it can.
    static func unavailableReason() -> String? {
        // Four agents, 2,000 jobs and timed faults: run alone (scripts/chaos.sh, a step of .ci/run), not
        // beside the other suites, whose load on a 2-core machine stalled it twice in two runs.
        guard ProcessInfo.processInfo.environment["INSITU_CHAOS"] == "1" else {
            return "runs only on its own: scripts/chaos.sh (INSITU_CHAOS=1), which .ci/run runs after the suite"
        }
        guard geteuid() == 0 else { return "not running as root (network namespaces need CAP_SYS_ADMIN)" }
        guard let ip = tool("ip") else { return "the ip command (iproute2) is not installed" }
        let probe = prefix + "\(getpid())-probe"
        let made = run([ip, "netns", "add", probe])
        guard made.status == 0 else { return "`ip netns add` does not work here: \(made.output)" }
        _ = run([ip, "netns", "del", probe])
        guard tool("python3") != nil else { return "python3 is not installed (the harness's relay is scripts/chaos_relay.py)" }
        // netem is used where the kernel has it, but many kernels do not: nft is the fallback.
        guard tool("nft") != nil else { return "nft is not installed (apt-get install nftables): it injects the packet loss" }
        return nil
    }

    init(agentCount: Int) throws {
        let base = Self.prefix + "\(getpid())-"
        hub = base + "hub"
        agents = (0..<agentCount).map { base + "a\($0)" }
        do {
            try ip("netns", "add", hub)
            created.append(hub)
            try ip("-n", hub, "link", "set", "lo", "up")
            try ip("-n", hub, "link", "add", "br0", "type", "bridge")
            try ip("-n", hub, "addr", "add", "\(Self.hubAddress)/24", "dev", "br0")
            try ip("-n", hub, "link", "set", "br0", "up")
            for (index, name) in agents.enumerated() {
                try ip("netns", "add", name)
                created.append(name)
                try ip("-n", name, "link", "set", "lo", "up")
                try ip("-n", hub, "link", "add", "vh\(index)", "type", "veth", "peer", "name", "vn\(index)", "netns", name)
                try ip("-n", hub, "link", "set", "vh\(index)", "master", "br0")
                try ip("-n", hub, "link", "set", "vh\(index)", "up")
                try ip("-n", name, "addr", "add", "10.77.0.\(10 + index)/24", "dev", "vn\(index)")
                try ip("-n", name, "link", "set", "vn\(index)", "up")
            }
        } catch {
            tearDown()
            throw error
        }
    }

    /// The orchestrator's address as agents see it: the hub relay.
    var orchestratorURL: String { "http://\(Self.hubAddress):\(Self.relayPort)" }

    /// `ip netns exec NAME`: runs a command inside agent `index`'s namespace (exec'd in place, so
    /// the process ID is the command's).
    func launcher(_ index: Int) -> [String] { [Self.tool("ip") ?? "/usr/sbin/ip", "netns", "exec", agents[index]] }

    /// Cuts agent `index` off: its link on the bridge goes down, so its packets vanish without an
    /// error on either end (the orchestrator must notice from missing heartbeats).
    func partition(_ index: Int) throws { try ip("-n", hub, "link", "set", "vh\(index)", "down") }
    func heal(_ index: Int) throws { try ip("-n", hub, "link", "set", "vh\(index)", "up") }

    /// Starts `percent` % packet loss on agent `index`'s link and returns how: `tc netem` where
    /// the kernel has it (with the 300 ms delay too), else nft dropping a random share of the
    /// packets on the veth inside the namespace (the delay then comes from the relay).
    func startLoss(_ index: Int, percent: Int, netemDelayMillis: Int) throws -> (method: String, delayedByNetem: Bool) {
        if let tc = Self.tool("tc"),
            Self.run([tc, "-n", agents[index], "qdisc", "add", "dev", "vn\(index)", "root", "netem", "delay", "\(netemDelayMillis)ms", "loss", "\(percent)%"]).status == 0
        {
            return ("tc netem delay \(netemDelayMillis)ms loss \(percent)% on vn\(index)", true)
        }
        guard let nft = Self.tool("nft") else { throw LocalClusterError("neither tc netem nor nft is available to inject loss") }
        let namespace = agents[index]
        let exec = [Self.tool("ip") ?? "/usr/sbin/ip", "netns", "exec", namespace, nft]
        try check(exec + ["add", "table", "inet", "chaos"])
        for (chain, hook, direction) in [("in", "input", "iifname"), ("out", "output", "oifname")] {
            try check(exec + ["add", "chain", "inet", "chaos", chain, "{ type filter hook \(hook) priority 0; }"])
            try check(exec + ["add", "rule", "inet", "chaos", chain, direction, "vn\(index)", "numgen", "random", "mod", "100", "<", "\(percent)", "drop"])
        }
        return ("nft numgen random mod 100 < \(percent) drop on vn\(index), both directions", false)
    }

    func stopLoss(_ index: Int) throws {
        let namespace = agents[index]
        if let tc = Self.tool("tc") { _ = Self.run([tc, "-n", namespace, "qdisc", "del", "dev", "vn\(index)", "root"]) }
        if let nft = Self.tool("nft") {
            _ = Self.run([Self.tool("ip") ?? "/usr/sbin/ip", "netns", "exec", namespace, nft, "delete", "table", "inet", "chaos"])
        }
    }

    /// The inode of agent `index`'s namespace, to tell which processes live in it.
    func namespaceInode(_ index: Int) -> UInt64? {
        var info = stat()
        guard stat("/var/run/netns/" + agents[index], &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    /// `insitu-wasm-runner` processes inside agent `index`'s namespace, with their parents.
    func runners(inAgent index: Int) -> [(pid: Int32, parent: Int32)] {
        guard let inode = namespaceInode(index) else { return [] }
        var found: [(Int32, Int32)] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            // comm is cut to 15 bytes: "insitu-wasm-run".
            guard stat[stat.index(after: open)..<close].hasPrefix("insitu-wasm-run") else { continue }
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"),
                link == "net:[\(inode)]"
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            found.append((pid, fields.count > 1 ? Int32(fields[1]) ?? 0 : 0))
        }
        return found
    }

    /// Processes living in any of the namespaces with these inodes (to prove none outlive a run).
    static func processes(inNamespaces inodes: Set<UInt64>) -> [Int32] {
        let links = Set(inodes.map { "net:[\($0)]" })
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"),
                links.contains(link)
            else { return nil }
            return pid
        }
    }

    /// Deletes every namespace this run made (their links, addresses and rules go with them) and
    /// returns what could not be deleted.
    @discardableResult
    func tearDown() -> [String] {
        var left: [String] = []
        for name in created.reversed() where (try? ip("netns", "del", name)) == nil { left.append(name) }
        created.removeAll()
        return left
    }

    /// Namespaces of this harness that exist now (to prove the clean-up).
    static func existing() -> [String] {
        guard let ip = tool("ip") else { return [] }
        return run([ip, "netns", "list"]).output.split(separator: "\n")
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0.hasPrefix(prefix) }
    }

    /// Deletes namespaces left by harness runs whose process is gone (killed before cleaning up).
    static func removeStale() {
        guard let ip = tool("ip") else { return }
        for name in existing() {
            let pid = name.dropFirst(prefix.count).prefix { $0.isNumber }
            if let pid = Int32(pid), pid != getpid(), kill(pid, 0) != 0 { _ = run([ip, "netns", "del", name]) }
        }
    }

    // MARK: Commands

    private func ip(_ arguments: String...) throws { try check([Self.tool("ip") ?? "/usr/sbin/ip"] + arguments) }

    private func check(_ command: [String]) throws {
        let result = Self.run(command)
        guard result.status == 0 else {
            throw LocalClusterError("`\(command.joined(separator: " "))` failed with status \(result.status): \(result.output)")
        }
    }

    static func tool(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in path + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func run(_ command: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
