import Foundation
import InsituLocalCluster
import InsituExecutor
import InsituModel
import InsituWasm
import InsituWasmtime
import Synchronization
import Testing
import WAT

/// A fresh directory under the system temp dir, removed by the caller with `remove()`.
struct TempDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "insitu-wasm-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func subdirectory(_ name: String) throws -> String {
        let sub = path + "/" + name
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return sub
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Compiles WAT text to a module file in `directory`.
func wasmFile(_ wat: String, in directory: TempDirectory, name: String = "module.wasm") throws -> String {
    let bytes = try wat2wasm(wat)
    let path = directory.path + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

func wasmRequest(
    module: String, workDirectory: String, args: [String] = [], env: [String: String] = [:], mounts: [Mount] = [],
    memoryLimitBytes: Int64 = 64 << 20, fuel: UInt64? = nil, timeout: Duration? = nil
) -> ExecutionRequest {
    let digest = ContentDigest(rawValue: String(repeating: "0", count: 64))!
    return ExecutionRequest(
        executionID: ExecutionID(job: "job", partition: 0, attempt: 1),
        engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest), memoryLimitBytes: memoryLimitBytes, fuel: fuel)),
        modulePath: module, args: args, env: env, mounts: mounts, workDirectory: workDirectory, timeout: timeout)
}

/// Collects what an executor streams to `onOutput`.
final class StreamedOutput: Sendable {
    private let chunks = Mutex<[InsituExecutor.OutputStream: [UInt8]]>([:])
    var onOutput: @Sendable (InsituExecutor.OutputStream, [UInt8]) -> Void {
        { stream, bytes in self.chunks.withLock { $0[stream, default: []].append(contentsOf: bytes) } }
    }
    func text(_ stream: InsituExecutor.OutputStream) -> String { String(decoding: chunks.withLock { $0[stream] ?? [] }, as: UTF8.self) }
}

/// The `insitu-wasm-runner` built next to this test bundle. Fails the test (never skips) when it
/// is missing.
func runnerPath(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    if let path = LocalCluster.locateExecutable(named: "insitu-wasm-runner") { return path }
    Issue.record(
        "insitu-wasm-runner was not found beside the test bundle (or beside $INSITU_BINARY); build the product first: swift build --product insitu-wasm-runner",
        sourceLocation: sourceLocation)
    throw RunnerMissing()
}

struct RunnerMissing: Error {}

func elapsed<T>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let value = try await body()
    return (value, clock.now - start)
}

// MARK: WAT sources

enum WAT {
    static let wasiImports = """
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
        """

    static let hello = """
        (module
        \(wasiImports)
          (memory (export "memory") 1)
          (data (i32.const 16) "hello, world\\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 13))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
        """

    /// Opens `path` relative to descriptor `directory` and copies it to stdout; exits with the
    /// errno of the first call that fails.
    static func cat(_ path: String, directory: Int) -> String {
        """
        (module
        \(wasiImports)
          (memory (export "memory") 1)
          (data (i32.const 1024) "\(path)")
          (func (export "_start") (local $err i32) (local $fd i32)
            (local.set $err (call $path_open (i32.const \(directory)) (i32.const 0) (i32.const 1024) (i32.const \(path.utf8.count))
              (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 100)))
            (if (local.get $err) (then (call $proc_exit (local.get $err))))
            (local.set $fd (i32.load (i32.const 100)))
            (i32.store (i32.const 0) (i32.const 4096))
            (i32.store (i32.const 4) (i32.const 4096))
            (local.set $err (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
            (if (local.get $err) (then (call $proc_exit (local.get $err))))
            (i32.store (i32.const 4) (i32.load (i32.const 8)))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))
        """
    }

    /// Creates (or truncates) `path` relative to descriptor `directory` and writes `content`;
    /// exits with the errno of the first call that fails.
    static func write(_ content: String, to path: String, directory: Int, create: Bool = true) -> String {
        """
        (module
        \(wasiImports)
          (memory (export "memory") 1)
          (data (i32.const 1024) "\(path)")
          (data (i32.const 2048) "\(content)")
          (func (export "_start") (local $err i32) (local $fd i32)
            (local.set $err (call $path_open (i32.const \(directory)) (i32.const 0) (i32.const 1024) (i32.const \(path.utf8.count))
              (i32.const \(create ? 9 : 0)) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 100)))
            (if (local.get $err) (then (call $proc_exit (local.get $err))))
            (local.set $fd (i32.load (i32.const 100)))
            (i32.store (i32.const 0) (i32.const 2048))
            (i32.store (i32.const 4) (i32.const \(content.utf8.count)))
            (local.set $err (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
            (if (local.get $err) (then (call $proc_exit (local.get $err))))))
        """
    }

    /// Tries to open `name` in the first preopen until it exists, then exits 0.
    static func waitForFile(_ name: String) -> String {
        """
        (module
        \(wasiImports)
          (memory (export "memory") 1)
          (data (i32.const 1024) "\(name)")
          (func (export "_start")
            (loop $l
              (if (i32.eqz (call $path_open (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const \(name.utf8.count))
                    (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 100)))
                (then (call $proc_exit (i32.const 0))))
              (br $l))))
        """
    }

    /// Prints "looping" and then spins forever.
    static let greetThenLoop = """
        (module
        \(wasiImports)
          (memory (export "memory") 1)
          (data (i32.const 16) "looping\\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 8))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (loop $l (br $l))))
        """

    static let infiniteLoop = """
        (module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))
        """

    static let growForever = """
        (module
          (memory (export "memory") 1)
          (func (export "_start")
            (loop $l
              (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then unreachable))
              (br $l))))
        """

    static let unreachable = """
        (module (memory (export "memory") 1) (func (export "_start") unreachable))
        """

    static func exit(_ code: Int) -> String {
        """
        (module
        \(wasiImports)
          (memory (export "memory") 1)
          (func (export "_start") (call $proc_exit (i32.const \(code)))))
        """
    }
}

// MARK: Runtimes

/// Every way this node can run a `wasm` job; the executor tests run against each.
enum Mode: String, CaseIterable, CustomTestStringConvertible {
    /// WasmKit on a thread of this process.
    case inProcess
    /// WasmKit in an `insitu-wasm-runner` process per run.
    case childProcess
    /// wasmtime's JIT through its C library, in this process.
    case wasmtime
    var testDescription: String { rawValue }

    /// The modes this machine can run: wasmtime only when its library is available (see
    /// `WasmtimeFixture`; the `wasmtime library` test reports why it is skipped otherwise).
    static var available: [Mode] { allCases.filter { $0 != .wasmtime || WasmtimeFixture.library != nil } }

    func executor() throws -> any Executor {
        switch self {
        case .inProcess: WasmExecutor(isolation: .inProcess)
        case .childProcess: WasmExecutor(isolation: .childProcess(runnerPath: try runnerPath()))
        case .wasmtime: try WasmtimeFixture.executor()
        }
    }
}

/// wasmtime's library for the tests, from `INSITU_WASMTIME_LIB` (`.ci/run` installs it and sets
/// the variable).
enum WasmtimeFixture {
    static let path: String? = WasmtimeLibrary.configuredPath(config: nil, environment: ProcessInfo.processInfo.environment)
    static let library: WasmtimeLibrary? = path.flatMap { try? WasmtimeLibrary.load(path: $0) }
    static var skipReason: Comment {
        if let path {
            "INSITU_WASMTIME_LIB=\(path) does not load: wasmtime cases skipped"
        } else {
            "INSITU_WASMTIME_LIB is not set: wasmtime cases skipped (python3 -m venv V && V/bin/pip install 'wasmtime==50.*', then export INSITU_WASMTIME_LIB=V/lib/python3*/site-packages/wasmtime/linux-x86_64/_libwasmtime.so)"
        }
    }

    static func executor(cacheDirectory: String? = nil) throws -> WasmtimeExecutor {
        guard let library else { throw WasmtimeMissing() }
        return try WasmtimeExecutor(library: library, cacheDirectory: cacheDirectory)
    }
}

struct WasmtimeMissing: Error {}
