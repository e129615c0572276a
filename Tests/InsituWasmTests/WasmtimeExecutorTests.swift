#if canImport(Glibc)
import Glibc
#endif
import Foundation
import InsituExecutor
import InsituModel
import InsituWasm
import InsituWasmtime
import Testing

/// What only the wasmtime runtime does: stop a guest in process, compile once per module, keep
/// compiled code on disk, and free what each run creates. The behaviour it shares with WasmKit
/// (output, mounts, limits, traps) is tested for every runtime in `WasmExecutorTests`.
@Suite("wasmtime runtime", .enabled(if: WasmtimeFixture.library != nil, WasmtimeFixture.skipReason))
struct WasmtimeExecutorTests {
    /// The run ends because the guest itself stopped (its thread returned), which is why the
    /// reason carries no "had not stopped" note; no fuel budget bounds the loop.
    @Test func anInfiniteLoopIsStoppedInProcessAtItsDeadline() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let executor = try WasmtimeFixture.executor()
        let (outcome, took) = try await elapsed {
            try await executor.run(
                wasmRequest(module: try wasmFile(WAT.infiniteLoop, in: dir), workDirectory: dir.path, timeout: .milliseconds(300)),
                onOutput: { _, _ in })
        }
        #expect(outcome.status == .timedOut, "\(outcome)")
        #expect(outcome.reason == "exceeded its timeout of 0.3s")
        // The loop never ends by itself; the bound only has to be finite. It is wide because the
        // whole suite runs in parallel on two cores, where one run took 17 s end to end.
        #expect(took < .seconds(60), "a 0.3 s timeout must end the run long before the job would")
    }

    @Test func cancellingStopsTheGuestInProcess() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let executor = try WasmtimeFixture.executor()
        let request = wasmRequest(module: try wasmFile(WAT.greetThenLoop, in: dir), workDirectory: dir.path)
        let streamed = StreamedOutput()
        let task = Task { try await executor.run(request, onOutput: streamed.onOutput) }
        // Cancel only once the guest runs (it printed), not while its module compiles.
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(30)
        while streamed.text(.stdout).isEmpty && clock.now < giveUp { try await Task.sleep(for: .milliseconds(10)) }
        #expect(streamed.text(.stdout) == "looping\n")
        task.cancel()
        let outcome = try await task.value
        #expect(outcome.status == .cancelled, "\(outcome)")
        #expect(outcome.reason == "cancelled", "the guest itself stopped, it was not abandoned")
    }

    /// Stopping one run advances the engine's epoch, which every store on the engine sees: the
    /// others must carry on. The survivor waits for a file that appears only after the other
    /// run was stopped, so the two certainly overlap.
    @Test func stoppingOneRunLeavesTheOthersRunning() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let data = try dir.subdirectory("data")
        let executor = try WasmtimeFixture.executor()
        let survivor = Task {
            try await executor.run(
                wasmRequest(
                    module: try wasmFile(WAT.waitForFile("go"), in: dir, name: "wait.wasm"), workDirectory: dir.path,
                    mounts: [Mount(hostPath: data, guestPath: "/data", readOnly: true)], timeout: .seconds(60)),
                onOutput: { _, _ in })
        }
        let stopped = try await executor.run(
            wasmRequest(module: try wasmFile(WAT.infiniteLoop, in: dir), workDirectory: dir.path, timeout: .milliseconds(200)),
            onOutput: { _, _ in })
        #expect(stopped.status == .timedOut)
        try "".write(toFile: data + "/go", atomically: true, encoding: .utf8)
        let outcome = try await survivor.value
        #expect(outcome.status == .succeeded, "\(outcome)")
    }

    @Test func aModuleIsCompiledOncePerContent() async throws {
        let executor = try WasmtimeFixture.executor()
        try await expectOneCompilationPerContent(executor) { executor.moduleCacheStatistics }
    }

    /// A restarted agent finds the compiled code of its earlier runs on disk.
    @Test func compiledModulesAreKeptOnDisk() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let cache = try dir.subdirectory("compiled")
        let module = try wasmFile(WAT.hello, in: dir)
        let first = try WasmtimeFixture.executor(cacheDirectory: cache)
        _ = try await first.run(wasmRequest(module: module, workDirectory: dir.path), onOutput: { _, _ in })
        #expect(first.compiledFromSource == 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".cwasm") }
        #expect(files.count == 1, "\(files)")

        let restarted = try WasmtimeFixture.executor(cacheDirectory: cache)
        let outcome = try await restarted.run(wasmRequest(module: module, workDirectory: dir.path), onOutput: { _, _ in })
        #expect(outcome.status == .succeeded)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hello, world\n")
        #expect(restarted.compiledFromSource == 0, "read back from disk, not compiled again")
    }

    /// Each leaked store keeps its instance's linear memory reservation (gigabytes of address
    /// space with wasmtime's defaults) and each leaked run its pipes: a thousand runs would show,
    /// far above what the tests running alongside hold.
    @Test func runsFreeWhatTheyCreate() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let executor = try WasmtimeFixture.executor()
        let request = wasmRequest(module: try wasmFile(WAT.hello, in: dir), workDirectory: dir.path)
        _ = try await executor.run(request, onOutput: { _, _ in })
        let (virtualBefore, descriptorsBefore) = (try virtualMemoryBytes(), openDescriptors())
        for _ in 0..<1000 {
            let outcome = try await executor.run(request, onOutput: { _, _ in })
            #expect(outcome.status == .succeeded)
        }
        let grown = try virtualMemoryBytes() - virtualBefore
        print("runsFreeWhatTheyCreate: address space \(virtualBefore >> 20) MiB → +\(grown >> 20) MiB, descriptors \(descriptorsBefore) → \(openDescriptors())")
        // Tests running alongside hold a few instances (a few reservations of 4 GiB each) at
        // a time; a leak would hold a thousand.
        #expect(grown < 64 << 30, "address space grew by \(grown >> 20) MiB over 1000 runs")
        #expect(openDescriptors() <= descriptorsBefore + 200, "descriptors leaked: \(descriptorsBefore) → \(openDescriptors())")
    }
}

/// Reported as skipped, with the reason, where the wasmtime library is not available.
@Test("wasmtime library", .enabled(if: WasmtimeFixture.library != nil, WasmtimeFixture.skipReason))
func wasmtimeLibraryLoads() throws {
    #expect(WasmtimeFixture.library?.path == WasmtimeFixture.path)
}

/// VmSize of this process ("VmSize:<tab or spaces>123456 kB": no space once the number is wide).
private func virtualMemoryBytes() throws -> Int64 {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmSize:") })
    let fields = line.dropFirst("VmSize:".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
    let kib = try #require(fields.first.flatMap { Int64($0) }, "cannot read \(line)")
    return kib << 10
}

private func openDescriptors() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
}

/// Needs no library: a file that is not one is refused with a message saying what to install.
@Test func aLibraryThatDoesNotLoadIsAClearError() throws {
    let dir = try TempDirectory()
    defer { dir.remove() }
    let notALibrary = try dir.write("lib.so", "not an ELF file")
    #expect {
        try WasmtimeLibrary.load(path: notALibrary)
    } throws: { error in
        let message = "\(error)"
        return message.contains(notALibrary) && message.contains("pip install wasmtime")
    }
}
