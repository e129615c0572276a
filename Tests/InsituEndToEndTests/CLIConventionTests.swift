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

    /// Issue 9, item 1: `job list` filters (refused at parse time when misspelt), pages with a
    /// hint on stderr, shows ages, `-o wide` columns and `--no-headers`; `node list` likewise.
    @Test func listsFilterPageAndShowAgesLikeKubectl() async throws {
        let e2e = try await E2E.withOneNode("lyon-1")
        defer { e2e.tearDown() }
        let home = e2e.root + "/elsewhere"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let api = "--api \(e2e.cluster.apiURL)"
        let spec = try e2e.specFile("hello", "version: v1\nname: hello\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)
        var ids: [String] = []
        for _ in 0..<3 { ids.append(try e2e.submit(spec)) }
        for id in ids { _ = try await e2e.waitForState(id) { $0 == .completed } }

        // A misspelt state never reaches the orchestrator (there is none at this address).
        let typo = try Self.shell("insitu job list --state runing --api http://127.0.0.1:1", in: home, e2e: e2e)
        #expect(typo.status == 64 && typo.stderr.contains("--state runing is not a job state"), "\(typo.status) \(typo.stderr)")

        let first = try Self.shell("insitu job list --limit 2 --state completed,failed \(api) | cat", in: home, e2e: e2e)
        #expect(first.status == 0, "\(first.stderr)")
        let lines = first.stdout.split(separator: "\n")
        #expect(lines.count == 3 && lines[0].hasPrefix("ID") && lines[0].hasSuffix("AGE"), "\(first.stdout)")
        // Ages, not absolute times: a job that just ran is seconds old.
        #expect(lines.dropFirst().allSatisfy { $0.split(separator: " ").last.map { $0.hasSuffix("s") && Int($0.dropLast()) != nil } == true }, "\(first.stdout)")
        let hint = try #require(first.stderr.split(separator: "\n").first { $0.hasPrefix("more jobs: --next-token ") }, "\(first.stderr)")
        let token = String(hint.dropFirst("more jobs: --next-token ".count))
        let rest = try Self.shell("insitu job list --limit 2 --state completed --no-headers --next-token \(token) \(api)", in: home, e2e: e2e)
        #expect(rest.status == 0 && !rest.stderr.contains("more jobs"), "\(rest.stderr)")
        let shown = (lines.dropFirst() + rest.stdout.split(separator: "\n")).compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(Set(shown) == Set(ids) && shown.count == 3, "\(first.stdout)\(rest.stdout)")
        let badToken = try Self.shell("insitu job list --next-token garbage \(api)", in: home, e2e: e2e)
        #expect(badToken.status != 0 && badToken.stderr.contains("next_token"), "\(badToken.stderr)")

        let wide = try Self.shell("insitu job list --name hel -o wide \(api)", in: home, e2e: e2e)
        let wideHeader = wide.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(wideHeader.contains("NAMESPACE") && wideHeader.contains("NODES") && wideHeader.contains("DURATION"), "\(wide.stdout)")
        #expect(wide.stdout.split(separator: "\n").dropFirst().allSatisfy { $0.contains(" default ") && $0.contains(" lyon-1 ") }, "\(wide.stdout)")
        #expect(try Self.shell("insitu job list --name nothing-like-it --no-headers \(api)", in: home, e2e: e2e).stdout.isEmpty)

        let nodes = try Self.shell("insitu node list --status connected --name lyon -o wide \(api)", in: home, e2e: e2e)
        #expect(nodes.status == 0 && nodes.stdout.contains("VERSION") && nodes.stdout.contains("LAST SEEN"), "\(nodes.stdout)\(nodes.stderr)")
        #expect(nodes.stdout.contains("lyon-1") && nodes.stdout.contains(InsituBuild.version), "\(nodes.stdout)")
        let none = try Self.shell("insitu node list --label site=nowhere --no-headers \(api)", in: home, e2e: e2e)
        #expect(none.status == 0 && none.stdout.isEmpty, "\(none.stdout)")
        let badLabel = try Self.shell("insitu node list --label site \(api)", in: home, e2e: e2e)
        #expect(badLabel.status == 64 && badLabel.stderr.contains("key=value"), "\(badLabel.stderr)")
    }

    /// Three lines on stdout, one on stderr, then exit with `code`.
    static func talker(exitCode code: Int) -> String {
        """
        (module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "one\\ntwo\\nthree\\n")
          (data (i32.const 128) "oops\\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const 14))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (i32.store (i32.const 16) (i32.const 128))
            (i32.store (i32.const 20) (i32.const 5))
            (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 8)))
            (call $proc_exit (i32.const \(code)))))
        """
    }

    /// Issue 9, item 1 and problem 8: an ops job's logs interleaved its nodes with no
    /// attribution. Lines now name node and partition; `--tail`, `--since`, `--timestamps` and
    /// `-o json` work as in kubectl; a single-execution job stays unprefixed.
    @Test func logsNameTheirNodeAndTakeTailSinceTimestampsAndJSON() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "node-a")
        try e2e.cluster.startAgent(name: "node-bb")
        try await e2e.cluster.waitForNodes(2)
        let ops = try e2e.specFile("ops", "version: v1\nname: talk-ops\ntype: ops\nengine: {type: wasm, module: ./ops.wasm}\n", wat: Self.talker(exitCode: 0))
        let id = try e2e.submit(ops)
        #expect(try await e2e.waitForState(id) { $0.isTerminal }.job.state == .completed)

        let logs = try e2e.cli(["job", "logs", id])
        #expect(logs.status == 0, "\(logs.stderr)")
        let pattern = /node-(a|bb)\/[0-9]+ +\| (one|two|three)/
        let lines = logs.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 6 && lines.allSatisfy { $0.wholeMatch(of: pattern) != nil }, "\(logs.stdout)")
        #expect(lines.contains { $0.hasPrefix("node-a/") } && lines.contains { $0.hasPrefix("node-bb/") })
        let errors = logs.stderr.split(separator: "\n")
        #expect(errors.count == 2 && errors.allSatisfy { $0.hasSuffix(" | oops") }, "\(logs.stderr)")

        let json = try e2e.cli(["job", "logs", id, "-o", "json", "--tail", "3"])
        let records = try json.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(records.count == 3, "\(json.stdout)")
        for record in records {
            #expect(["node-a", "node-bb"].contains(record["node"] as? String ?? ""), "\(record)")
            #expect(record["partition"] is Int && (record["execution"] as? String)?.hasPrefix(id) == true, "\(record)")
            #expect(["one", "two", "three", "oops"].contains(record["text"] as? String ?? ""), "\(record)")
            #expect((record["time"] as? String).flatMap { try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) } != nil, "\(record)")
        }
        let stamped = try e2e.cli(["job", "logs", id, "--timestamps", "--no-prefix", "--since", "1h"])
        let stampedLines = stamped.stdout.split(separator: "\n")
        #expect(stampedLines.count == 6 && stampedLines.allSatisfy { $0.wholeMatch(of: /20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (one|two|three)/) != nil }, "\(stamped.stdout)")
        let tail = try e2e.cli(["job", "logs", id, "--tail", "1"])
        #expect(tail.stdout.split(separator: "\n").count + tail.stderr.split(separator: "\n").count == 1, "\(tail)")
        for wrong in [["--since", "soon"], ["--since", "0s"], ["--tail", "-1"]] {
            let refused = try e2e.cli(["job", "logs", id] + wrong)
            #expect(refused.status == 64, "\(wrong): \(refused.stderr)")
        }

        // One execution: the output exactly as the job wrote it.
        let single = try e2e.specFile("single", "version: v1\nname: talk-one\nengine: {type: wasm, module: ./single.wasm}\n", wat: Self.talker(exitCode: 0))
        let one = try e2e.submit(single)
        _ = try await e2e.waitForState(one) { $0.isTerminal }
        let plain = try e2e.cli(["job", "logs", one])
        #expect(plain.stdout == "one\ntwo\nthree\n" && plain.stderr == "oops\n", "\(plain)")
    }

    /// Issue 9, problem 8: `job results` on a failed job wrote nothing. It now defaults to a
    /// folder named after the job, keeps the failed execution's stdout and stderr, exits non-zero
    /// saying where they went, and refuses to write into a non-empty folder without --force.
    @Test func resultsOfAFailedJobKeepItsOutputInAFolderNamedAfterIt() async throws {
        let e2e = try await E2E.withOneNode("node-a")
        defer { e2e.tearDown() }
        let home = e2e.root + "/elsewhere"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let spec = try e2e.specFile(
            "fails", "version: v1\nname: fails\nretry: {attempts: 1}\nengine: {type: wasm, module: ./fails.wasm}\n", wat: Self.talker(exitCode: 3))
        let id = try e2e.submit(spec)
        #expect(try await e2e.waitForState(id) { $0.isTerminal }.job.state == .failed)

        let command = "insitu job results \(id) --api \(e2e.cluster.apiURL)"
        let results = try Self.shell(command, in: home, e2e: e2e)
        let folder = "fails-\(id.prefix(8))"
        #expect(results.status == 1, "\(results.stdout)\(results.stderr)")
        #expect(results.stderr.contains("job \(id) failed") && results.stderr.contains("\(folder)/partition-0/"), "\(results.stderr)")
        #expect(try String(contentsOfFile: "\(home)/\(folder)/partition-0/stdout", encoding: .utf8) == "one\ntwo\nthree\n")
        #expect(try String(contentsOfFile: "\(home)/\(folder)/partition-0/stderr", encoding: .utf8).contains("oops"))

        let again = try Self.shell(command, in: home, e2e: e2e)
        #expect(again.status != 0 && again.stderr.contains("\(folder) exists and is not empty") && again.stderr.contains("--force"), "\(again.stderr)")
        let forced = try Self.shell(command + " --force", in: home, e2e: e2e)
        #expect(forced.status == 1 && forced.stderr.contains("job \(id) failed"), "\(forced.stderr)")
    }

    /// Issue 9, problem 8: ops results landed in `partition-N/` folders; they are named after the
    /// node that computed them.
    @Test func opsResultsAreFiledUnderTheirNodeNames() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "site-lyon")
        try e2e.cluster.startAgent(name: "site-paris")
        try await e2e.cluster.waitForNodes(2)
        let spec = try e2e.specFile("ops", "version: v1\nname: hello-ops\ntype: ops\nengine: {type: wasm, module: ./ops.wasm}\n", wat: Modules.hello)
        let id = try e2e.submit(spec)
        #expect(try await e2e.waitForState(id) { $0.isTerminal }.job.state == .completed)
        let dest = e2e.root + "/out"
        let download = try e2e.cli(["job", "results", id, "--dest", dest])
        #expect(download.status == 0, "\(download.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dest).sorted() == ["site-lyon", "site-paris"])
        for node in ["site-lyon", "site-paris"] {
            #expect(try String(contentsOfFile: "\(dest)/\(node)/stdout", encoding: .utf8) == "hello from insitu\n")
        }
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
