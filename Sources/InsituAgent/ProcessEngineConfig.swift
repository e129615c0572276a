import Foundation
import InsituExecutor
public import InsituProcess

/// `engines.process` of the node config beyond `enabled`: how native commands are confined.
///
/// ```yaml
/// engines:
///   process:
///     enabled: true
///     sandbox: bubblewrap      # default; `none` runs jobs unsandboxed (trusted jobs only)
///     user: 65534:65534        # uid[:gid] or a user name; only when the agent runs as root
///     cgroup_parent: insitu    # default; `none` turns memory/CPU/PID limits off
///     bwrap: /usr/bin/bwrap    # default: looked up on PATH
///     system_paths: [/usr, /bin, /lib, /lib64, /etc/alternatives]
/// ```
public struct ProcessEngineConfig: Hashable, Sendable {
    public enum Sandbox: String, Hashable, Sendable {
        case bubblewrap
        case none
    }

    /// Secure by default: bubblewrap unless the operator writes `sandbox: none`.
    public var sandbox: Sandbox = .bubblewrap
    public var configuration = ProcessSandbox.Configuration()

    public init(sandbox: Sandbox = .bubblewrap, configuration: ProcessSandbox.Configuration = .init()) {
        self.sandbox = sandbox
        self.configuration = configuration
    }

    /// Reads `engines.process`; every problem is appended to `problems`.
    static func parse(_ section: [String: Any], resolve: (String) -> String, problems: inout [String]) -> ProcessEngineConfig {
        var config = ProcessEngineConfig()
        problems += AgentConfigShape.unknownKeys(in: section, section: "engines.process")
        if let enabled = section["enabled"], !(enabled is Bool) {
            problems.append("engines.process.enabled: \"\(enabled)\" must be true or false")
        }
        if let value = section["sandbox"] {
            if let sandbox = Sandbox(rawValue: "\(value)") {
                config.sandbox = sandbox
            } else {
                problems.append("engines.process.sandbox: \"\(value)\" must be bubblewrap (the default) or none (unsandboxed, trusted jobs only)")
            }
        }
        if let value = section["user"] {
            if let user = parseUser("\(value)") {
                config.configuration.user = user
            } else {
                problems.append(
                    "engines.process.user: \"\(value)\" is not a user of this host or uid[:gid] other than root, like 65534:65534 or nobody")
            }
        }
        if let value = section["cgroup_parent"] {
            let text = "\(value)"
            if text == "none" {
                config.configuration.cgroupParent = nil
            } else if text.isEmpty || text.hasPrefix("/") || text.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
                problems.append(
                    "engines.process.cgroup_parent: \"\(text)\" must be a path relative to the cgroup mount, like insitu or system.slice/insitu, or none")
            } else {
                config.configuration.cgroupParent = text
            }
        }
        if let value = section["bwrap"] {
            if let path = value as? String, !path.isEmpty {
                config.configuration.bwrap = resolve(path)
            } else {
                problems.append("engines.process.bwrap: write the path of the bwrap executable")
            }
        }
        if let value = section["system_paths"] {
            if let list = value as? [Any], list.allSatisfy({ ($0 as? String)?.hasPrefix("/") == true }) {
                config.configuration.systemPaths = list.map { "\($0)" }
            } else {
                problems.append("engines.process.system_paths: write a list of absolute host paths, like [/usr, /bin, /lib]")
            }
        }
        return config
    }

    /// `uid`, `uid:gid` or a user name from the host's user database; never root.
    static func parseUser(_ text: String) -> SandboxUser? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var user: SandboxUser?
        if let uid = UInt32(parts[0]) {
            switch parts.count {
            case 1: user = SandboxUser(uid: uid, gid: uid)
            case 2: user = UInt32(parts[1]).map { SandboxUser(uid: uid, gid: $0) }
            default: user = nil
            }
        } else if parts.count == 1, let entry = getpwnam(text) {
            user = SandboxUser(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
        }
        guard let user, user.uid != 0, user.gid != 0 else { return nil }
        return user
    }

    /// The engine for this node: sandboxed, after checking the host, unless `sandbox: none`.
    func makeExecutor(enabled: Bool) throws -> ProcessExecutor {
        guard enabled, sandbox == .bubblewrap else { return ProcessExecutor(enabled: enabled, sandbox: nil) }
        let sandbox = try ProcessSandbox.prepare(configuration, searchPath: ProcessInfo.processInfo.environment["PATH"])
        return ProcessExecutor(enabled: true, sandbox: sandbox)
    }
}
