import Crypto
import Foundation
import InsituAPI
@testable import InsituAgent
import InsituExecutor
import InsituModel
import InsituPolicy
import InsituTestKit
import Logging
import Testing

/// The node's policy enforced by the agent itself: assignments are handed straight to the
/// runner, as a compromised orchestrator would send them whatever the node advertised.
@Suite struct NodePolicyEnforcementTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-policy-\(UUID().uuidString)").path
    static let approved = ContentDigest(rawValue: String(repeating: "a", count: 64))!
    static let other = ContentDigest(rawValue: String(repeating: "b", count: 64))!

    func makeRunner(_ policy: NodePolicy, _ executors: [EngineKind: any Executor]) throws -> (ExecutionRunner, Outbox) {
        try FileManager.default.createDirectory(atPath: base + "/patients", withIntermediateDirectories: true)
        let config = AgentConfig(
            name: "site", orchestrators: ["http://127.0.0.1:1"], dataDirectory: base + "/state",
            datasets: [.init(name: "patients", path: base + "/patients")], policy: policy)
        let outbox = Outbox(store: try AgentStore.inMemory())
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        return (try ExecutionRunner(config: config, outbox: outbox, logger: logger, executors: executors), outbox)
    }

    func run(_ spec: JobSpec, on runner: ExecutionRunner, _ outbox: Outbox) async throws -> (ExecutionResultMessage, [ExecutionOutput]) {
        let work = ExecutionAssignment(executionID: ExecutionID(job: "j-1", partition: 0, attempt: 1), jobID: "j-1", partition: 0, spec: spec)
        #expect(try await runner.accept(work))
        await runner.run(work)
        var result: ExecutionResultMessage?
        var outputs: [ExecutionOutput] = []
        for frame in await outbox.next(after: 0) {
            switch frame.body {
            case .executionResult(let message): result = message
            case .executionOutput(let output): outputs.append(output)
            default: break
            }
        }
        return (try #require(result), outputs)
    }

    static func processJob(namespace: String = "default", outputs: [OutputSpec] = []) -> JobSpec {
        JobSpec(
            name: "job", namespace: namespace, inputs: [InputSpec(source: .dataset(name: "patients"), target: "/data")],
            engine: EngineSpec(process: ProcessSettings(command: "true")), outputs: outputs)
    }

    static func wasmJob(_ module: ContentDigest, url: String? = nil, signature: String? = nil) -> JobSpec {
        JobSpec(
            name: "job", inputs: [InputSpec(source: .dataset(name: "patients"), target: "/data")],
            engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: module, url: url), signature: signature)))
    }

    @Test func aNamespaceTheDatasetDoesNotAllowIsRefusedBeforeTheEngineRuns() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded, exitCode: 0) }
        let (runner, outbox) = try makeRunner(NodePolicy(datasets: ["patients": .init(namespaces: ["clinical"])]), [.process: executor])
        let (result, _) = try await run(Self.processJob(namespace: "research"), on: runner, outbox)
        #expect(result.state == .failed)
        #expect(
            result.reason?.hasPrefix("node policy: namespace \"research\" may not use dataset \"patients\" (allowed: clinical)") == true,
            "\(result.reason ?? "")")
        #expect(executor.requests.isEmpty, "the engine never saw it")
        #expect(!FileManager.default.fileExists(atPath: base + "/state/executions/j-1-0-1"))
    }

    /// The module is refused by digest before the node tries to fetch it (the URL points
    /// nowhere: a fetch would fail with another reason).
    @Test func aModuleNotApprovedForTheDatasetIsRefusedBeforeItIsFetched() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .wasm) { _, _ in ExecutionOutcome(status: .succeeded, exitCode: 0) }
        let (runner, outbox) = try makeRunner(NodePolicy(datasets: ["patients": .init(modules: [Self.approved])]), [.wasm: executor])
        let (result, _) = try await run(Self.wasmJob(Self.other, url: "http://127.0.0.1:1/m.wasm"), on: runner, outbox)
        #expect(result.state == .failed)
        #expect(result.reason?.hasPrefix("node policy: module \(Self.other) may not read dataset \"patients\"") == true, "\(result.reason ?? "")")
        #expect(executor.requests.isEmpty)
    }

    @Test func aModuleSignedByAKeyTheDatasetTrustsGetsPastThePolicy() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let key = Curve25519.Signing.PrivateKey()
        let executor = ScriptedExecutor(engine: .wasm) { _, _ in ExecutionOutcome(status: .succeeded, exitCode: 0) }
        let policy = NodePolicy(datasets: ["patients": .init(trustedKeys: [ModuleSignature.text(of: key.publicKey)])])
        let (runner, outbox) = try makeRunner(policy, [.wasm: executor])
        // Already in the node's module cache, so the run needs no fetch.
        try Data("module".utf8).write(to: URL(fileURLWithPath: base + "/state/modules/\(Self.other.rawValue).wasm"))
        let signature = try ModuleSignature.sign(Self.other, with: key)
        let (result, _) = try await run(Self.wasmJob(Self.other, signature: signature), on: runner, outbox)
        #expect(result.state == .succeeded, "\(result.reason ?? "")")
        #expect(executor.requests.count == 1)
        // Signed by another key: refused.
        let (otherRunner, otherOutbox) = try makeRunner(
            NodePolicy(datasets: ["patients": .init(trustedKeys: [ModuleSignature.text(of: Curve25519.Signing.PrivateKey().publicKey)])]),
            [.wasm: executor])
        let (refused, _) = try await run(Self.wasmJob(Self.other, signature: signature), on: otherRunner, otherOutbox)
        #expect(refused.reason?.contains("its signature does not verify with a key the node trusts") == true, "\(refused.reason ?? "")")
        #expect(executor.requests.count == 1)
    }

    @Test func aModuleURLOnAHostThePolicyDoesNotAllowIsRefused() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .wasm) { _, _ in ExecutionOutcome(status: .succeeded, exitCode: 0) }
        let (runner, outbox) = try makeRunner(NodePolicy(moduleHosts: ["modules.example.org"]), [.wasm: executor])
        let (result, _) = try await run(Self.wasmJob(Self.other, url: "http://10.1.2.3/m.wasm"), on: runner, outbox)
        #expect(result.reason?.hasPrefix("node policy: modules may not be fetched from host \"10.1.2.3\"") == true, "\(result.reason ?? "")")
    }

    @Test func anEngineThePolicyDoesNotAllowIsRefused() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, _ in ExecutionOutcome(status: .succeeded, exitCode: 0) }
        let (runner, outbox) = try makeRunner(NodePolicy(engines: [.wasm]), [.process: executor])
        let (result, _) = try await run(Self.processJob(), on: runner, outbox)
        #expect(result.reason?.hasPrefix("node policy: engine process may not run on this node (allowed: wasm)") == true, "\(result.reason ?? "")")
        #expect(executor.requests.isEmpty)
    }

    @Test func outputOverThePolicyLimitFailsTheExecutionAndNoneOfItLeaves() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { request, _ in
            let output = try #require(request.mounts.first { $0.guestPath == "/out" })
            try Data(repeating: 7, count: 2_000).write(to: URL(fileURLWithPath: output.hostPath + "/big.bin"))
            return ExecutionOutcome(status: .succeeded, exitCode: 0, stdout: Array("small\n".utf8))
        }
        let (runner, outbox) = try makeRunner(NodePolicy(output: .init(maxBytes: 1_000)), [.process: executor])
        let (result, _) = try await run(Self.processJob(outputs: [OutputSpec(name: "results", path: "/out")]), on: runner, outbox)
        #expect(result.state == .failed)
        #expect(result.files.isEmpty)
        let reason = result.reason ?? ""
        #expect(reason.hasPrefix("node policy: output file outputs/results/big.bin is 1.9 KiB, over this node's limit of 1000 bytes"), "\(reason)")
        #expect(reason.contains("policy.output.max_bytes"))
    }

    @Test func streamsThePolicyKeepsOnTheNodeNeverLeaveIt() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, emit in
            emit(.stdout, Array("patient 17 has X\n".utf8))
            emit(.stderr, Array("progress\n".utf8))
            return ExecutionOutcome(status: .succeeded, exitCode: 0, stdout: Array("patient 17 has X\n".utf8), stderr: Array("progress\n".utf8))
        }
        let (runner, outbox) = try makeRunner(NodePolicy(output: .init(stdout: false)), [.process: executor])
        let (result, outputs) = try await run(Self.processJob(), on: runner, outbox)
        #expect(result.state == .succeeded)
        #expect(result.files.map(\.path) == ["stderr"])
        #expect(outputs.allSatisfy { $0.stream == "stderr" })
        #expect(outputs.map(\.text).joined() == "progress\n")
    }

    @Test func aFailuresReasonCarriesNoStderrWhenStderrMayNotLeave() async throws {
        defer { try? FileManager.default.removeItem(atPath: base) }
        let executor = ScriptedExecutor(engine: .process) { _, _ in
            ExecutionOutcome(status: .failed, exitCode: 3, stderr: Array("secret row 42\n".utf8))
        }
        let (runner, outbox) = try makeRunner(NodePolicy(output: .init(stderr: false)), [.process: executor])
        let (result, _) = try await run(Self.processJob(), on: runner, outbox)
        #expect(result.state == .failed)
        #expect(result.reason == "exited with status 3")
    }
}
