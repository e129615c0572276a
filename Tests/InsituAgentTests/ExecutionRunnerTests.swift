import Foundation
import InsituAPI
@testable import InsituAgent
import InsituExecutor
import InsituModel
import InsituTestKit
import Logging
import Testing

/// The agent's runner with a scripted engine: what the sandbox is given, and what comes back.
@Suite struct ExecutionRunnerTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-runner-\(UUID().uuidString)").path

    func makeRunner(_ executor: ScriptedExecutor, outputQuota: Int64 = AgentConfig.defaultOutputQuotaBytes) throws -> (ExecutionRunner, Outbox) {
        try FileManager.default.createDirectory(atPath: base + "/patients", withIntermediateDirectories: true)
        let config = AgentConfig(
            name: "site", orchestrators: ["http://127.0.0.1:1"], dataDirectory: base + "/state",
            datasets: [.init(name: "patients", path: base + "/patients")], outputQuotaBytes: outputQuota)
        let outbox = Outbox(store: try AgentStore.inMemory())
        let runner = try ExecutionRunner(config: config, outbox: outbox, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, executors: [.process: executor])
        return (runner, outbox)
    }

    func assignment(_ spec: JobSpec) -> ExecutionAssignment {
        ExecutionAssignment(executionID: ExecutionID(job: "j-1", partition: 0, attempt: 1), jobID: "j-1", partition: 0, spec: spec)
    }

    func finalResult(_ outbox: Outbox) async -> ExecutionResultMessage? {
        for frame in await outbox.next(after: 0) {
            if case .executionResult(let result) = frame.body { return result }
        }
        return nil
    }

    @Test func mountsInputsAndCollectsOutputs() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { request, emit in
            // The inline input is a read-only file, the dataset a read-only mount, the output writable.
            let config = try #require(request.mounts.first { $0.guestPath == "/config" })
            #expect(config.readOnly)
            #expect(try String(contentsOfFile: config.hostPath + "/params.txt", encoding: .utf8) == "min_age=18")
            #expect(request.mounts.contains { $0.guestPath == "/data" && $0.readOnly && $0.hostPath.hasSuffix("/patients") })
            let output = try #require(request.mounts.first { $0.guestPath == "/out" })
            #expect(!output.readOnly)
            try FileManager.default.createDirectory(atPath: output.hostPath + "/nested", withIntermediateDirectories: true)
            try Data("42\n".utf8).write(to: URL(fileURLWithPath: output.hostPath + "/nested/answer.txt"))
            emit(.stdout, Array("working\n".utf8))
            return ExecutionOutcome(status: .succeeded, exitCode: 0, stdout: Array("working\n".utf8))
        }
        let (runner, outbox) = try makeRunner(executor)
        let spec = JobSpec(
            name: "job",
            inputs: [
                InputSpec(source: .dataset(name: "patients"), target: "/data"),
                InputSpec(source: .inline(content: "min_age=18"), target: "/config/params.txt"),
            ],
            engine: EngineSpec(process: ProcessSettings(command: "true")), outputs: [OutputSpec(name: "results", path: "/out")])
        #expect(try await runner.accept(assignment(spec)))
        await runner.run(assignment(spec))

        let result = try #require(await finalResult(outbox))
        #expect(result.state == .succeeded)
        let files = Dictionary(uniqueKeysWithValues: result.files.map { ($0.path, Data(base64Encoded: $0.base64) ?? Data()) })
        #expect(Set(files.keys) == ["stdout", "stderr", "outputs/results/nested/answer.txt"])
        #expect(files["outputs/results/nested/answer.txt"] == Data("42\n".utf8))
        #expect(files["stdout"] == Data("working\n".utf8))
        #expect(executor.requests.count == 1)
        #expect(!FileManager.default.fileExists(atPath: executor.requests[0].workDirectory), "the work directory is removed")
    }

    @Test func aSecondAssignmentOfTheSameAttemptIsNotRunAgain() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (runner, _) = try makeRunner(ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded) })
        let work = assignment(JobSpec(name: "job", engine: EngineSpec(process: ProcessSettings(command: "true"))))
        let id = work.executionID
        #expect(try await runner.accept(work))
        #expect(try await !runner.accept(work))
        // An execution still running is not forgotten, even if asked to.
        await runner.forget([id])
        #expect(try await !runner.accept(work))
        #expect(await runner.knownExecutions() == [id])
    }

    @Test func anUndeclaredDatasetFailsTheExecutionWithAReason() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded) }
        let (runner, outbox) = try makeRunner(executor)
        let spec = JobSpec(
            name: "job", inputs: [InputSpec(source: .dataset(name: "genomes"), target: "/data")],
            engine: EngineSpec(process: ProcessSettings(command: "true")))
        _ = try await runner.accept(assignment(spec))
        await runner.run(assignment(spec))
        let result = try #require(await finalResult(outbox))
        #expect(result.state == .failed)
        #expect(result.reason?.contains("dataset \"genomes\" is not declared") == true)
        #expect(executor.requests.isEmpty, "nothing runs without its data")
    }

    @Test func failuresCarryTheEnginesReasonAndTheEndOfStderr() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, _ in
            ExecutionOutcome(status: .outOfMemory, reason: "exceeded its memory limit of 16Mi", stderr: Array("malloc failed\n".utf8))
        }
        let (runner, outbox) = try makeRunner(executor)
        let spec = JobSpec(name: "job", engine: EngineSpec(process: ProcessSettings(command: "true")))
        _ = try await runner.accept(assignment(spec))
        await runner.run(assignment(spec))
        let result = try #require(await finalResult(outbox))
        #expect(result.state == .failed)
        #expect(result.reason == "exceeded its memory limit of 16Mi; stderr: malloc failed")
        #expect(result.files.isEmpty, "a failed execution's outputs do not leave the node")
    }

    @Test func outputLinksToHostFilesAreNotFollowed() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let secret = "SECRET-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try Data(secret.utf8).write(to: URL(fileURLWithPath: base + "/secret.txt"))
        let secretPath = base + "/secret.txt"
        let executor = ScriptedExecutor(engine: .process) { request, _ in
            let output = try #require(request.mounts.first { $0.guestPath == "/out" })
            try Data("kept\n".utf8).write(to: URL(fileURLWithPath: output.hostPath + "/kept.txt"))
            try FileManager.default.createSymbolicLink(atPath: output.hostPath + "/absolute", withDestinationPath: secretPath)
            try FileManager.default.createSymbolicLink(atPath: output.hostPath + "/relative", withDestinationPath: "../../../../../secret.txt")
            try FileManager.default.createSymbolicLink(atPath: output.hostPath + "/node-id", withDestinationPath: "../../../../node-id")
            return ExecutionOutcome(status: .succeeded, exitCode: 0)
        }
        let (runner, outbox) = try makeRunner(executor)
        let nodeID = "n-\(UUID().uuidString)"
        try Data(nodeID.utf8).write(to: URL(fileURLWithPath: base + "/state/node-id"))
        let spec = JobSpec(
            name: "job", engine: EngineSpec(process: ProcessSettings(command: "true")), outputs: [OutputSpec(name: "results", path: "/out")])
        _ = try await runner.accept(assignment(spec))
        await runner.run(assignment(spec))
        let result = try #require(await finalResult(outbox))
        #expect(result.state == .succeeded)
        #expect(result.files.map(\.path).sorted() == ["outputs/results/kept.txt", "stderr", "stdout"])
        for file in result.files {
            let text = String(decoding: Data(base64Encoded: file.base64) ?? Data(), as: UTF8.self)
            #expect(!text.contains(secret))
            #expect(!text.contains(nodeID))
        }
        #expect(result.reason?.contains("outputs/results/absolute (symbolic link)") == true, "\(result.reason ?? "")")
    }

    /// A job printing 10 MiB of control bytes produces small messages only, at most 1 MiB of its
    /// output leaves the node, and the rest is announced as dropped.
    @Test func liveOutputIsCappedAndCutIntoSmallMessages() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, emit in
            for _ in 0..<160 { emit(.stdout, [UInt8](repeating: 1, count: 64 << 10)) }
            emit(.stderr, Array("done\n".utf8))
            return ExecutionOutcome(status: .succeeded, exitCode: 0)
        }
        let (runner, outbox) = try makeRunner(executor)
        let spec = JobSpec(name: "job", engine: EngineSpec(process: ProcessSettings(command: "true")))
        _ = try await runner.accept(assignment(spec))
        await runner.run(assignment(spec))
        let frames = await outbox.next(after: 0)
        let encoder = JSONEncoder()
        var stdout = ""
        var stderr = ""
        for frame in frames {
            guard case .executionOutput(let output) = frame.body else { continue }
            #expect(try encoder.encode(frame).count <= 128 << 10, "one output message must stay small")
            if output.stream == "stdout" { stdout += output.text } else { stderr += output.text }
        }
        #expect(stdout.hasPrefix(String(repeating: "\u{1}", count: 1 << 20) + "\n[insitu: \(9 << 20) more bytes of stdout were dropped"), "\(stdout.suffix(200))")
        #expect(stdout.utf8.count < (1 << 20) + 200)
        #expect(stderr == "done\n")
    }

    /// A sparse file's size is checked before any of it is read: an agent reading it whole ran
    /// out of memory, and crashed again when handed the same execution after a restart.
    @Test func aSparseOutputFileIsRefusedBeforeItIsRead() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { request, _ in
            let output = try #require(request.mounts.first { $0.guestPath == "/out" })
            let fd = open(output.hostPath + "/huge", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
            #expect(fd >= 0)
            #expect(ftruncate(fd, 4 << 30) == 0)
            close(fd)
            return ExecutionOutcome(status: .succeeded, exitCode: 0)
        }
        let (runner, outbox) = try makeRunner(executor)
        let spec = JobSpec(
            name: "job", engine: EngineSpec(process: ProcessSettings(command: "true")), outputs: [OutputSpec(name: "results", path: "/out")])
        let before = peakResidentBytes()
        _ = try await runner.accept(assignment(spec))
        await runner.run(assignment(spec))
        let result = try #require(await finalResult(outbox))
        #expect(result.state == .failed)
        #expect(result.reason?.contains("output file outputs/results/huge is 4 GiB") == true, "\(result.reason ?? "")")
        #expect(peakResidentBytes() - before < 256 << 20, "the agent must not read the file to learn its size")
    }

    /// The job never ends by itself (the time limit fails the test if nothing stops it), so a
    /// result at all shows the quota check stopped it, whatever the machine's load.
    @Test(.timeLimit(.minutes(1))) func outputsOverTheDiskQuotaStopTheExecution() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { request, _ in
            let output = try #require(request.mounts.first { $0.guestPath == "/out" })
            try Data(repeating: 7, count: 4 << 20).write(to: URL(fileURLWithPath: output.hostPath + "/big"))
            try await Task.sleep(for: .seconds(86_400))
            return ExecutionOutcome(status: .succeeded, exitCode: 0)
        }
        let (runner, outbox) = try makeRunner(executor, outputQuota: 1 << 20)
        let spec = JobSpec(
            name: "job", engine: EngineSpec(process: ProcessSettings(command: "true")), outputs: [OutputSpec(name: "results", path: "/out")])
        _ = try await runner.accept(assignment(spec))
        await runner.run(assignment(spec))
        let result = try #require(await finalResult(outbox))
        #expect(result.state == .failed)
        #expect(result.reason?.contains("over this node's quota of 1 MiB") == true, "\(result.reason ?? "")")
    }

    @Test func staleExecutionDirectoriesAreRemovedAtStart() throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let stale = base + "/state/executions/j-old-p0-a1/outputs/results"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try Data("left by a crash".utf8).write(to: URL(fileURLWithPath: stale + "/file"))
        _ = try makeRunner(ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded) })
        #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/state/executions").isEmpty)
    }
}

/// This process's peak resident set size (VmHWM), in bytes.
func peakResidentBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}
