import Foundation
import InsituContainer
import InsituExecutor
import InsituLocalCluster
import InsituModel
import InsituTestKit
import Synchronization
import Testing

private let skipReason = Comment(rawValue: PodmanService.unavailableReason ?? "")

/// Output received through `onOutput`, for waiting on what a container printed.
private final class Received: Sendable {
    private let text = Mutex("")
    func append(_ bytes: [UInt8]) { text.withLock { $0 += String(decoding: bytes, as: UTF8.self) } }
    var value: String { text.withLock { $0 } }
}

/// The container executor against a real podman serving the Docker Engine API.
@Suite(.serialized, .enabled(if: PodmanService.unavailableReason == nil, skipReason))
struct ContainerExecutorTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-container-\(UUID().uuidString.prefix(8))").path

    func request(_ id: String, command: [String], timeout: Duration? = nil, image: String = PodmanService.testImage) -> ExecutionRequest {
        ExecutionRequest(
            executionID: ExecutionID(rawValue: id), engine: EngineSpec(container: ContainerSettings(image: image, command: command)),
            env: ["GREETING": "hello"], workDirectory: directory, timeout: timeout, resources: Resources(cpuMillis: 500, memoryBytes: 64 << 20))
    }

    func executor(_ service: PodmanService, allowed: [String] = [PodmanService.testImage]) -> ContainerExecutor {
        ContainerExecutor(client: service.client, allowList: ImageAllowList(allowed))
    }

    func containers(_ service: PodmanService, of id: String) async throws -> [String] {
        try await service.client.containers(label: "insitu.execution=\(id)")
    }

    @Test func runsTheImageStreamsItsOutputAndRemovesTheContainer() async throws {
        let service = try await PodmanService.start(in: directory)
        defer { service.stop(); try? FileManager.default.removeItem(atPath: directory) }
        let id = "c-out-\(UUID().uuidString.prefix(6).lowercased())"
        let received = Received()
        let outcome = try await executor(service).run(request(id, command: ["sh", "-c", "echo $GREETING; echo oops >&2; exit 0"])) { stream, bytes in
            if stream == .stdout { received.append(bytes) }
        }
        #expect(outcome.status == .succeeded, "\(outcome)")
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hello\n")
        #expect(String(decoding: outcome.stderr, as: UTF8.self) == "oops\n")
        #expect(received.value == "hello\n")
        #expect(try await containers(service, of: id).isEmpty)

        let failing = try await executor(service).run(request(id + "-2", command: ["sh", "-c", "exit 3"])) { _, _ in }
        #expect(failing.status == .failed && failing.exitCode == 3, "\(failing)")
    }

    /// Cancellation (`job stop`, the agent's shutdown) kills the container and removes it within
    /// one second, measured from the cancellation to the container being gone.
    @Test func cancellationRemovesTheContainerWithinOneSecond() async throws {
        let service = try await PodmanService.start(in: directory)
        defer { service.stop(); try? FileManager.default.removeItem(atPath: directory) }
        let id = "c-stop-\(UUID().uuidString.prefix(6).lowercased())"
        let received = Received()
        let executor = executor(service)
        let run = Task { try await executor.run(request(id, command: ["sh", "-c", "echo started; exec sleep 1000"])) { _, bytes in received.append(bytes) } }
        try await waitUntil(timeout: .seconds(30), "the container to print", interval: .milliseconds(10)) { received.value.contains("started") }
        #expect(try await containers(service, of: id).count == 1)

        let stopped = ContinuousClock.now
        run.cancel()
        let outcome = try await run.value
        let gone = try await containers(service, of: id).isEmpty
        let elapsed = ContinuousClock.now - stopped
        #expect(outcome.status == .cancelled)
        #expect(gone)
        #expect(elapsed < .seconds(1), "the container was gone \(elapsed) after the stop")
    }

    /// The timeout counts from the container's start and kills it within one second of passing.
    @Test func theTimeoutKillsTheContainerWithinOneSecond() async throws {
        let service = try await PodmanService.start(in: directory)
        defer { service.stop(); try? FileManager.default.removeItem(atPath: directory) }
        let id = "c-time-\(UUID().uuidString.prefix(6).lowercased())"
        let received = Received()
        let executor = executor(service)
        let started = Mutex<ContinuousClock.Instant?>(nil)
        let outcome = try await executor.run(request(id, command: ["sh", "-c", "echo started; exec sleep 1000"], timeout: .seconds(1))) { _, bytes in
            started.withLock { $0 = $0 ?? .now }
            received.append(bytes)
        }
        let ended = ContinuousClock.now
        #expect(outcome.status == .timedOut)
        #expect(outcome.reason == "exceeded its timeout of 1s")
        #expect(try await containers(service, of: id).isEmpty)
        let printed = try #require(started.withLock { $0 })
        // The first output comes after the start, where the timeout begins.
        #expect(ended - printed < .seconds(2), "\(ended - printed) from the container's first output to its removal")
        #expect(ended - printed >= .milliseconds(900))
    }

    @Test func imagesOffTheAllowListAreRefusedBeforeTheEngineIsAsked() async throws {
        // No engine at all behind this socket: the refusal must come first.
        let executor = ContainerExecutor(client: DockerEngineClient(socketPath: directory + "/none.sock"), allowList: ImageAllowList(["localhost/other:1"]))
        let error = await #expect(throws: ExecutorError.self) {
            try await executor.run(request("c-deny", command: ["true"])) { _, _ in }
        }
        #expect(error?.message.contains("engines.container.allowed_images") == true, "\(String(describing: error))")
        #expect(error?.message.contains(PodmanService.testImage) == true)
    }

    @Test func anAllowedImageTheEngineLacksIsNotPulled() async throws {
        let service = try await PodmanService.start(in: directory)
        defer { service.stop(); try? FileManager.default.removeItem(atPath: directory) }
        let absent = "localhost/insitu-absent:1"
        let error = await #expect(throws: ExecutorError.self) {
            try await executor(service, allowed: [absent]).run(request("c-absent", command: ["true"], image: absent)) { _, _ in }
        }
        #expect(error?.message.contains("never pulls") == true, "\(String(describing: error))")
    }
}
