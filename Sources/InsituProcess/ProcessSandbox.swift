#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import InsituExecutor

/// How the `process` engine confines jobs on this node, set up once when the agent starts:
/// bubblewrap's settings and, unless the operator turned limits off, the parent cgroup under
/// which each execution gets its own group with the job's memory and CPU limits.
public struct ProcessSandbox: Sendable {
    public var bubblewrap: BubblewrapSettings
    /// Nil when the operator wrote `cgroup_parent: none`: no memory, CPU or PID limits.
    public var cgroups: CGroupParent?
    /// Most processes one execution may have at once (a fork bomb stops there).
    public var pidsLimit: Int

    public static let defaultPidsLimit = 1024

    public init(bubblewrap: BubblewrapSettings, cgroups: CGroupParent?, pidsLimit: Int = ProcessSandbox.defaultPidsLimit) {
        self.bubblewrap = bubblewrap
        self.cgroups = cgroups
        self.pidsLimit = pidsLimit
    }

    /// What the node config says (`engines.process`).
    public struct Configuration: Hashable, Sendable {
        /// `bwrap` path; nil looks it up on `searchPath`.
        public var bwrap: String?
        /// The job's user when the agent is root; nil means ``SandboxUser/nobody``.
        public var user: SandboxUser?
        /// Parent cgroup relative to the hierarchies' mount points; nil means no limits.
        public var cgroupParent: String?
        public var systemPaths: [String]

        public init(
            bwrap: String? = nil, user: SandboxUser? = nil, cgroupParent: String? = "insitu",
            systemPaths: [String] = BubblewrapSettings.defaultSystemPaths
        ) {
            self.bwrap = bwrap
            self.user = user
            self.cgroupParent = cgroupParent
            self.systemPaths = systemPaths
        }
    }

    /// Checks the host and builds the sandbox. Throws a reason for people (what is missing and
    /// how to fix it) so the agent refuses to start rather than run jobs less confined than
    /// its config says.
    public static func prepare(_ configuration: Configuration, searchPath: String?) throws(ExecutorError) -> ProcessSandbox {
        let noSandbox = "or write engines.process.sandbox: none to run jobs unsandboxed"
        let bwrap: String
        if let configured = configuration.bwrap {
            guard access(configured, X_OK) == 0 else {
                throw ExecutorError("engines.process.bwrap \(configured) is not an executable file (\(errorText(errno))); install bubblewrap or fix the path, \(noSandbox)")
            }
            bwrap = configured
        } else {
            guard let found = findExecutable("bwrap", searchPath: searchPath ?? "/usr/bin:/bin") else {
                throw ExecutorError(
                    "engines.process.sandbox is bubblewrap, but bwrap is not installed (not found on PATH \(searchPath ?? "/usr/bin:/bin")): "
                        + "install it (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), set engines.process.bwrap "
                        + "to its path, \(noSandbox)")
            }
            bwrap = found
        }
        let systemPaths = configuration.systemPaths.compactMap(systemPath)
        var user: SandboxUser?
        var setpriv = "/usr/bin/setpriv"
        if geteuid() == 0 {
            user = configuration.user ?? .nobody
            guard user?.uid != 0, user?.gid != 0 else {
                throw ExecutorError("engines.process.user must not be root (uid and gid 0): the sandbox exists to run jobs unprivileged")
            }
            let candidates: [String] = ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"]
            guard let found = candidates.first(where: { access($0, X_OK) == 0 }),
                systemPaths.contains(where: { found.hasPrefix($0.path + "/") })
            else {
                throw ExecutorError(
                    "the sandbox needs setpriv (util-linux) under /usr to drop root before a job starts; install util-linux, \(noSandbox)")
            }
            setpriv = found
        } else if configuration.user != nil {
            throw ExecutorError(
                "engines.process.user needs the agent to run as root (it runs as uid \(geteuid())); remove it: jobs then run as the agent's user")
        }
        var cgroups: CGroupParent?
        if let parent = configuration.cgroupParent {
            guard let layout = CGroupLayout.detect() else {
                throw ExecutorError(
                    "no cgroup hierarchy with a memory controller is mounted on this host, so jobs cannot get memory and CPU limits; "
                        + "mount cgroups or set engines.process.cgroup_parent: none to run jobs without limits")
            }
            cgroups = try CGroupParent.prepare(layout: layout, path: parent)
        }
        return ProcessSandbox(
            bubblewrap: BubblewrapSettings(bwrap: bwrap, systemPaths: systemPaths, user: user, setpriv: setpriv), cgroups: cgroups)
    }

    /// The host's entry at `path` as the sandbox should show it, nil when absent.
    static func systemPath(_ path: String) -> SystemPath? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: 4096)
            let length = readlink(path, &target, target.count - 1)
            guard length > 0 else { return nil }
            return .symlink(path, target: String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        case S_IFDIR: return .directory(path)
        case S_IFREG: return .file(path)
        default: return nil
        }
    }

    static func findExecutable(_ name: String, searchPath: String) -> String? {
        for directory in searchPath.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
