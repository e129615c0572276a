import Foundation
import InsituExecutor
import InsituModel
import InsituProcess
import Testing

private func processRequest(
    _ command: String, _ args: [String], workDirectory: String, mounts: [Mount] = [], timeout: Duration? = nil
) -> ExecutionRequest {
    ExecutionRequest(
        executionID: ExecutionID(job: "job", partition: 0, attempt: 1), engine: EngineSpec(process: ProcessSettings(command: command)),
        args: args, env: ["GREETING": "hi"], mounts: mounts, workDirectory: workDirectory, timeout: timeout)
}

@Suite("ProcessExecutor")
struct ProcessExecutorTests {
    @Test func echoOutputIsCaptured() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let streamed = StreamedOutput()
        let outcome = try await ProcessExecutor(enabled: true, sandbox: nil).run(
            processRequest("/bin/echo", ["hello", "there"], workDirectory: dir.path), onOutput: streamed.onOutput)
        #expect(outcome.status == .succeeded)
        #expect(outcome.exitCode == 0)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hello there\n")
        #expect(streamed.text(.stdout) == "hello there\n")
    }

    @Test func environmentWorkDirectoryAndMountLinks() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let work = try dir.subdirectory("work")
        let data = try dir.subdirectory("dataset")
        try "rows\n".write(toFile: data + "/rows.txt", atomically: true, encoding: .utf8)
        let outcome = try await ProcessExecutor(enabled: true, sandbox: nil).run(
            processRequest(
                "sh", ["-c", "echo $GREETING; pwd; cat data/rows.txt; echo oops >&2"], workDirectory: work,
                mounts: [Mount(hostPath: data, guestPath: "/data", readOnly: true)]),
            onOutput: { _, _ in })
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hi\n\(work)\nrows\n")
        #expect(String(decoding: outcome.stderr, as: UTF8.self) == "oops\n")
    }

    @Test func nonZeroExitFails() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let outcome = try await ProcessExecutor(enabled: true, sandbox: nil).run(
            processRequest("/bin/sh", ["-c", "exit 7"], workDirectory: dir.path), onOutput: { _, _ in })
        #expect(outcome.status == .failed)
        #expect(outcome.exitCode == 7)
        #expect(outcome.reason == "exited with status 7")
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let streamed = StreamedOutput()
        let (outcome, took) = try await elapsed {
            try await ProcessExecutor(enabled: true, sandbox: nil).run(
                processRequest("/bin/sh", ["-c", "echo $$; sleep 30 & sleep 30"], workDirectory: dir.path, timeout: .milliseconds(300)),
                onOutput: streamed.onOutput)
        }
        #expect(outcome.status == .timedOut)
        #expect(outcome.reason == "exceeded its timeout of 0.3s")
        #expect(took < .seconds(15), "a 0.3 s timeout must end the run long before the job would (bound generous for loaded machines)")
        let group = try #require(Int32(streamed.text(.stdout).filter(\.isNumber)))
        // Killed members may linger as zombies until something reaps them; none may be alive.
        #expect(liveProcesses(inGroup: group).isEmpty, "process group \(group) still has live processes")
    }

    @Test func cancellationKillsTheProcess() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let task = Task {
            try await ProcessExecutor(enabled: true, sandbox: nil).run(processRequest("sleep", ["30"], workDirectory: dir.path), onOutput: { _, _ in })
        }
        try await Task.sleep(for: .milliseconds(200))
        let (outcome, took) = try await elapsed {
            task.cancel()
            return try await task.value
        }
        #expect(outcome.status == .cancelled)
        #expect(took < .seconds(10), "cancelling must end the run long before the job would (bound generous for loaded machines)")
    }

    @Test func disabledExecutorExplainsHowToEnableIt() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        do {
            _ = try await ProcessExecutor(enabled: false, sandbox: nil).run(processRequest("/bin/echo", [], workDirectory: dir.path), onOutput: { _, _ in })
            Issue.record("a disabled process engine ran a job")
        } catch let error as ExecutorError {
            #expect(error.message.contains("process engine is disabled on this node"))
            #expect(error.message.contains("engines.process.enabled: true"))
        }
    }

    @Test func aMissingCommandThrows() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        await #expect(throws: ExecutorError.self) {
            try await ProcessExecutor(enabled: true, sandbox: nil).run(
                processRequest("/nonexistent/command", [], workDirectory: dir.path), onOutput: { _, _ in })
        }
    }
}

/// PIDs of processes in `group` that are not zombies, from /proc.
func liveProcesses(inGroup group: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "(comm)": state ppid pgrp ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, Int32(fields[2]) == group, fields[0] != "Z", fields[0] != "X" else { return nil }
        return pid
    }
}
