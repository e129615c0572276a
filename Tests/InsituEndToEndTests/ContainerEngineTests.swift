import Foundation
import InsituAPI
import InsituClient
import InsituContainer
import InsituLocalCluster
import InsituModel
import InsituTestKit
import Testing

private let skipReason = Comment(rawValue: PodmanService.unavailableReason ?? "")

/// The `container` engine on real agents, against a real podman serving the Docker Engine API:
/// each test starts its own podman service and cluster.
@Suite(.serialized, .enabled(if: PodmanService.unavailableReason == nil, skipReason))
struct ContainerEngineTests {
    static let image = PodmanService.testImage

    /// A cluster with one node, `boxed`, offering the container engine over `service`, with the
    /// dataset `files` holding `existing.txt`.
    func cluster(_ e2e: E2E, service: PodmanService) async throws -> String {
        try await e2e.cluster.startOrchestrator()
        let data = e2e.root + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try "original".write(toFile: data + "/existing.txt", atomically: true, encoding: .utf8)
        try e2e.cluster.startAgent(
            name: "boxed", datasets: ["files": data],
            extraConfig: "engines:\n  container:\n    socket: \(service.socketPath)\n    allowed_images: [\"\(Self.image)\"]\n")
        try await e2e.cluster.waitForNodes(1)
        return data
    }

    /// The node's containers, found by the label every container of an agent carries.
    func containers(_ e2e: E2E, _ service: PodmanService) async throws -> [String] {
        try await service.client.containers(label: "insitu.agent=\(e2e.root)/agents/boxed/state")
    }

    @Test func aContainerJobRunsInItsSandbox() async throws {
        let e2e = try E2E.make()
        let service = try await PodmanService.start(in: e2e.root + "/podman")
        defer { e2e.tearDown(); service.stop() }
        let data = try await cluster(e2e, service: service)
        #expect(try await e2e.cluster.client.nodes().first?.engines.contains(.container) == true)

        // Output: stdout and a file in an output directory come back in the result.
        let copy = try e2e.specFile(
            "copy",
            """
            version: v1
            name: copy
            inputs: [{dataset: files, target: /data}]
            engine: {type: container, image: "\(Self.image)", command: [sh, -c, "echo hello from $WHO; cat /data/existing.txt > /out/copy.txt"]}
            env: {WHO: a-container}
            outputs: [{name: results, path: /out}]
            """)
        let id = try e2e.submit(copy)
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.job.stateReason ?? "")")
        let dest = e2e.root + "/results"
        let download = try e2e.cli(["job", "results", id, "--dest", dest])
        #expect(download.status == 0, "\(download.stderr)")
        #expect(try String(contentsOfFile: dest + "/partition-0/stdout", encoding: .utf8) == "hello from a-container\n")
        #expect(try String(contentsOfFile: dest + "/partition-0/outputs/results/copy.txt", encoding: .utf8) == "original")

        // The dataset is mounted read-only: writing there fails inside the container.
        let vandal = try e2e.specFile(
            "vandal",
            """
            version: v1
            name: vandal
            inputs: [{dataset: files, target: /data}]
            engine: {type: container, image: "\(Self.image)", command: [sh, -c, "echo changed > /data/existing.txt; touch /data/new.txt"]}
            """)
        let refused = try await e2e.waitForState(try e2e.submit(vandal)) { $0.isTerminal }
        #expect(refused.job.state == .failed)
        #expect(refused.executions.first?.stateReason?.contains("Read-only file system") == true, "\(refused.executions)")
        #expect(!FileManager.default.fileExists(atPath: data + "/new.txt"))
        #expect(try String(contentsOfFile: data + "/existing.txt", encoding: .utf8) == "original")

        // No network: the orchestrator's port on the host's loopback is out of reach (with the
        // host's network, this connection would succeed).
        let port = try #require(e2e.cluster.apiURL.split(separator: ":").last.map(String.init))
        let caller = try e2e.specFile(
            "caller",
            """
            version: v1
            name: caller
            engine: {type: container, image: "\(Self.image)", command: [nc, -w, "2", 127.0.0.1, "\(port)"]}
            """)
        let isolated = try await e2e.waitForState(try e2e.submit(caller)) { $0.isTerminal }
        #expect(isolated.job.state == .failed)
        #expect(isolated.executions.first?.stateReason?.contains("can't connect") == true, "\(isolated.executions)")

        // Memory beyond the job's limit: the container is killed and the job fails out of memory.
        let hog = try e2e.specFile(
            "hog",
            """
            version: v1
            name: memory-hog
            engine: {type: container, image: "\(Self.image)", command: [dd, if=/dev/zero, of=/dev/null, bs=100M, count=1]}
            resources: {memory: 32Mi}
            """)
        let starved = try await e2e.waitForState(try e2e.submit(hog)) { $0.isTerminal }
        #expect(starved.job.state == .failed)
        #expect(starved.executions.first?.stateReason?.contains("memory limit of 32Mi") == true, "\(starved.executions)")

        // An image the node's allow-list does not name is refused, naming the config key.
        let stranger = try e2e.specFile(
            "stranger",
            """
            version: v1
            name: stranger
            engine: {type: container, image: "localhost/not-allowed:1", command: ["true"]}
            """)
        let denied = try await e2e.waitForState(try e2e.submit(stranger)) { $0.isTerminal }
        #expect(denied.job.state == .failed)
        #expect(denied.executions.first?.stateReason?.contains("engines.container.allowed_images") == true, "\(denied.executions)")

        #expect(try await containers(e2e, service).isEmpty, "every container is removed after its run")
    }

    /// `job stop` and a timeout kill the container: it is gone within one second of the stop,
    /// and within one second after its timeout.
    @Test func stopAndTimeoutKillTheContainerWithinOneSecond() async throws {
        let e2e = try E2E.make()
        let service = try await PodmanService.start(in: e2e.root + "/podman")
        defer { e2e.tearDown(); service.stop() }
        _ = try await cluster(e2e, service: service)

        let forever = try e2e.specFile(
            "forever",
            """
            version: v1
            name: forever
            engine: {type: container, image: "\(Self.image)", command: [sleep, "1000"]}
            """)
        let id = try e2e.submit(forever)
        try await waitUntil(timeout: .seconds(30), "the job's container", interval: .milliseconds(20)) {
            try await !containers(e2e, service).isEmpty
        }
        _ = try await e2e.waitForState(id) { $0 == .running }
        let stopped = ContinuousClock.now
        _ = try await e2e.cluster.client.stop(id)
        try await waitUntil(timeout: .seconds(30), "the container to be gone", interval: .milliseconds(20)) {
            try await containers(e2e, service).isEmpty
        }
        let afterStop = ContinuousClock.now - stopped
        #expect(afterStop < .seconds(1), "the container was gone \(afterStop) after the stop")
        try await waitUntil(timeout: .seconds(30), "the node to report the execution cancelled") {
            try await e2e.cluster.client.job(id).executions.allSatisfy { $0.state == .cancelled }
        }

        let slow = try e2e.specFile(
            "slow",
            """
            version: v1
            name: slow
            engine: {type: container, image: "\(Self.image)", command: [sleep, "1000"]}
            timeout: 1s
            """)
        let slowID = try e2e.submit(slow)
        try await waitUntil(timeout: .seconds(30), "the job's container", interval: .milliseconds(20)) {
            try await !containers(e2e, service).isEmpty
        }
        let created = ContinuousClock.now
        try await waitUntil(timeout: .seconds(30), "the container to be gone", interval: .milliseconds(20)) {
            try await containers(e2e, service).isEmpty
        }
        let lifetime = ContinuousClock.now - created
        #expect(lifetime < .seconds(2), "the container lived \(lifetime) with a timeout of 1s")
        let timedOut = try await e2e.waitForState(slowID) { $0.isTerminal }
        #expect(timedOut.job.state == .failed)
        #expect(timedOut.executions.first?.stateReason?.contains("exceeded its timeout of 1s") == true, "\(timedOut.executions)")
    }


    /// An agent killed with SIGKILL cannot remove its containers; its next start does (they carry
    /// its data directory in the label `insitu.agent`), so no job outlives its node's agent for
    /// longer than the agent's restart.
    @Test func containersLeftByAKilledAgentAreRemovedAtItsNextStart() async throws {
        let e2e = try E2E.make()
        let service = try await PodmanService.start(in: e2e.root + "/podman")
        defer { e2e.tearDown(); service.stop() }
        let data = try await cluster(e2e, service: service)
        let forever = try e2e.specFile(
            "forever",
            """
            version: v1
            name: forever
            engine: {type: container, image: "\(Self.image)", command: [sleep, "1000"]}
            """)
        _ = try e2e.submit(forever)
        try await waitUntil(timeout: .seconds(30), "the job's container", interval: .milliseconds(20)) {
            try await !containers(e2e, service).isEmpty
        }
        e2e.cluster.agents["boxed"]?.stop(signal: SIGKILL)
        #expect(try await containers(e2e, service).count == 1, "the killed agent's container still runs")

        try e2e.cluster.startAgent(
            name: "boxed", datasets: ["files": data],
            extraConfig: "engines:\n  container:\n    socket: \(service.socketPath)\n    allowed_images: [\"\(Self.image)\"]\n")
        try await waitUntil(timeout: .seconds(30), "the restarted agent to remove the container") {
            try await containers(e2e, service).isEmpty
        }
    }
}

/// Needs no container engine: the point is that there is none.
@Suite struct ContainerEngineAdvertisementTests {
    /// A node whose configured socket does not answer at its start does not offer the engine, and
    /// says why in its log; it still runs its other engines.
    @Test func aNodeWhoseSocketDoesNotAnswerDoesNotOfferTheEngine() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let agent = try e2e.cluster.startAgent(
            name: "unboxed",
            extraConfig: "engines:\n  container:\n    socket: \(e2e.root)/no-engine.sock\n    allowed_images: [\"\(PodmanService.testImage)\"]\n")
        try await e2e.cluster.waitForNodes(1)
        let node = try #require(try await e2e.cluster.client.nodes().first)
        #expect(!node.engines.contains(.container))
        #expect(node.engines.contains(.wasm))
        #expect(agent.log().contains("engines.container.socket does not answer"), "\(agent.log())")
    }
}
