import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing
import WAT

/// Issue 9 on real processes: the `insitu` binary run as a user runs it, through `$PATH`, from
/// another directory, with its output piped.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CLIConventionTests {
    /// Prints a line, then sleeps 60 s: a job still running after its first output.
    static let talkThenSleep = """
        (module
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 512) "first line\\n")
          (func (export "_start")
            (i32.store (i32.const 256) (i32.const 512))
            (i32.store (i32.const 260) (i32.const 11))
            (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264)))
            (i32.store8 (i32.const 8) (i32.const 0))
            (i32.store (i32.const 16) (i32.const 1))
            (i64.store (i32.const 24) (i64.const 60000000000))
            (i64.store (i32.const 32) (i64.const 0))
            (i32.store16 (i32.const 40) (i32.const 0))
            (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))
        """

    /// `command` run by a shell in `directory` with the build directory first on `$PATH`, as a
    /// user who installed `insitu` would; `stdin` is written to it.
    static func shell(_ command: String, in directory: String, e2e: E2E, stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = URL(fileURLWithPath: e2e.cluster.executable).deletingLastPathComponent().path + ":/usr/bin:/bin"
        environment["INSITU_CONFIG"] = e2e.root + "/cli-config.yaml"
        environment["INSITU_API"] = nil
        process.environment = environment
        let input = Pipe(), out = Pipe(), err = Pipe()
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// Issue 9, problem 1 and 2: `serve` found its WebAssembly runner relative to the current
    /// directory, so through `$PATH` every job failed; `job run -` could not read standard input.
    @Test func theBinaryWorksThroughPathFromAnotherDirectoryWithASpecOnStandardInput() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let home = e2e.root + "/elsewhere"
        try FileManager.default.createDirectory(atPath: home + "/data", withIntermediateDirectories: true)
        try Data(try wat2wasm(Modules.hello)).write(to: URL(fileURLWithPath: home + "/hello.wasm"))
        let port = try ServeTests().freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/bin/sh")
        server.arguments = ["-c", "exec insitu serve --dev --port \(port) --data-dir state --dataset d=data"]
        server.currentDirectoryURL = URL(fileURLWithPath: home)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = URL(fileURLWithPath: e2e.cluster.executable).deletingLastPathComponent().path + ":/usr/bin:/bin"
        server.environment = environment
        let log = FileHandle(forWritingAtPath: "/dev/null")
        server.standardOutput = log
        server.standardError = log
        try server.run()
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let api = "http://127.0.0.1:\(port)"
        try await waitUntil(timeout: .seconds(30), "the served node") {
            ((try? await InsituClient(baseURL: api).nodes()) ?? []).contains { $0.liveness == .connected }
        }

        // The spec on standard input; its module path is relative to the current directory.
        let spec = "version: v1\nname: piped\nengine: {type: wasm, module: ./hello.wasm}\n"
        let run = try Self.shell("insitu job run - --wait --api \(api)", in: home, e2e: e2e, stdin: spec)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let jobs = try await InsituClient(baseURL: api).jobs()
        #expect(jobs.count == 1 && jobs.first?.name == "piped" && jobs.first?.state == .completed, "\(jobs)")

        // A spec with problems on standard input names where it came from.
        let bad = try Self.shell("insitu job run - --api \(api)", in: home, e2e: e2e, stdin: "version: v1\nname: bad\n")
        #expect(bad.status != 0 && bad.stderr.contains("the spec on standard input has"), "\(bad.stderr)")
    }

    /// Issue 9, problem 3: piped, `job logs -f` showed nothing until the job ended (stdout was
    /// block-buffered). The first line must come through while the job still runs.
    @Test func followedLogsArriveLineByLineThroughAPipe() async throws {
        let e2e = try await E2E.withOneNode("node")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile("talk", "version: v1\nname: talk\nengine: {type: wasm, module: ./talk.wasm}\n", wat: Self.talkThenSleep)
        let id = try e2e.submit(spec)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: e2e.cluster.executable)
        process.arguments = ["job", "logs", "-f", id]
        var environment = ProcessInfo.processInfo.environment
        environment["INSITU_API"] = e2e.cluster.apiURL
        environment["INSITU_CONFIG"] = e2e.root + "/cli-config.yaml"
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        let reader = out.fileHandleForReading
        let received = Locked(Data())
        reader.readabilityHandler = { handle in
            let chunk = handle.availableData
            received.withLock { $0.append(chunk) }
        }
        defer { reader.readabilityHandler = nil }
        try await waitUntil(timeout: .seconds(30), "the first line through the pipe") {
            String(decoding: received.withLock { $0 }, as: UTF8.self).contains("first line")
        }
        // It came while the job was still running, not when it ended.
        #expect(try e2e.describe(id).job.state == .running)
        _ = try e2e.cli(["job", "stop", id])
    }

    /// Issue 9, item 1: short ID prefixes, as docker and nomad take them.
    @Test func aJobIsNamedByEnoughOfTheStartOfItsID() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let spec = try e2e.specFile("queued", "version: v1\nname: queued\nengine: {type: wasm, module: ./queued.wasm}\n", wat: Modules.hello)
        let first = try e2e.submit(spec)
        let second = try e2e.submit(spec)
        // The shortest start of the first ID that the second does not share.
        let unique = String(first.prefix(zip(first, second).prefix { $0 == $1 }.count + 1))
        let described = try e2e.cli(["job", "describe", unique, "-o", "json"])
        #expect(described.status == 0, "\(described.stderr)")
        #expect(try JSONDecoder().decode(JobDetail.self, from: Data(described.stdout.utf8)).job.id.rawValue == first)
        let history = try e2e.cli(["job", "history", unique])
        #expect(history.status == 0, "\(history.stderr)")
        // A prefix of both is refused with the candidates; an unknown one is not found.
        let ambiguous = try e2e.cli(["job", "describe", "j-"])
        #expect(ambiguous.status != 0 && ambiguous.stderr.contains(first) && ambiguous.stderr.contains(second), "\(ambiguous.stderr)")
        let unknown = try e2e.cli(["job", "describe", "j-zzz"])
        #expect(unknown.status != 0 && unknown.stderr.contains("does not exist"), "\(unknown.stderr)")
    }

    @Test func versionAndCompletionScripts() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let version = try e2e.cli(["version", "-o", "json"])
        #expect(version.status == 0, "\(version.stderr)")
        let versions = try JSONDecoder().decode([String: String].self, from: Data(version.stdout.utf8))
        #expect(versions["client"] == InsituBuild.version && versions["server"] == InsituBuild.version, "\(version.stdout)")
        // Without an orchestrator the client still says its own version.
        let offline = try e2e.cli(["version"], environment: ["INSITU_API": "http://127.0.0.1:1"])
        #expect(offline.status == 0 && offline.stdout.contains("Client: \(InsituBuild.version)") && offline.stdout.contains("not reachable"))
        for (shell, marker) in [("bash", "-F _insitu insitu"), ("zsh", "#compdef insitu"), ("fish", "complete -c 'insitu'")] {
            let script = try e2e.cli(["completion", shell])
            #expect(script.status == 0 && script.stdout.contains(marker), "\(shell): \(script.stdout.prefix(200))")
        }
        let wrong = try e2e.cli(["completion", "powershell"])
        #expect(wrong.status != 0 && wrong.stderr.contains("bash"), "\(wrong.stderr)")
    }
}

/// A value that the pipe's reader (another thread) and the test share.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
