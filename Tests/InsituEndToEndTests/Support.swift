import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing
import WAT

/// End-to-end fixtures: a fresh cluster of real `insitu` processes per test, driven through the
/// real CLI binary and the REST API over loopback.
struct E2E {
    let cluster: LocalCluster
    let root: String

    /// A fresh cluster; with `requireTokens` its orchestrator runs without `--dev`, so every API
    /// request needs a token (the CLI runs with the administrator token unless told otherwise).
    static func make(_ name: String = #function, requireTokens: Bool = false) throws -> E2E {
        guard let executable = LocalCluster.locateExecutable() else {
            Issue.record("the insitu executable was not found next to the test binary: run `swift build` first")
            throw LocalClusterError("insitu executable not found")
        }
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-e2e-\(safe)-\(UUID().uuidString.prefix(8))").path
        return E2E(cluster: try LocalCluster(executable: executable, root: root, requireTokens: requireTokens), root: root)
    }

    /// A fresh cluster with its orchestrator running and one node, `name`, connected. On failure
    /// the cluster is torn down before the error is thrown.
    static func withOneNode(_ name: String, wasmRuntime: String? = nil, test: String = #function) async throws -> E2E {
        let e2e = try make(test)
        do {
            try await e2e.cluster.startOrchestrator()
            try e2e.cluster.startAgent(name: name, wasmRuntime: wasmRuntime)
            try await e2e.cluster.waitForNodes(1)
        } catch {
            e2e.tearDown()
            throw error
        }
        return e2e
    }

    /// Runs the `insitu` CLI against this cluster and returns its exit status and output. It
    /// presents `token` (by default the administrator token, if the cluster has one; "" for none).
    @discardableResult
    /// The CLI's config file is the test's own (`root/cli-config.yaml`), never the user's.
    /// `environment` is laid over all that (nil values remove a variable).
    func cli(
        _ arguments: [String], token: String? = nil, environment overrides: [String: String?] = [:], stdin: String? = nil
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cluster.executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["INSITU_API"] = cluster.apiURL
        environment["INSITU_TOKEN"] = token ?? cluster.adminToken ?? ""
        environment["INSITU_CONFIG"] = root + "/cli-config.yaml"
        environment["INSITU_CA_CERT"] = cluster.caPath ?? ""
        for (name, value) in overrides { environment[name] = value }
        if let stdin {
            let input = Pipe()
            process.standardInput = input
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// Writes a spec file (and, if given, a module built from WAT text beside it) and returns its path.
    func specFile(_ name: String, _ yaml: String, wat: String? = nil) throws -> String {
        let directory = root + "/specs"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let wat {
            let bytes = try wat2wasm(wat)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(name).wasm"))
        }
        let path = "\(directory)/\(name).yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `insitu job run FILE --output json`, returning the job ID. A job no node can run yet is
    /// stored and queued, which the CLI reports with exit status 2.
    func submit(_ specPath: String) throws -> String {
        let run = try cli(["job", "run", specPath, "--output", "json"])
        #expect(run.status == 0 || run.status == 2, "job run failed: \(run.stderr)")
        let response = try JSONDecoder().decode(SubmitJobResponse.self, from: Data(run.stdout.utf8))
        #expect((run.status == 2) == (response.state == .queued), "exit \(run.status) for a \(response.state) job: \(run.stderr)")
        return response.jobID.rawValue
    }

    func describe(_ id: String) throws -> JobDetail {
        let run = try cli(["job", "describe", id, "--output", "json"])
        #expect(run.status == 0, "job describe failed: \(run.stderr)")
        return try JSONDecoder().decode(JobDetail.self, from: Data(run.stdout.utf8))
    }

    func waitForState(_ id: String, timeout: Duration = .seconds(60), _ accept: (JobState) -> Bool) async throws -> JobDetail {
        let client = cluster.client
        var last: JobDetail?
        do {
            try await waitUntil(timeout: timeout, "job \(id) to reach the expected state", interval: .milliseconds(200)) {
                last = try await client.job(id)
                return accept(last!.job.state)
            }
        } catch {
            Issue.record("job \(id) is \(last?.job.state.rawValue ?? "unknown"): \(last?.job.stateReason ?? ""); logs under \(root)/logs")
            throw error
        }
        return last!
    }

    func nodeID(named name: String) async throws -> NodeID {
        guard let node = try await cluster.client.nodes().first(where: { $0.name == name }) else {
            throw LocalClusterError("no node named \(name)")
        }
        return node.id
    }

    /// Stops every process and removes the test's files, keeping the process logs under
    /// /tmp/insitu-e2e-logs/ for diagnosing a failure.
    func tearDown() {
        cluster.stopAll()
        let kept = "/tmp/insitu-e2e-logs/" + URL(fileURLWithPath: root).lastPathComponent
        try? FileManager.default.createDirectory(atPath: "/tmp/insitu-e2e-logs", withIntermediateDirectories: true)
        try? FileManager.default.moveItem(atPath: root + "/logs", toPath: kept)
        try? FileManager.default.removeItem(atPath: root)
    }

    static var demoModule: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/count-conditions/count_conditions.wasm").path
    }
}

/// Tiny WASI modules for the sandbox tests, as WAT text.
enum Modules {
    /// Prints a greeting and exits 0.
    static let hello = """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "hello from insitu\\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 18))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """

    /// Sleeps for 1.5 s through WASI `poll_oneoff` (one relative clock subscription), prints
    /// "woke up" and exits 0.
    static let sleeper = """
        (module
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 512) "woke up\\n")
          (func (export "_start")
            ;; subscription at 0: userdata 0, tag 0 (clock), clock id 1 (monotonic), timeout 1.5 s, relative
            (i32.store8 (i32.const 8) (i32.const 0))
            (i32.store (i32.const 16) (i32.const 1))
            (i64.store (i32.const 24) (i64.const 1500000000))
            (i64.store (i32.const 32) (i64.const 0))
            (i32.store16 (i32.const 40) (i32.const 0))
            (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
            (i32.store (i32.const 256) (i32.const 512))
            (i32.store (i32.const 260) (i32.const 8))
            (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264)))))
        """

    /// Spins forever: only a timeout stops it.
    static let spin = """
        (module
          (memory (export "memory") 1)
          (func (export "_start") (loop $forever (br $forever))))
        """

    /// Asks for a socket (WasmEdge's `sock_open`, the only way a WASI preview 1 guest could make
    /// one): no runtime here links it, so the module must not run at all.
    static let socketOpener = """
        (module
          (import "wasi_snapshot_preview1" "sock_open" (func $sock_open (param i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start") (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0)))))
        """

    /// Grows its memory by 256 MiB and traps if the host refused.
    static let memoryHog = """
        (module
          (memory (export "memory") 1)
          (func (export "_start")
            (if (i32.eq (memory.grow (i32.const 4096)) (i32.const -1)) (then unreachable))))
        """

    /// Creates `name` in its first preopened directory (fd 3) and exits with the WASI errno of
    /// the attempt (0 if it was allowed).
    static func createFile(_ name: String) -> String {
        """
        (module
          (import "wasi_snapshot_preview1" "path_open"
            (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "\(name)")
          (func (export "_start")
            (call $proc_exit
              (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const \(name.utf8.count)) (i32.const 9)
                (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 128)))))
        """
    }

    /// Tries to open `../../../../etc/passwd` relative to its first preopened directory (fd 3) and
    /// exits with the WASI errno it got (0 would mean it escaped).
    static let escape = """
        (module
          (import "wasi_snapshot_preview1" "path_open"
            (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "../../../../etc/passwd")
          (func (export "_start")
            (local $errno i32)
            (local.set $errno
              (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 22) (i32.const 0)
                (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 0)))
            (if (i32.eqz (local.get $errno)) (then (call $proc_exit (i32.const 0))))
            (call $proc_exit (local.get $errno))))
        """
}

/// The API failure `call` ends with, or nil when it succeeds; any other error is a test failure.
func apiFailure(_ call: () async throws -> some Any) async -> InsituClient.Failure? {
    do {
        _ = try await call()
        return nil
    } catch let failure as InsituClient.Failure {
        return failure
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

