import Foundation
import InsituAPI
@testable import InsituAgent
import InsituModel
import Testing

@Suite struct OutboxTests {
    func result(_ id: String) -> AgentMessage {
        .executionResult(ExecutionResultMessage(executionID: ExecutionID(rawValue: id), state: .succeeded, exitCode: 0, reason: nil, files: []))
    }

    @Test func unacknowledgedMessagesAreSentAgainOnTheNextConnection() async throws {
        let outbox = Outbox(store: try AgentStore.inMemory())
        await outbox.send(result("a"))
        await outbox.send(.heartbeat(Heartbeat(runningExecutions: [])))
        let first = await outbox.next(after: 0)
        #expect(first.map(\.seq) == [1, 2])
        // The link drops before any acknowledgement: a new connection starts from 0 again.
        let again = await outbox.next(after: 0)
        #expect(again.map(\.seq) == [1, 2])
        // Acknowledging 1 settles execution "a" and leaves only 2.
        #expect(await outbox.acknowledge(upTo: 1) == [ExecutionID(rawValue: "a")])
        #expect(await outbox.next(after: 0).map(\.seq) == [2])
        #expect(await outbox.acknowledge(upTo: 2).isEmpty)
        #expect(await outbox.unacknowledgedCount == 0)
    }

    @Test func unnumberedMessagesGoOutOnceAndCarryTheLatestAcknowledgement() async throws {
        let outbox = Outbox(store: try AgentStore.inMemory())
        await outbox.received(41)
        await outbox.sendOnce(nil)
        let frames = await outbox.next(after: 0)
        #expect(frames.count == 1)
        #expect(frames[0].seq == 0 && frames[0].ack == 41 && frames[0].body == nil)
        await outbox.send(result("b"))
        #expect(await outbox.next(after: 0).map(\.seq) == [1], "the acknowledgement was not repeated")
    }

    @Test func aWaitingWriterWakesWhenAMessageIsQueued() async throws {
        let outbox = Outbox(store: try AgentStore.inMemory())
        async let frames = outbox.next(after: 0)
        try? await Task.sleep(for: .milliseconds(50))
        await outbox.send(result("c"))
        #expect(await frames.map(\.seq) == [1])
    }

    /// A frame over the protocol's limit would make the orchestrator close the link, and the
    /// outbox would send it again on every reconnect: it must never be queued as it is.
    @Test func noQueuedFrameExceedsTheProtocolsLimit() async throws {
        let outbox = Outbox(store: try AgentStore.inMemory())
        let huge = String(repeating: "A", count: NodeProtocol.maxMessageBytes)
        let digest = ContentDigest(rawValue: String(repeating: "0", count: 64))!
        await outbox.send(
            .executionResult(
                ExecutionResultMessage(
                    executionID: ExecutionID(rawValue: "big"), state: .succeeded, exitCode: 0, reason: nil,
                    files: [ResultFilePayload(path: "outputs/r/x", base64: huge, sha256: digest)])))
        await outbox.send(.executionOutput(ExecutionOutput(executionID: ExecutionID(rawValue: "big"), stream: "stdout", text: huge)))
        await outbox.send(result("small"))
        let frames = await outbox.next(after: 0)
        let encoder = JSONEncoder()
        for frame in frames {
            #expect(try encoder.encode(frame).count <= NodeProtocol.maxMessageBytes)
        }
        guard frames.count == 2, case .executionResult(let replaced) = frames[0].body, case .executionResult(let small) = frames[1].body else {
            Issue.record("expected the replaced result and the small one, got \(frames.count) frames")
            return
        }
        #expect(replaced.executionID.rawValue == "big" && replaced.state == .failed && replaced.files.isEmpty)
        #expect(replaced.reason?.contains("over the 32 MiB one node-protocol message may carry") == true, "\(replaced.reason ?? "")")
        #expect(small.executionID.rawValue == "small" && small.state == .succeeded)
    }

    @Test func cancellingAWaitingWriterReturnsNothing() async throws {
        let outbox = Outbox(store: try AgentStore.inMemory())
        let task = Task { await outbox.next(after: 0) }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value.isEmpty)
    }
}

@Suite struct AgentConfigTests {
    @Test func aValidConfigResolvesPathsAgainstItsDirectory() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let config = try AgentConfig.parse(
            """
            name: site-a
            orchestrator: http://127.0.0.1:4646
            data_dir: state
            labels: {region: eu, tier: 2}
            datasets:
              - {name: patients, path: ./data, description: admissions}
            resources: {cpu: 1500m, memory: 2Gi}
            engines: {process: {enabled: true}, wasm: {isolation: in-process}}
            """, file: "agent.yaml", baseDirectory: base)
        #expect(config.dataDirectory == base + "/state")
        #expect(config.datasets.first?.path == base + "/data")
        #expect(config.labels == ["region": "eu", "tier": "2"])
        #expect(config.cpuMillis == 1500 && config.memoryBytes == 2 << 30)
        #expect(config.processEngineEnabled && config.wasmIsolation == "in-process")
    }

    @Test func theOutputsDiskQuotaIsConfigurable() throws {
        let base = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\n"
        #expect(try AgentConfig.parse(base, file: "a.yaml", baseDirectory: "/tmp").outputQuotaBytes == 1 << 30)
        #expect(try AgentConfig.parse(base + "limits: {outputs_disk: 200Mi}", file: "a.yaml", baseDirectory: "/tmp").outputQuotaBytes == 200 << 20)
        #expect(throws: AgentConfig.Invalid.self) {
            try AgentConfig.parse(base + "limits: {outputs_disk: lots}", file: "a.yaml", baseDirectory: "/tmp")
        }
    }

    @Test func theHandshakeTimeoutIsConfigurableAndChecked() throws {
        let base = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\n"
        #expect(try AgentConfig.parse(base, file: "a.yaml", baseDirectory: "/tmp").handshakeTimeoutMillis == 10_000)
        #expect(try AgentConfig.parse(base + "connection: {handshake_timeout: 1m30s}", file: "a.yaml", baseDirectory: "/tmp").handshakeTimeoutMillis == 90_000)
        for bad in ["connection: {handshake_timeout: 10}", "connection: {handshake_timeout: 50ms}", "connection: {timeout: 10s}"] {
            #expect(throws: AgentConfig.Invalid.self, "\(bad)") {
                try AgentConfig.parse(base + bad, file: "a.yaml", baseDirectory: "/tmp")
            }
        }
    }

    @Test func moduleHostsAndRedirectsAreConfigurable() throws {
        let base = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\n"
        let defaults = try AgentConfig.parse(base, file: "a.yaml", baseDirectory: "/tmp")
        #expect(defaults.moduleAllowedHosts == nil && !defaults.moduleCrossHostRedirects)
        let set = try AgentConfig.parse(
            base + "modules: {allowed_hosts: [example.org, \"10.0.0.5:8080\"], cross_host_redirects: true}", file: "a.yaml", baseDirectory: "/tmp")
        #expect(set.moduleAllowedHosts == ["example.org", "10.0.0.5:8080"] && set.moduleCrossHostRedirects)
        #expect(throws: AgentConfig.Invalid.self) {
            try AgentConfig.parse(base + "modules: {allowed_hosts: [\"http://x/\"]}", file: "a.yaml", baseDirectory: "/tmp")
        }
    }

    @Test func theWasmRuntimeIsConfigurable() throws {
        let base = "name: a\norchestrator: http://127.0.0.1:1\ndata_dir: /tmp/x\n"
        let defaults = try AgentConfig.parse(base, file: "a.yaml", baseDirectory: "/tmp")
        #expect(defaults.wasmRuntime == "auto" && defaults.wasmtimeLibrary == nil)
        let set = try AgentConfig.parse(
            base + "engines: {wasm: {runtime: wasmtime, wasmtime_library: lib/_libwasmtime.so}}", file: "a.yaml", baseDirectory: "/srv")
        #expect(set.wasmRuntime == "wasmtime" && set.wasmtimeLibrary == "/srv/lib/_libwasmtime.so")
        for bad in ["engines: {wasm: {runtime: v8}}", "engines: {wasm: {wasmtime_library: \"\"}}", "engines: {wasm: {runtme: wasmtime}}"] {
            #expect(throws: AgentConfig.Invalid.self, "\(bad)") {
                try AgentConfig.parse(base + bad, file: "a.yaml", baseDirectory: "/tmp")
            }
        }
    }

    @Test func everyProblemIsReported() {
        do {
            _ = try AgentConfig.parse(
                """
                orchestrator: ftp://example
                datasets:
                  - {name: missing, path: /definitely/not/here}
                  - {path: /tmp}
                resources: {cpu: lots}
                engines: {wasm: {isolation: maybe}}
                colour: blue
                """, file: "agent.yaml", baseDirectory: "/tmp")
            Issue.record("an invalid config was accepted")
        } catch let error as AgentConfig.Invalid {
            let text = error.description
            for expected in [
                "unknown key \"colour\"", "name: required", "must start with http:// or https://",
                "/definitely/not/here is not a directory", "datasets[1]: needs `name` and `path`",
                "resources.cpu: \"lots\"", "engines.wasm.isolation: \"maybe\"",
            ] {
                #expect(text.contains(expected), "missing \(expected) in \(text)")
            }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
