import Foundation
import InsituExecutor
import InsituProcess
import InsituWasm
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `insitu-wasm-runner` ends with its agent and at its own deadline, and children inherit no
/// descriptor but stdin, stdout and stderr.
@Suite struct RunnerLifetimeTests {
    /// Starts the runner on a spinning module with `request` settings and no timeout of ours
    /// beyond a safety net, so only the runner itself can end the run early.
    func runSpinner(parentPID: Int32?, timeoutMillis: Int64?, in dir: TempDirectory) async throws -> (ChildProcess.Result, String) {
        let module = try wasmFile(WAT.infiniteLoop, in: dir)
        let request = WasmRunnerRequest(
            spec: WasmRunSpec(modulePath: module, moduleName: "spin.wasm"), resultPath: dir.path + "/result.json",
            parentPID: parentPID, timeoutMillis: timeoutMillis)
        let requestPath = dir.path + "/request.json"
        try JSONEncoder().encode(request).write(to: URL(fileURLWithPath: requestPath))
        // A safety net, not a measurement: the runner must end by itself long before it, however
        // loaded the machine is.
        let result = try await ChildProcess.run(executable: try runnerPath(), arguments: [requestPath], timeout: .seconds(60))
        return (result, request.resultPath)
    }

    @Test func theRunnerEndsItselfAtItsDeadline() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (result, resultPath) = try await runSpinner(parentPID: getpid(), timeoutMillis: 300, in: dir)
        #expect(result.stopReason == nil, "the runner must end by itself, not be killed by the safety net")
        #expect(result.termination == .exited(0))
        let reported = try JSONDecoder().decode(WasmRunResult.self, from: Data(contentsOf: URL(fileURLWithPath: resultPath)))
        #expect(reported.outcomeStatus == .timedOut)
        #expect(reported.reason == "exceeded its timeout of 0.3s")
    }

    @Test func theRunnerExitsWhenItsParentIsNotTheExpectedOne() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        // No process has this ID as its parent: the runner must conclude its agent is gone.
        let (result, _) = try await runSpinner(parentPID: Int32.max, timeoutMillis: nil, in: dir)
        #expect(result.stopReason == nil, "the runner must end by itself, not be killed by the safety net")
        #expect(result.termination == .exited(3))
    }

    @Test func childrenInheritNoDescriptorBeyondStderr() async throws {
        // A descriptor this process opened without close-on-exec, like NIO's sockets.
        let leaked = open("/dev/null", O_RDONLY)
        #expect(leaked > 2)
        defer { close(leaked) }
        let result = try await ChildProcess.run(
            executable: "/bin/sh", arguments: ["-c", "if [ -e /proc/$$/fd/\(leaked) ]; then echo inherited; else echo closed; fi"])
        #expect(String(decoding: result.stdout.bytes, as: UTF8.self) == "closed\n")
    }
}
