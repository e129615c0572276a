public import InsituExecutor

/// A host path the sandbox shows read-only so that ordinary programs run: `/usr`, the `/bin` and
/// `/lib` links of a merged-`/usr` system, the dynamic linker's cache.
public enum SystemPath: Hashable, Sendable {
    case directory(String)
    case file(String)
    /// A symbolic link on the host (`/bin` → `usr/bin`), recreated as the same link inside.
    case symlink(String, target: String)

    public var path: String {
        switch self {
        case .directory(let path), .file(let path), .symlink(let path, _): path
        }
    }
}

/// The user a sandboxed job runs as when the agent is root. Never root itself.
public struct SandboxUser: Hashable, Sendable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// `nobody:nogroup` on Debian and most distributions.
    public static let nobody = SandboxUser(uid: 65534, gid: 65534)
}

/// What is decided once, when the agent starts, about how bubblewrap confines a job.
public struct BubblewrapSettings: Hashable, Sendable {
    /// Absolute path of the `bwrap` executable.
    public var bwrap: String
    /// Read-only system paths present on this host (see ``SystemPath``).
    public var systemPaths: [SystemPath]
    /// Set when the agent runs as root: bwrap then runs privileged (it can bind any dataset
    /// directory) and `setpriv`, inside the sandbox, drops to this user and clears every
    /// capability before the command starts. Nil when the agent is not root: bwrap then makes a
    /// user namespace and the job runs as the agent's own user.
    public var user: SandboxUser?
    /// Absolute path of `setpriv` (util-linux); it must lie under one of `systemPaths`, since it
    /// runs inside the sandbox. Used only with `user`.
    public var setpriv: String

    public init(bwrap: String, systemPaths: [SystemPath], user: SandboxUser?, setpriv: String = "/usr/bin/setpriv") {
        self.bwrap = bwrap
        self.systemPaths = systemPaths
        self.user = user
        self.setpriv = setpriv
    }

    /// Paths offered by default, the ones absent on a host are skipped: enough for the shell,
    /// coreutils and dynamically linked programs under `/usr`, and nothing that names the host
    /// (no `/etc/passwd`, `/etc/hostname`, `/home`).
    public static let defaultSystemPaths = [
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/alternatives", "/etc/ld.so.cache",
    ]

    /// `PATH` of a job that does not set its own: the sandbox has no agent directories to offer.
    public static let defaultPATH = "/usr/local/bin:/usr/bin:/bin"
}

/// Builds bwrap's argument vector for one execution. Pure: everything comes from the request
/// and the settings, so the exact confinement is unit-tested without starting anything.
public enum Bubblewrap {
    /// Where a sandboxed job starts: the private tmpfs, the only writable place besides its outputs.
    public static let workingDirectory = "/tmp"

    /// The arguments after `bwrap` itself, ending with the command and its arguments.
    ///
    /// Order matters to bwrap: system paths first, then `/proc`, `/dev` and `/tmp`, then the
    /// job's mounts from the shallowest guest path down, so a mount nested in another (`/in`
    /// and `/in/extra`) lands inside it instead of being hidden by it.
    public static func arguments(
        command: String, arguments jobArguments: [String], mounts: [Mount], settings: BubblewrapSettings
    ) throws(ExecutorError) -> [String] {
        guard !command.isEmpty, !command.utf8.contains(0) else {
            throw ExecutorError("engine.command \"\(command)\" is not a command")
        }
        var args = [
            // The sandbox dies with bwrap, and bwrap is the agent's child: nothing outlives the job.
            "--die-with-parent",
            // setsid: the job cannot reach the agent's terminal (TIOCSTI) or process group.
            "--new-session",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "insitu",
        ]
        if settings.user != nil {
            // Privileged bwrap keeps only what setpriv needs to become the job's user; setpriv
            // then clears these too (they do not survive the change to a non-zero uid either).
            args += ["--cap-add", "CAP_SETUID,CAP_SETGID,CAP_SETPCAP"]
        } else {
            args += ["--unshare-user"]
        }
        for system in settings.systemPaths {
            switch system {
            case .directory(let path), .file(let path): args += ["--ro-bind", path, path]
            case .symlink(let path, let target): args += ["--symlink", target, path]
            }
        }
        // World-writable and sticky like a host's /tmp: the job's user must write its scratch files.
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        let jobMounts = try ordered(mounts)
        // bwrap would create missing parents of a mount point (`/outputs` of `/outputs/x`) with
        // mode 0700 as root, which the job's user could not traverse.
        let provided = settings.systemPaths.map(\.path) + ["/proc", "/dev", "/tmp"] + jobMounts.map(\.guestPath)
        var created: Set<String> = []
        for mount in jobMounts {
            var parent = ""
            for component in mount.guestPath.split(separator: "/").dropLast() {
                parent += "/" + component
                let covered = provided.contains { parent == $0 || parent.hasPrefix($0 + "/") }
                if !covered && created.insert(parent).inserted {
                    args += ["--perms", "0755", "--dir", parent]
                }
            }
            args += [mount.readOnly ? "--ro-bind" : "--bind", mount.hostPath, mount.guestPath]
        }
        args += ["--chdir", workingDirectory, "--"]
        if let user = settings.user {
            args += [
                settings.setpriv, "--reuid", "\(user.uid)", "--regid", "\(user.gid)", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            ]
        }
        return args + [command] + jobArguments
    }

    /// The job's mounts, checked and sorted parents first. A guest path must be absolute, plain
    /// components only (no `.`, `..`, empty components), and not the sandbox root.
    static func ordered(_ mounts: [Mount]) throws(ExecutorError) -> [Mount] {
        var checked: [(depth: Int, index: Int, mount: Mount)] = []
        for (index, mount) in mounts.enumerated() {
            let components = mount.guestPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            guard mount.guestPath.hasPrefix("/"), !components.isEmpty,
                !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
                !mount.guestPath.utf8.contains(0), !mount.hostPath.utf8.contains(0)
            else {
                throw ExecutorError(
                    "mount \"\(mount.guestPath)\" is not an absolute path of plain components below /, "
                        + "so it cannot be placed in the sandbox")
            }
            checked.append((components.count, index, mount))
        }
        return checked.sorted { ($0.depth, $0.index) < ($1.depth, $1.index) }.map(\.mount)
    }
}
