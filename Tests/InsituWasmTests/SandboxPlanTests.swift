import InsituExecutor
import InsituProcess
import Testing

/// The pure parts of the sandboxed process engine: bwrap's argument vector and the cgroup
/// layout and control files, for both cgroup versions (this machine only exercises v1 for real).
@Suite("Sandbox plan")
struct SandboxPlanTests {
    let settings = BubblewrapSettings(
        bwrap: "/usr/bin/bwrap",
        systemPaths: [.directory("/usr"), .symlink("/bin", target: "usr/bin"), .file("/etc/ld.so.cache")],
        user: .nobody)

    /// The value that follows `flag` each time it appears.
    func values(after flag: String, in args: [String], count: Int = 2) -> [[String]] {
        args.indices.filter { args[$0] == flag }.map { Array(args[($0 + 1)...].prefix(count)) }
    }

    @Test func aRootAgentsSandboxIsolatesEverythingAndDropsToTheConfiguredUser() throws {
        let args = try Bubblewrap.arguments(command: "sh", arguments: ["-c", "id"], mounts: [], settings: settings)
        for flag in ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"] {
            #expect(args.contains(flag), "missing \(flag)")
        }
        // Root bwrap must not make a user namespace: setpriv could not become 65534 inside it.
        #expect(!args.contains("--unshare-user"))
        let separator = try #require(args.firstIndex(of: "--"))
        #expect(
            Array(args[(separator + 1)...]) == [
                "/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--", "sh", "-c", "id",
            ])
        #expect(values(after: "--cap-add", in: args, count: 1) == [["CAP_SETUID,CAP_SETGID,CAP_SETPCAP"]])
    }

    @Test func anUnprivilegedAgentsSandboxUsesAUserNamespaceAndNoSetpriv() throws {
        var unprivileged = settings
        unprivileged.user = nil
        let args = try Bubblewrap.arguments(command: "/bin/true", arguments: [], mounts: [], settings: unprivileged)
        #expect(args.contains("--unshare-user"))
        #expect(!args.contains("--cap-add"))
        #expect(!args.contains("/usr/bin/setpriv"))
        #expect(Array(args.suffix(2)) == ["--", "/bin/true"])
    }

    @Test func systemPathsAreReadOnlyAndTheJobGetsProcDevAndAPrivateTmp() throws {
        let args = try Bubblewrap.arguments(command: "true", arguments: [], mounts: [], settings: settings)
        #expect(values(after: "--ro-bind", in: args) == [["/usr", "/usr"], ["/etc/ld.so.cache", "/etc/ld.so.cache"]])
        #expect(values(after: "--symlink", in: args) == [["usr/bin", "/bin"]])
        #expect(values(after: "--bind", in: args).isEmpty)
        #expect(values(after: "--proc", in: args, count: 1) == [["/proc"]])
        #expect(values(after: "--dev", in: args, count: 1) == [["/dev"]])
        #expect(values(after: "--tmpfs", in: args, count: 1) == [["/tmp"]])
        #expect(Array(args[(args.firstIndex(of: "--tmpfs")! - 2)...]).prefix(2) == ["--perms", "1777"])
        #expect(values(after: "--chdir", in: args, count: 1) == [["/tmp"]])
    }

    @Test func mountsAppearAtTheirGuestPathsParentsFirstDatasetsReadOnly() throws {
        let mounts = [
            Mount(hostPath: "/host/out", guestPath: "/outputs/result", readOnly: false),
            Mount(hostPath: "/host/extra", guestPath: "/in/extra", readOnly: true),
            Mount(hostPath: "/host/patients", guestPath: "/in", readOnly: true),
        ]
        let args = try Bubblewrap.arguments(command: "true", arguments: [], mounts: mounts, settings: settings)
        let jobMounts = args.indices.filter { (args[$0] == "--bind" || args[$0] == "--ro-bind") && args[$0 + 1].hasPrefix("/host") }
            .map { Array(args[$0...].prefix(3)) }
        #expect(
            jobMounts == [
                ["--ro-bind", "/host/patients", "/in"],
                ["--bind", "/host/out", "/outputs/result"],
                ["--ro-bind", "/host/extra", "/in/extra"],
            ])
        // Mounts come after the private /tmp, so an output under /tmp is not hidden by it.
        #expect(args.firstIndex(of: "/host/out")! > args.firstIndex(of: "--tmpfs")!)
        // Parents that are not mounts themselves are made traversable for the job's user,
        // before the mount inside them.
        #expect(values(after: "--dir", in: args, count: 1) == [["/outputs"]])
        let dir = try #require(args.firstIndex(of: "--dir"))
        #expect(Array(args[(dir - 2)...(dir + 1)]) == ["--perms", "0755", "--dir", "/outputs"])
        #expect(dir < args.firstIndex(of: "/host/out")!)
    }

    @Test(arguments: ["data", "/", "/data/../etc", "/data/./x", "//data", "/data/"])
    func aGuestPathThatIsNotPlainIsRefused(_ guestPath: String) {
        #expect(throws: ExecutorError.self) {
            try Bubblewrap.arguments(
                command: "true", arguments: [], mounts: [Mount(hostPath: "/h", guestPath: guestPath, readOnly: true)], settings: settings)
        }
    }

    @Test func aCommandStartingWithADashIsNotTakenForAnOption() throws {
        let args = try Bubblewrap.arguments(command: "-rf", arguments: ["x"], mounts: [], settings: settings)
        #expect(Array(args.suffix(3)) == ["--", "-rf", "x"])
    }

    // MARK: cgroups

    static let hybridMountinfo = """
        25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
        37 33 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
        38 33 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
        39 33 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
        """

    @Test func aHybridHostUsesItsV1Hierarchies() {
        let layout = CGroupLayout.parse(mountinfo: Self.hybridMountinfo)
        #expect(
            layout
                == CGroupLayout(
                    version: .v1,
                    mounts: ["cpu": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"]))
    }

    @Test func aUnifiedHostUsesV2() {
        let mountinfo = """
            25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
            33 25 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
            """
        #expect(CGroupLayout.parse(mountinfo: mountinfo) == CGroupLayout(version: .v2, mounts: ["": "/sys/fs/cgroup"]))
        #expect(CGroupLayout.parse(mountinfo: "25 30 0:22 / /sys rw - sysfs sysfs rw") == nil)
    }

    @Test func anEscapedMountPointIsDecoded() {
        let mountinfo = "38 33 0:33 / /sys/fs/my\\040cgroups rw - cgroup cgroup rw,memory"
        #expect(CGroupLayout.parse(mountinfo: mountinfo)?.mounts["memory"] == "/sys/fs/my cgroups")
    }

    @Test func v1LimitsSetMemoryWithSwapCPUQuotaAndPids() {
        let settings = CGroupLimits(memoryBytes: 64 << 20, cpuMillis: 500, pids: 100).settings(for: .v1)
        #expect(settings.map { "\($0.controller)/\($0.file)=\($0.value)\($0.optional ? "?" : "")" } == [
            "memory/memory.limit_in_bytes=67108864", "memory/memory.memsw.limit_in_bytes=67108864?",
            "cpu/cpu.cfs_period_us=100000", "cpu/cpu.cfs_quota_us=50000", "pids/pids.max=100",
        ])
    }

    @Test func v2LimitsSetMemoryMaxNoSwapGroupOOMCPUMaxAndPids() {
        let settings = CGroupLimits(memoryBytes: 64 << 20, cpuMillis: 1500, pids: 100).settings(for: .v2)
        #expect(settings.map { "\($0.file)=\($0.value)\($0.optional ? "?" : "")" } == [
            "memory.max=67108864", "memory.swap.max=0?", "memory.oom.group=1?", "cpu.max=150000 100000", "pids.max=100",
        ])
        #expect(settings.allSatisfy { $0.controller == "" })
    }

    @Test func aTinyCPURequestStillGetsTheKernelsMinimumQuota() {
        #expect(CGroupLimits(cpuMillis: 1).settings(for: .v2).map(\.value) == ["1000 100000"])
        #expect(CGroupLimits().settings(for: .v1).isEmpty)
    }

    @Test func outOfMemoryKillsAreReadFromBothVersionsFiles() {
        #expect(ExecutionCGroup.oomKills(in: "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2)
        #expect(ExecutionCGroup.oomKills(in: "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n") == 1)
        #expect(ExecutionCGroup.oomKills(in: "oom_kill_disable 0\nunder_oom 0\n") == 0)
    }

    @Test func groupNamesAreOnePlainComponent() {
        #expect(ExecutionCGroup.name(for: "j1-p0-a1") == "exec-j1-p0-a1")
        #expect(ExecutionCGroup.name(for: "../x y") == "exec-.._x_y")
    }

    @Test func aMissingBwrapIsNamedWithHowToInstallIt() throws {
        do {
            _ = try ProcessSandbox.prepare(ProcessSandbox.Configuration(cgroupParent: nil), searchPath: "/nonexistent")
            Issue.record("prepared a sandbox without bwrap")
        } catch {
            #expect(error.message.contains("bwrap is not installed"))
            #expect(error.message.contains("apt-get install bubblewrap"))
            #expect(error.message.contains("engines.process.sandbox: none"))
        }
        #expect(throws: ExecutorError.self) {
            try ProcessSandbox.prepare(ProcessSandbox.Configuration(bwrap: "/nonexistent/bwrap", cgroupParent: nil), searchPath: nil)
        }
    }
}
