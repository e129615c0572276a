import Foundation
import InsituLocalCluster
import InsituModel
import Testing

#if canImport(Glibc)
import Glibc
#endif

private let bwrapInstalled = (["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"] as [String]).contains { access($0, X_OK) == 0 }

/// The sandboxed `process` engine (issue 7, item 4) through real `insitu` processes: a node that
/// enables the engine runs jobs under bubblewrap by default.
@Suite(.enabled(if: bwrapInstalled, "bwrap is not installed (apt-get install bubblewrap; .ci/run installs it)"))
struct SandboxedProcessClusterTests {
    /// A parent cgroup of the test's own (cgroups need root; without root the limits are off).
    static func processSettings(_ parent: String) -> [String: String] {
        geteuid() == 0 ? ["cgroup_parent": parent] : ["cgroup_parent": "none"]
    }

    static func removeParent(_ parent: String) {
        for mount in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
            rmdir("\(mount)/\(parent)")
            rmdir("\(mount)/insitu-tests")
        }
    }

    /// Host PIDs of live processes with `marker` as an argument.
    static func live(_ marker: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                data.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == marker }),
                let stat = ProcessTable.stat(pid), stat.state != "Z"
            else { return nil }
            return pid
        }
    }

    @Test func aSandboxedJobSeesItsDatasetAtTheGuestPathAndWritesItsOutputs() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let parent = "insitu-tests/e2e-\(UUID().uuidString.prefix(8))"
        defer { Self.removeParent(parent) }
        try await e2e.cluster.startOrchestrator()
        try SyntheticPatients(site: "s", rows: 5, seed: 3).write(to: e2e.root + "/patients")
        try e2e.cluster.startAgent(
            name: "sandboxed", datasets: ["patients": e2e.root + "/patients"], processEngine: true,
            processSettings: Self.processSettings(parent))
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile(
            "sandboxed",
            """
            version: v1
            name: sandboxed
            inputs: [{dataset: patients, target: /data}]
            engine: {type: process, command: sh}
            args: ["-c", "head -n 1 /data/patients.csv; wc -l < /data/patients.csv > /outputs/lines.txt; touch /data/x || echo read-only; test -e \(e2e.root) || echo host-hidden"]
            outputs: [{name: result, path: /outputs}]
            """)
        let id = try e2e.submit(spec)
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
        let logs = try e2e.cli(["job", "logs", id])
        #expect(logs.stdout == SyntheticPatients.header + "\nread-only\nhost-hidden\n")
        let dest = e2e.root + "/results"
        #expect(try e2e.cli(["job", "results", id, "--dest", dest]).status == 0)
        let lines = try String(contentsOfFile: dest + "/partition-0/outputs/result/lines.txt", encoding: .utf8)
        #expect(lines.trimmingCharacters(in: .whitespacesAndNewlines) == "6")
        #expect(!FileManager.default.fileExists(atPath: e2e.root + "/patients/x"))
    }

    @Test func jobStopKillsTheSandboxedProcessTreeWithinOneSecond() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let parent = "insitu-tests/e2e-\(UUID().uuidString.prefix(8))"
        defer { Self.removeParent(parent) }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "sandboxed", processEngine: true, processSettings: Self.processSettings(parent))
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile(
            "forever",
            """
            version: v1
            name: forever
            engine: {type: process, command: sh}
            args: ["-c", "(setsid sleep 4181 &); sleep 4181 & echo started; sleep 4181"]
            """)
        let id = try e2e.submit(spec)
        try await waitUntil(timeout: .seconds(30), "the job's three sleeps to run") { Self.live("4181").count == 3 }
        #expect(try e2e.cli(["job", "stop", id]).status == 0)
        try await waitUntil(timeout: .seconds(1), "every process of the stopped job to be gone", interval: .milliseconds(20)) {
            Self.live("4181").isEmpty
        }
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .stopped, "\(done.job.state): \(done.job.stateReason ?? "")")
    }

    @Test func anAgentWhoseBwrapIsMissingRefusesToStartAndSaysWhy() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let agent = try e2e.cluster.startAgent(
            name: "nobwrap", processEngine: true, processSettings: ["bwrap": "/nonexistent/bwrap", "cgroup_parent": "none"])
        try await waitUntil(timeout: .seconds(30), "the agent to exit") { !agent.isRunning }
        #expect(agent.process.terminationStatus != 0)
        #expect(agent.log().contains("engines.process.bwrap /nonexistent/bwrap is not an executable file"), "\(agent.log())")
    }
}
