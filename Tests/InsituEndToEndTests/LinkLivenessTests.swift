import Foundation
import InsituAPI
import InsituLocalCluster
import InsituModel
import InsituTestKit
import Testing

/// A link whose socket stays open while the far side stopped answering: the agent notices it by
/// the same heartbeat TTL the orchestrator applies to nodes (issue 6, item 2).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct LinkLivenessTests {
    /// Heartbeats carry no number, so nothing acknowledged them and an idle node heard nothing
    /// from a healthy orchestrator: it could not tell that silence from a dead link. (Without the
    /// answers this test waits for frames that never come and fails at its time limit.)
    @Test(.timeLimit(.minutes(1))) func theOrchestratorAnswersEveryHeartbeat() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        _ = try await FakeNode.connect(api: e2e.cluster.apiURL, hello: AgentHello(node: FakeNode.info(id: "fake-idle"), epoch: 1, knownExecutions: [])) {
            link in
            #expect(try await link.read { $0.welcome != nil })
            for _ in 0..<3 {
                try await link.sendFrame(Frame(seq: 0, ack: 0, body: .heartbeat(Heartbeat(runningExecutions: []))))
            }
            #expect(try await link.read { $0.bareAcknowledgements >= 3 }, "the orchestrator closed the link")
            #expect(link.acknowledged == 0, "unnumbered messages are answered, not numbered")
        }
    }

    /// An orchestrator stopped with SIGSTOP keeps its sockets open (the kernel even accepts new
    /// connections into the backlog) but answers nothing. The agent kept writing heartbeats into
    /// that link forever; now it closes it after four heartbeat intervals of silence and dials
    /// again, and an idle but healthy link, whose heartbeats are answered, is kept.
    @Test func anAgentReconnectsWhenItsOrchestratorStopsAnsweringAndKeepsAnIdleHealthyLink() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator(extraArguments: ["--heartbeat-interval", "0.2"])
        // A handshake timeout longer than the wait below: the silence must be noticed by the
        // heartbeat rule, not by a deadline left over from before the welcome.
        let agent = try e2e.cluster.startAgent(name: "edge", extraConfig: "connection:\n  handshake_timeout: 5m\n")
        try await e2e.cluster.waitForNodes(1)
        func registrations() -> Int { agent.log().components(separatedBy: "registered with orchestrator").count - 1 }

        // 1.5 s of running without a message from the orchestrator, beyond the 0.8 s limit:
        // only the answered heartbeats keep the link.
        let sleeper = try e2e.specFile("sleeper", "version: v1\nname: sleeper\nengine: {type: wasm, module: ./sleeper.wasm}\n", wat: Modules.sleeper)
        let first = try e2e.submit(sleeper)
        #expect(try await e2e.waitForState(first) { $0.isTerminal }.job.state == .completed)
        #expect(registrations() == 1, "the agent dropped a healthy link:\n\(agent.log())")
        #expect(!agent.log().contains("closing the link"))

        let orchestrator = try #require(e2e.cluster.orchestrator)
        let pid = orchestrator.process.processIdentifier
        kill(pid, SIGSTOP)
        var stopped = true
        // A stopped process ignores SIGTERM until continued: never leave it stopped for tear-down.
        defer { if stopped { kill(pid, SIGCONT) } }
        try await waitUntil(timeout: .seconds(30), "the agent to give up on the silent orchestrator") {
            agent.log().contains("the orchestrator has been silent for 800ms")
        }
        kill(pid, SIGCONT)
        stopped = false

        // It registers again and the cluster works.
        try await waitUntil(timeout: .seconds(30), "the agent to register again") { registrations() >= 2 }
        let second = try e2e.submit(sleeper)
        #expect(try await e2e.waitForState(second) { $0.isTerminal }.job.state == .completed)
    }
}

/// The handshake half of the same rule, against a listener that accepts connections and never
/// answers (what an agent meets behind a relay whose upstream is gone).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SilentListenerTests {
    /// The agent's WebSocket upgrade had no deadline: it logged "agent starting" and then
    /// waited on the first accepted socket forever, never dialling again.
    @Test func anAgentWhoseHandshakeIsNeverAnsweredDialsAgain() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let listener = try SilentListener()
        defer { listener.stop() }
        let agent = try e2e.cluster.startAgent(
            name: "edge", orchestratorURL: "http://127.0.0.1:\(listener.port)", extraConfig: "connection:\n  handshake_timeout: 500ms\n")
        let abandoned = "the orchestrator did not answer the connection's handshake"
        try await waitUntil(timeout: .seconds(60), "the agent to give up on two unanswered handshakes") {
            agent.log().components(separatedBy: abandoned).count - 1 >= 2
        }
        #expect(agent.isRunning)
        #expect(try listener.acceptedConnections() >= 2, "each abandoned handshake is followed by a new connection")
    }
}

/// A TCP listener on loopback that never reads or writes: the kernel completes the handshakes of
/// connections it queues, so a client sees an open socket that never answers.
final class SilentListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw LocalClusterError("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            _ = close(descriptor)
            throw LocalClusterError("bind/listen failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Accepts and closes every connection queued so far and returns how many there were.
    func acceptedConnections() throws -> Int {
        var count = 0
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while poll(&poller, 1, 0) > 0 {
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { break }
            _ = close(connection)
            count += 1
        }
        return count
    }

    func stop() { _ = close(descriptor) }
}
