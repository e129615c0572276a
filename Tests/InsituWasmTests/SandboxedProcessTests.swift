import Foundation
import InsituExecutor
import InsituModel
import InsituProcess
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether this machine can run the sandbox tests, with the reason printed when it cannot.
enum SandboxHost {
    static let bwrap: String? = (["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"] as [String]).first { access($0, X_OK) == 0 }
    static let hasBwrap = bwrap != nil
    static let isRoot = geteuid() == 0
    static let noBwrap: Comment = "bwrap is not installed (apt-get install bubblewrap; .ci/run installs it)"
    static let notRoot: Comment = "needs root: cgroups and dropping to an unprivileged user are root-only here"
}

/// A sandbox with a parent cgroup of its own (when root), removed by `remove()`.
struct TestSandbox {
    let sandbox: ProcessSandbox
    let cgroupParent: String?

    init(withCGroups: Bool = SandboxHost.isRoot) throws {
        let parent = withCGroups ? "insitu-tests/\(UUID().uuidString.prefix(8))" : nil
        sandbox = try ProcessSandbox.prepare(ProcessSandbox.Configuration(cgroupParent: parent), searchPath: "/usr/bin:/bin")
        cgroupParent = parent
    }

    var executor: ProcessExecutor { ProcessExecutor(enabled: true, sandbox: sandbox) }

    /// The directory of `execution`'s group in `controller`'s hierarchy.
    func groupDirectory(_ controller: String, execution: ExecutionID) -> String? {
        guard let cgroups = sandbox.cgroups, let mount = cgroups.layout.mounts[controller] else { return nil }
        return "\(mount)/\(cgroups.path)/\(ExecutionCGroup.name(for: execution.rawValue))"
    }

    func remove() {
        guard let cgroups = sandbox.cgroups else { return }
        for mount in cgroups.layout.mounts.values {
            rmdir("\(mount)/\(cgroups.path)")
            rmdir("\(mount)/insitu-tests")
        }
    }
}

private func request(
    _ script: String, workDirectory: String, mounts: [Mount] = [], timeout: Duration? = nil,
    resources: Resources? = nil, id: String = "job-\(UUID().uuidString.prefix(8))"
) -> ExecutionRequest {
    ExecutionRequest(
        executionID: ExecutionID(job: JobID(id), partition: 0, attempt: 1), engine: EngineSpec(process: ProcessSettings(command: "sh")),
        args: ["-c", script], env: ["GREETING": "hi"], mounts: mounts, workDirectory: workDirectory, timeout: timeout,
        resources: resources)
}

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Host PIDs of live (not zombie) processes whose command line contains `marker` as an argument.
private func liveProcesses(withArgument marker: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
            data.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == marker }),
            let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")")
        else { return nil }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state == "Z" || state == "X" ? nil : pid
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
private func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// A TCP listener on 127.0.0.1 in the test's own network namespace.
private final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 8) == 0 else { throw ExecutorError("cannot listen on 127.0.0.1") }
        port = UInt16(bigEndian: address.sin_port)
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
    }

    /// Accepts every pending connection; returns how many there were.
    func acceptPending() -> Int {
        var count = 0
        while case let client = accept(fd, nil, nil), client >= 0 {
            close(client)
            count += 1
        }
        return count
    }

    deinit { close(fd) }
}

/// Runs every job slice on a thread of its own, which then waits until ``release()`` and ends:
/// a task whose threads go away while its work continues, as Dispatch's idle pool threads do.
final class ThreadPerSliceExecutor: TaskExecutor {
    private let gate: (read: Int32, write: Int32)
    /// Kernel thread IDs of the threads started so far.
    private let threads = Mutex<[Int32]>([])
    private static let gettid = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gettid"), to: (@convention(c) () -> Int32).self)

    init() throws { gate = try makePipe() }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let gate = self.gate.read
        DedicatedThread.start { [self] in
            threads.withLock { $0.append(Self.gettid()) }
            job.runSynchronously(on: executor)
            var byte: UInt8 = 0
            while read(gate, &byte, 1) < 0 && errno == EINTR {}
        }
    }

    /// Lets every thread end.
    func release() { close(gate.write) }

    /// True once every thread started so far has ended.
    var allThreadsEnded: Bool {
        threads.withLock { $0 }.allSatisfy { !FileManager.default.fileExists(atPath: "/proc/self/task/\($0)") }
    }
}

@Suite("Sandboxed process engine", .serialized, .enabled(if: SandboxHost.hasBwrap, SandboxHost.noBwrap))
struct SandboxedProcessTests {
    @Test func outputIsCollectedAndADatasetWriteIsRefused() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let data = try dir.subdirectory("dataset")
        try "rows\n".write(toFile: data + "/rows.txt", atomically: true, encoding: .utf8)
        let outputs = try dir.subdirectory("outputs/result")
        let streamed = StreamedOutput()
        let outcome = try await sandbox.executor.run(
            request(
                """
                echo $GREETING; pwd; cat /data/rows.txt; echo made > /outputs/result/file.txt
                if echo x > /data/new.txt; then echo wrote; else echo refused; fi
                """, workDirectory: try dir.subdirectory("work"),
                mounts: [Mount(hostPath: data, guestPath: "/data", readOnly: true), Mount(hostPath: outputs, guestPath: "/outputs/result", readOnly: false)]),
            onOutput: streamed.onOutput)
        #expect(outcome.status == .succeeded, "\(outcome.reason ?? "") \(text(outcome.stderr))")
        #expect(text(outcome.stdout) == "hi\n/tmp\nrows\nrefused\n")
        #expect(streamed.text(.stdout) == text(outcome.stdout))
        #expect(text(outcome.stderr).contains("Read-only file system"), "\(text(outcome.stderr))")
        #expect(try String(contentsOfFile: outputs + "/file.txt", encoding: .utf8) == "made\n")
        #expect(!FileManager.default.fileExists(atPath: data + "/new.txt"))
    }

    @Test func onlyItsMountsAndTheSystemPathsAreVisible() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let data = try dir.subdirectory("dataset")
        let outcome = try await sandbox.executor.run(
            request(
                "ls -A /; for p in /work /root /home /etc/passwd /etc/hostname \(dir.path) /var /sys; do test -e $p && echo visible $p; done; exit 0",
                workDirectory: try dir.subdirectory("work"), mounts: [Mount(hostPath: data, guestPath: "/in/patients", readOnly: true)]),
            onOutput: { _, _ in })
        #expect(outcome.status == .succeeded, "\(outcome.reason ?? "") \(text(outcome.stderr))")
        let systemTops = Set(sandbox.sandbox.bubblewrap.systemPaths.map { String($0.path.split(separator: "/")[0]) })
        let expected = systemTops.union(["proc", "dev", "tmp", "in"])
        let lines = text(outcome.stdout).split(separator: "\n").map(String.init)
        #expect(Set(lines.filter { !$0.hasPrefix("visible ") }) == expected)
        #expect(lines.filter { $0.hasPrefix("visible ") } == [])
    }

    @Test func theNetworkIsUnreachableEvenOnLoopback() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let listener = try LoopbackListener()
        let probe = "if (echo > /dev/tcp/127.0.0.1/\(listener.port)) 2>/dev/null; then echo connected; else echo refused; fi"
        func run(_ executor: ProcessExecutor) async throws -> ExecutionOutcome {
            var probeRequest = request(probe, workDirectory: try dir.subdirectory("work-\(UUID().uuidString.prefix(4))"))
            probeRequest.engine = EngineSpec(process: ProcessSettings(command: "bash"))
            return try await executor.run(probeRequest, onOutput: { _, _ in })
        }
        // The probe works: unsandboxed, it reaches the listener.
        let open = try await run(ProcessExecutor(enabled: true, sandbox: nil))
        #expect(text(open.stdout) == "connected\n", "\(text(open.stderr))")
        #expect(listener.acceptPending() == 1)

        let sandboxed = try await run(sandbox.executor)
        #expect(text(sandboxed.stdout) == "refused\n", "\(text(sandboxed.stderr))")
        #expect(listener.acceptPending() == 0)
    }

    @Test(.enabled(if: SandboxHost.isRoot, SandboxHost.notRoot))
    func aRootAgentRunsTheJobAsNobodyWithoutCapabilities() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let outputs = try dir.subdirectory("outputs/o")
        let outcome = try await sandbox.executor.run(
            request(
                "id -u; id -g; grep CapEff /proc/self/status; touch /outputs/o/mine /tmp/scratch",
                workDirectory: try dir.subdirectory("work"), mounts: [Mount(hostPath: outputs, guestPath: "/outputs/o", readOnly: false)]),
            onOutput: { _, _ in })
        #expect(outcome.status == .succeeded, "\(outcome.reason ?? "") \(text(outcome.stderr))")
        #expect(text(outcome.stdout) == "65534\n65534\nCapEff:\t0000000000000000\n")
        var info = stat()
        #expect(stat(outputs + "/mine", &info) == 0)
        #expect(info.st_uid == 65534 && info.st_gid == 65534, "the file a job wrote belongs to uid \(info.st_uid) on the host")
    }

    @Test(.enabled(if: SandboxHost.isRoot, SandboxHost.notRoot))
    func aJobOverItsMemoryLimitIsKilledAndReportedOutOfMemory() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let job = request(
            // tail keeps everything after the last newline: /dev/zero has none, so it holds all 256 MB.
            "echo started; head -c 268435456 /dev/zero | tail; echo survived",
            workDirectory: try dir.subdirectory("work"), resources: Resources(cpuMillis: 1000, memoryBytes: 32 << 20))
        let outcome = try await sandbox.executor.run(job, onOutput: { _, _ in })
        #expect(outcome.status == .outOfMemory, "\(outcome.status) \(outcome.reason ?? "") \(text(outcome.stderr))")
        #expect(outcome.reason == "exceeded its memory limit of 32Mi and was killed; ask for more with resources.memory")
        #expect(sandbox.groupDirectory("memory", execution: job.executionID).map { !FileManager.default.fileExists(atPath: $0) } ?? true)
    }

    @Test(.enabled(if: SandboxHost.isRoot, SandboxHost.notRoot))
    func theJobRunsInsideItsCGroupWithTheRequestedCPUAndMemoryLimits() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let layout = try #require(sandbox.sandbox.cgroups?.layout)
        let job = request(
            "echo ready; exec sleep 4170", workDirectory: try dir.subdirectory("work"), resources: Resources(cpuMillis: 250, memoryBytes: 48 << 20))
        let streamed = StreamedOutput()
        let task = Task { try await sandbox.executor.run(job, onOutput: streamed.onOutput) }
        #expect(try await eventually { streamed.text(.stdout) == "ready\n" && !liveProcesses(withArgument: "4170").isEmpty })
        let sleeper = try #require(liveProcesses(withArgument: "4170").first)
        func read(_ controller: String, _ file: String) throws -> String {
            let directory = try #require(sandbox.groupDirectory(layout.version == .v1 ? controller : "", execution: job.executionID))
            return try String(contentsOfFile: directory + "/" + file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        switch layout.version {
        case .v1:
            #expect(try read("cpu", "cpu.cfs_quota_us") == "25000")
            #expect(try read("cpu", "cpu.cfs_period_us") == "100000")
            #expect(try read("memory", "memory.limit_in_bytes") == "\(48 << 20)")
            #expect(try read("pids", "pids.max") == "\(ProcessSandbox.defaultPidsLimit)")
            for controller in ["memory", "cpu", "pids"] {
                #expect(try read(controller, "cgroup.procs").split(separator: "\n").contains("\(sleeper)"), "not in the \(controller) group")
            }
        case .v2:
            #expect(try read("", "cpu.max") == "25000 100000")
            #expect(try read("", "memory.max") == "\(48 << 20)")
            #expect(try read("", "cgroup.procs").split(separator: "\n").contains("\(sleeper)"))
        }
        task.cancel()
        #expect(try await task.value.status == .cancelled)
        for controller in layout.mounts.keys {
            let directory = try #require(sandbox.groupDirectory(controller, execution: job.executionID))
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) was not removed")
        }
    }

    /// A job that leaves a background grandchild (double fork, its own session) and then waits.
    static func forkingJob(_ marker: String) -> String {
        "(setsid sleep \(marker) &); sleep \(marker) & echo started; sleep \(marker)"
    }

    @Test func aTimeoutKillsTheWholeProcessTreeWithinOneSecond() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let job = request(Self.forkingJob("4171"), workDirectory: try dir.subdirectory("work"), timeout: .milliseconds(500))
        let (outcome, took) = try await elapsed { try await sandbox.executor.run(job, onOutput: { _, _ in }) }
        #expect(outcome.status == .timedOut)
        #expect(outcome.reason == "exceeded its timeout of 0.5s")
        #expect(text(outcome.stdout) == "started\n")
        // An escaped process holding the output pipe would keep the run for the reader's 2 s grace
        // after the 0.5 s timeout.
        #expect(took < .milliseconds(2400), "took \(took) for a 0.5 s timeout")
        #expect(liveProcesses(withArgument: "4171") == [], "processes of the job outlived it")
        if let group = sandbox.groupDirectory(sandbox.sandbox.cgroups?.layout.mounts.keys.first ?? "", execution: job.executionID) {
            #expect(!FileManager.default.fileExists(atPath: group), "\(group) was not removed")
        }
    }

    @Test func cancellationKillsTheWholeProcessTreeWithinOneSecond() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let job = request(Self.forkingJob("4172"), workDirectory: try dir.subdirectory("work"))
        let streamed = StreamedOutput()
        let task = Task { try await sandbox.executor.run(job, onOutput: streamed.onOutput) }
        #expect(try await eventually { streamed.text(.stdout) == "started\n" && liveProcesses(withArgument: "4172").count == 3 })
        task.cancel()
        #expect(try await eventually(timeout: .seconds(1)) { liveProcesses(withArgument: "4172").isEmpty }, "processes of the job outlived it by a second")
        let (outcome, took) = try await elapsed { try await task.value }
        #expect(outcome.status == .cancelled)
        // An escaped process holding the output pipe would keep the run for the reader's 2 s grace.
        #expect(took < .seconds(2), "the run ended \(took) after its processes")
        if let group = sandbox.groupDirectory(sandbox.sandbox.cgroups?.layout.mounts.keys.first ?? "", execution: job.executionID) {
            #expect(!FileManager.default.fileExists(atPath: group), "\(group) was not removed")
        }
    }

    /// bwrap's `--die-with-parent` is tied to the thread that spawned it: the executor must not
    /// spawn from a thread that may end while the job runs.
    @Test func aJobOutlivesTheThreadThatStartedIt() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let sandbox = try TestSandbox()
        defer { sandbox.remove() }
        let outputs = try dir.subdirectory("outputs/o")
        let job = request(
            "echo ready; while [ ! -e /outputs/o/go ]; do sleep 0.05; done; echo survived", workDirectory: try dir.subdirectory("work"),
            mounts: [Mount(hostPath: outputs, guestPath: "/outputs/o", readOnly: false)])
        let executor = try ThreadPerSliceExecutor()
        let streamed = StreamedOutput()
        let task = Task(executorPreference: executor) { try await sandbox.executor.run(job, onOutput: streamed.onOutput) }
        #expect(try await eventually { streamed.text(.stdout) == "ready\n" })
        // Every thread the task ran on ends while the job runs; only then may the job finish.
        executor.release()
        #expect(try await eventually { executor.allThreadsEnded })
        try "".write(toFile: outputs + "/go", atomically: false, encoding: .utf8)
        let outcome = try await task.value
        #expect(outcome.status == .succeeded, "\(outcome.reason ?? "") \(text(outcome.stderr))")
        #expect(text(outcome.stdout) == "ready\nsurvived\n")
    }
}
