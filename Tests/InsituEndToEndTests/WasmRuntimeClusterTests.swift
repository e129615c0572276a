import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// wasmtime's library for the agents these tests start (they inherit the environment).
private let wasmtimeLibrary: String? = ProcessInfo.processInfo.environment["INSITU_WASMTIME_LIB"].flatMap {
    FileManager.default.fileExists(atPath: $0) ? $0 : nil
}
private let skipReason: Comment =
    "INSITU_WASMTIME_LIB does not name an existing file: wasmtime end-to-end cases skipped (.ci/run installs the library)"

/// The `wasm` engine's runtime choice on real agents: what a node advertises, and the sandbox
/// on a node that runs wasmtime.
@Suite(.serialized) struct WasmRuntimeClusterTests {
    @Test func aNodeAdvertisesItsWasmRuntime() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "interpreter", wasmRuntime: "wasmkit")
        if wasmtimeLibrary != nil { try e2e.cluster.startAgent(name: "jit", wasmRuntime: "wasmtime") }
        try await e2e.cluster.waitForNodes(wasmtimeLibrary == nil ? 1 : 2)

        let nodes = try await e2e.cluster.client.nodes()
        #expect(nodes.first { $0.name == "interpreter" }?.wasmRuntime == "wasmkit")
        let described = try e2e.cli(["node", "describe", "interpreter"])
        #expect(described.stdout.contains("Engines:   wasm (wasmkit)"), "\(described.stdout)")
        if wasmtimeLibrary != nil {
            #expect(nodes.first { $0.name == "jit" }?.wasmRuntime == "wasmtime")
        }
    }

    /// A node configured for wasmtime without a library refuses to start, saying how to fix it.
    @Test func aNodeThatCannotLoadWasmtimeRefusesToStart() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let directory = e2e.root + "/lonely"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/agent.yaml"
        try """
        name: lonely
        orchestrator: http://127.0.0.1:9
        data_dir: \(directory)/state
        engines:
          wasm:
            runtime: wasmtime
            wasmtime_library: \(directory)/missing.so
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try e2e.cli(["agent", "--config", config])
        #expect(run.status != 0)
        #expect(run.stderr.contains("missing.so") && run.stderr.contains("pip install wasmtime"), "\(run.stderr)")
    }

    @Test(.enabled(if: wasmtimeLibrary != nil, skipReason))
    func aWasmtimeNodeEnforcesTheSandbox() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let data = e2e.root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try "original".write(toFile: data + "/existing.txt", atomically: true, encoding: .utf8)
        try e2e.cluster.startAgent(name: "jit", datasets: ["files": data], wasmRuntime: "wasmtime")
        try await e2e.cluster.waitForNodes(1)

        // A timeout stops the spinning guest: the job fails at about its deadline.
        let spin = try e2e.specFile(
            "spin",
            """
            version: v1
            name: spinner
            engine: {type: wasm, module: ./spin.wasm}
            timeout: 1s
            """, wat: Modules.spin)
        let started = ContinuousClock.now
        let timedOut = try await e2e.waitForState(try e2e.submit(spin)) { $0.isTerminal }
        #expect(timedOut.job.state == .failed)
        #expect(timedOut.executions.first?.stateReason?.contains("exceeded its timeout of 1s") == true, "\(timedOut.executions)")
        #expect(ContinuousClock.now - started < .seconds(30))

        // The dataset is mounted read-only: creating a file there fails in the guest.
        let write = try e2e.specFile(
            "write",
            """
            version: v1
            name: vandal
            inputs: [{dataset: files, target: /data}]
            engine: {type: wasm, module: ./write.wasm}
            """, wat: Modules.createFile("new.txt"))
        let refused = try await e2e.waitForState(try e2e.submit(write)) { $0.isTerminal }
        #expect(refused.job.state == .failed)
        #expect((refused.executions.first?.exitCode ?? 0) != 0)
        #expect(!FileManager.default.fileExists(atPath: data + "/new.txt"))

        // Nothing outside the mounts.
        let escape = try e2e.specFile(
            "escape",
            """
            version: v1
            name: escape
            inputs: [{dataset: files, target: /data}]
            engine: {type: wasm, module: ./escape.wasm}
            """, wat: Modules.escape)
        let escaped = try await e2e.waitForState(try e2e.submit(escape)) { $0.isTerminal }
        #expect(escaped.job.state == .failed)

        // No network: a module that asks for a socket is not linked, so it never runs.
        let socket = try e2e.specFile(
            "socket",
            """
            version: v1
            name: socket
            engine: {type: wasm, module: ./socket.wasm}
            retry: {attempts: 1}
            """, wat: Modules.socketOpener)
        let unlinked = try await e2e.waitForState(try e2e.submit(socket)) { $0.isTerminal }
        #expect(unlinked.job.state == .failed)
        #expect(unlinked.executions.first?.stateReason?.contains("sock_open") == true, "\(unlinked.executions)")

        // Memory beyond the job's limit is refused.
        let memory = try e2e.specFile(
            "memory",
            """
            version: v1
            name: memory-hog
            engine: {type: wasm, module: ./memory.wasm, memory: 16Mi}
            """, wat: Modules.memoryHog)
        let hog = try await e2e.waitForState(try e2e.submit(memory)) { $0.isTerminal }
        #expect(hog.job.state == .failed)
        #expect(hog.job.stateReason?.contains("memory") == true, "\(hog.job.stateReason ?? "")")

        // `job stop` stops a running guest; the node reports it cancelled.
        let forever = try e2e.specFile(
            "forever",
            """
            version: v1
            name: forever
            engine: {type: wasm, module: ./spin.wasm}
            """, wat: Modules.spin)
        let id = try e2e.submit(forever)
        _ = try await e2e.waitForState(id) { $0 == .running }
        #expect(try e2e.cli(["job", "stop", id]).status == 0)
        try await waitUntil(timeout: .seconds(30), "the node to report the execution cancelled") {
            try await e2e.cluster.client.job(id).executions.allSatisfy { $0.state == .cancelled }
        }

        // The node still runs work after all that.
        let hello = try e2e.specFile(
            "hello",
            """
            version: v1
            name: hello
            engine: {type: wasm, module: ./hello.wasm}
            """, wat: Modules.hello)
        let greeted = try await e2e.waitForState(try e2e.submit(hello)) { $0.isTerminal }
        #expect(greeted.job.state == .completed, "\(greeted.job.stateReason ?? "")")
    }
}
