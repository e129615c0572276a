import Foundation
import InsituExecutor
import InsituModel
import InsituWasm
import InsituWasmtime
import Testing

private let EBADF: Int32 = 8
private let EROFS: Int32 = 69
private let EPERM: Int32 = 63

extension Mode {
    /// The WASI errno a write through a read-only mount fails with: WasmKit's guard answers
    /// EROFS; wasmtime refuses the mutation right itself with EPERM.
    var readOnlyErrno: Int32 { self == .wasmtime ? EPERM : EROFS }
}

@Suite("WasmExecutor")
struct WasmExecutorTests {
    @Test(arguments: Mode.available)
    func helloWorldIsCapturedAndStreamed(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let streamed = StreamedOutput()
        let outcome = try await mode.executor().run(
            wasmRequest(module: try wasmFile(WAT.hello, in: dir), workDirectory: dir.path), onOutput: streamed.onOutput)
        #expect(outcome.status == .succeeded)
        #expect(outcome.exitCode == 0)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hello, world\n")
        #expect(streamed.text(.stdout) == "hello, world\n")
    }

    @Test(arguments: Mode.available)
    func readsAFileFromAReadOnlyMount(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        try "patient rows\n".write(toFile: data + "/rows.txt", atomically: true, encoding: .utf8)
        let outcome = try await mode.executor().run(
            wasmRequest(
                module: try wasmFile(WAT.cat("rows.txt", directory: 3), in: dir), workDirectory: dir.path,
                mounts: [Mount(hostPath: data, guestPath: "/data", readOnly: true)]),
            onOutput: { _, _ in })
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "patient rows\n")
    }

    @Test(arguments: Mode.available)
    func writesIntoAWritableOutputsMount(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        let outputs = try dir.subdirectory("outputs")
        let outcome = try await mode.executor().run(
            wasmRequest(
                module: try wasmFile(WAT.write("42", to: "result.txt", directory: 4), in: dir), workDirectory: dir.path,
                mounts: [
                    Mount(hostPath: data, guestPath: "/data", readOnly: true),
                    Mount(hostPath: outputs, guestPath: "/outputs", readOnly: false),
                ]),
            onOutput: { _, _ in })
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(try String(contentsOfFile: outputs + "/result.txt", encoding: .utf8) == "42")
    }

    @Test(arguments: Mode.available)
    func writingIntoAReadOnlyMountFails(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        try "original".write(toFile: data + "/existing.txt", atomically: true, encoding: .utf8)
        let mounts = [Mount(hostPath: data, guestPath: "/data", readOnly: true)]
        let executor = try mode.executor()

        let create = try await executor.run(
            wasmRequest(module: try wasmFile(WAT.write("x", to: "new.txt", directory: 3), in: dir, name: "create.wasm"),
                workDirectory: dir.path, mounts: mounts),
            onOutput: { _, _ in })
        #expect(create.status == .failed)
        #expect(create.exitCode == mode.readOnlyErrno)
        #expect(!FileManager.default.fileExists(atPath: data + "/new.txt"))

        let overwrite = try await executor.run(
            wasmRequest(
                module: try wasmFile(WAT.write("x", to: "existing.txt", directory: 3, create: false), in: dir, name: "ow.wasm"),
                workDirectory: dir.path, mounts: mounts),
            onOutput: { _, _ in })
        #expect(overwrite.status == .failed)
        #expect(overwrite.exitCode == mode.readOnlyErrno)
        #expect(try String(contentsOfFile: data + "/existing.txt", encoding: .utf8) == "original")
    }

    @Test(arguments: Mode.available)
    func pathsOutsideTheMountsAreRefused(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        let executor = try mode.executor()
        let mounts = [Mount(hostPath: data, guestPath: "/data", readOnly: true)]
        let attempts: [(name: String, wat: String, mounts: [Mount])] = [
            ("dotdot", WAT.cat("../../../../../../etc/passwd", directory: 3), mounts),
            ("absolute", WAT.cat("/etc/passwd", directory: 3), mounts),
            ("no-preopen", WAT.cat("etc/passwd", directory: 3), []),
        ]
        for attempt in attempts {
            let outcome = try await executor.run(
                wasmRequest(module: try wasmFile(attempt.wat, in: dir, name: attempt.name + ".wasm"), workDirectory: dir.path,
                    mounts: attempt.mounts),
                onOutput: { _, _ in })
            #expect(outcome.status == .failed, "\(attempt.name): \(outcome)")
            #expect((outcome.exitCode ?? 0) != 0, "\(attempt.name) should fail with an errno")
            #expect(outcome.stdout.isEmpty, "\(attempt.name) read \(String(decoding: outcome.stdout, as: UTF8.self))")
        }
    }

    @Test(arguments: Mode.available)
    func memoryGrowthBeyondTheLimitIsOutOfMemory(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let outcome = try await mode.executor().run(
            wasmRequest(module: try wasmFile(WAT.growForever, in: dir), workDirectory: dir.path, memoryLimitBytes: 4 << 20),
            onOutput: { _, _ in })
        #expect(outcome.status == .outOfMemory, "\(outcome)")
        #expect(outcome.reason?.contains("4 MiB") == true)
        #expect(outcome.reason?.contains("raise engine.memory in the job spec") == true)
    }

    @Test func anInfiniteLoopTimesOutInAChildProcess() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (outcome, took) = try await elapsed {
            try await Mode.childProcess.executor().run(
                wasmRequest(module: try wasmFile(WAT.infiniteLoop, in: dir), workDirectory: dir.path, timeout: .milliseconds(300)),
                onOutput: { _, _ in })
        }
        #expect(outcome.status == .timedOut)
        #expect(outcome.reason == "exceeded its timeout of 0.3s")
        #expect(took < .seconds(15), "a 0.3 s timeout must end the run long before the job would (bound generous for loaded machines)")
    }

    @Test func automaticIsolationUsesAChildProcessForTimeouts() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let executor = WasmExecutor(isolation: .automatic(runnerPath: try runnerPath()))
        let (outcome, took) = try await elapsed {
            try await executor.run(
                wasmRequest(module: try wasmFile(WAT.infiniteLoop, in: dir), workDirectory: dir.path, timeout: .milliseconds(300)),
                onOutput: { _, _ in })
        }
        #expect(outcome.status == .timedOut)
        #expect(outcome.reason == "exceeded its timeout of 0.3s")
        #expect(took < .seconds(15), "a 0.3 s timeout must end the run long before the job would (bound generous for loaded machines)")
        let hello = try await executor.run(
            wasmRequest(module: try wasmFile(WAT.hello, in: dir, name: "hello.wasm"), workDirectory: dir.path), onOutput: { _, _ in })
        #expect(hello.status == .succeeded)
        #expect(executor.moduleCacheStatistics.parses == 1, "the run without a timeout ran in process")
    }

    /// In process, a deadline returns at once but cannot stop the guest (WasmKit has no
    /// interrupt); the fuel budget here bounds how long the abandoned thread keeps spinning.
    @Test func anInProcessTimeoutReturnsPromptlyAndSaysTheModuleKeepsRunning() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (outcome, took) = try await elapsed {
            try await Mode.inProcess.executor().run(
                wasmRequest(
                    module: try wasmFile(WAT.infiniteLoop, in: dir), workDirectory: dir.path, fuel: 100_000_000,
                    timeout: .milliseconds(300)),
                onOutput: { _, _ in })
        }
        #expect(outcome.status == .timedOut)
        #expect(took < .seconds(15), "a 0.3 s timeout must end the run long before the job would (bound generous for loaded machines)")
        print("in-process timeout: \(outcome.reason ?? "") after \(took)")
    }

    @Test(arguments: Mode.available)
    func cancellingTheTaskOfAnInfiniteLoopIsPrompt(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let executor = try mode.executor()
        let request = wasmRequest(module: try wasmFile(WAT.infiniteLoop, in: dir), workDirectory: dir.path, fuel: 100_000_000)
        let task = Task { try await executor.run(request, onOutput: { _, _ in }) }
        try await Task.sleep(for: .milliseconds(200))
        let (outcome, took) = try await elapsed {
            task.cancel()
            return try await task.value
        }
        #expect(outcome.status == .cancelled || outcome.status == .timedOut, "\(outcome)")
        #expect(took < .seconds(10), "cancelling must end the run long before the job would (bound generous for loaded machines)")
        if mode == .childProcess { #expect(outcome.status == .cancelled) }
    }

    @Test(arguments: Mode.available)
    func runningOutOfFuelTimesOut(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let outcome = try await mode.executor().run(
            wasmRequest(module: try wasmFile(WAT.infiniteLoop, in: dir), workDirectory: dir.path, fuel: 10_000),
            onOutput: { _, _ in })
        #expect(outcome.status == .timedOut)
        #expect(outcome.reason == "exceeded its instruction budget (engine.fuel = 10000)")
    }

    /// WASI preview 1 can use sockets only when the host hands them in, and no runtime here
    /// does; a module that asks for a socket-creating function (WasmEdge's `sock_open`) is not
    /// linked at all, so it never runs.
    @Test(arguments: Mode.available)
    func aModuleThatWantsToOpenASocketDoesNotRun(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let module = """
            (module
              (import "wasi_snapshot_preview1" "sock_open" (func $sock_open (param i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "_start") (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0)))))
            """
        let result: Result<ExecutionOutcome, any Error>
        do {
            result = .success(try await mode.executor().run(wasmRequest(module: try wasmFile(module, in: dir), workDirectory: dir.path), onOutput: { _, _ in }))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let outcome):
            #expect(outcome.status == .failed, "\(outcome)")
            #expect(outcome.reason?.contains("sock_open") == true, "\(outcome.reason ?? "")")
        case .failure(let error):
            #expect("\(error)".contains("sock_open"), "\(error)")
        }
    }

    @Test(arguments: Mode.available)
    func aTrapFails(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let outcome = try await mode.executor().run(
            wasmRequest(module: try wasmFile(WAT.unreachable, in: dir), workDirectory: dir.path), onOutput: { _, _ in })
        #expect(outcome.status == .failed)
        #expect(outcome.exitCode == nil)
        #expect(outcome.reason?.contains("unreachable") == true, "\(outcome.reason ?? "")")
    }

    @Test(arguments: Mode.available)
    func nonZeroProcExitFails(mode: Mode) async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let outcome = try await mode.executor().run(
            wasmRequest(module: try wasmFile(WAT.exit(3), in: dir), workDirectory: dir.path), onOutput: { _, _ in })
        #expect(outcome.status == .failed)
        #expect(outcome.exitCode == 3)
        #expect(outcome.reason == "exited with status 3")
    }

    @Test func sameModuleIsParsedOnce() async throws {
        let executor = WasmExecutor(isolation: .inProcess)
        try await expectOneCompilationPerContent(executor) { executor.moduleCacheStatistics }
    }

    @Test func aMissingModuleThrows() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        await #expect(throws: ExecutorError.self) {
            try await WasmExecutor().run(wasmRequest(module: dir.path + "/nope.wasm", workDirectory: dir.path), onOutput: { _, _ in })
        }
    }

    /// Prints the cost of each isolation mode; asserts nothing about timing.
    @Test func isolationCost() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let request = wasmRequest(module: try wasmFile(WAT.hello, in: dir), workDirectory: dir.path)
        for (mode, runs) in [(Mode.inProcess, 300), (Mode.childProcess, 40)] {
            let executor = try mode.executor()
            _ = try await executor.run(request, onOutput: { _, _ in })
            var samples: [Duration] = []
            for _ in 0..<runs {
                let (outcome, took) = try await elapsed { try await executor.run(request, onOutput: { _, _ in }) }
                #expect(outcome.status == .succeeded)
                samples.append(took)
            }
            samples.sort()
            let median = samples[samples.count / 2]
            let micros = median.components.seconds * 1_000_000 + median.components.attoseconds / 1_000_000_000_000
            print("isolation cost: \(mode.rawValue) median \(micros) µs per trivial run (\(runs) runs)")
        }
    }
}

/// Runs one module twice from one path and once from a copy: the executor should parse or
/// compile it once, keyed by content, and hit its cache twice.
func expectOneCompilationPerContent(
    _ executor: some Executor, statistics: () -> ModuleCacheStatistics
) async throws {
    let dir = try TempDirectory()
    defer { dir.remove() }
    let first = try wasmFile(WAT.hello, in: dir, name: "a.wasm")
    let copy = try wasmFile(WAT.hello, in: dir, name: "b.wasm")
    for path in [first, first, copy] {
        let outcome = try await executor.run(wasmRequest(module: path, workDirectory: dir.path), onOutput: { _, _ in })
        #expect(outcome.status == .succeeded)
    }
    #expect(statistics() == ModuleCacheStatistics(hits: 2, parses: 1))
}
