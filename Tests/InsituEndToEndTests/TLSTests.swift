import Foundation
import InsituAPI
import InsituAudit
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituTLS
import Testing

/// Issue 8, item 1 on real processes: without `--dev` the orchestrator serves only TLS, with a
/// certificate from the cluster CA it created in its data directory; clients and nodes that trust
/// that CA connect, everything else is refused with a message that says why.
@Suite(.serialized) struct TLSTests {
    @Test func theOrchestratorServesTLSWithItsClusterCAAndNodesConnectOverIt() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        #expect(e2e.cluster.apiURL.hasPrefix("https://"))
        let caPath = try #require(e2e.cluster.caPath)
        #expect(caPath == e2e.root + "/orchestrator/tls/ca.crt")
        let keyMode = try FileManager.default.attributesOfItem(atPath: e2e.root + "/orchestrator/tls/ca.key")[.posixPermissions] as? Int
        #expect(keyMode == 0o600)

        // A node that trusts the cluster CA connects over wss and runs work.
        try e2e.cluster.startAgent(name: "site")
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile("hello", "version: v1\nname: hello\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)
        let done = try await e2e.waitForState(try e2e.submit(spec)) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.executions.map { $0.stateReason ?? "" })")

        // The CA survives a restart: the same certificate authority, so nodes keep trusting it.
        let before = try String(contentsOfFile: caPath, encoding: .utf8)
        e2e.cluster.killOrchestrator(signal: SIGTERM)
        try await e2e.cluster.startOrchestrator()
        #expect(try String(contentsOfFile: caPath, encoding: .utf8) == before)
        try await waitUntil(timeout: .seconds(30), "the node to reconnect over TLS") {
            (try? await e2e.cluster.client.nodes())?.first?.liveness == .connected
        }
    }

    @Test func plaintextAndUntrustedConnectionsAreRefusedWithAReason() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let https = e2e.cluster.apiURL

        // Plain HTTP to the TLS port: no answer, and the client says to use https.
        let plain = InsituClient(baseURL: https.replacingOccurrences(of: "https://", with: "http://"), token: e2e.cluster.adminToken)
        let plainFailure = await apiFailure { try await plain.nodes() }
        #expect(plainFailure?.message.contains("use https://") == true, "\(String(describing: plainFailure))")
        // Refused in the TLS layer, before any request exists, and audited all the same.
        try await waitUntil(timeout: .seconds(10), "the plaintext attempt in the audit log") {
            let log = (try? Data(contentsOf: URL(fileURLWithPath: e2e.root + "/orchestrator/audit.log"))) ?? Data()
            return AuditVerifier.entries(Array(log)).entries.contains { $0.event.action == "tls.handshake" && $0.event.outcome == .refused }
        }

        // A client that trusts another CA refuses the orchestrator's certificate.
        let stranger = try ClusterCA.create(now: Date())
        let strangerPEM = try stranger.certificate.serializeAsPEM().pemString
        let distrustful = try InsituClient(baseURL: https, token: e2e.cluster.adminToken, caCertificatePEM: strangerPEM)
        let untrusted = await apiFailure { try await distrustful.nodes() }
        #expect(untrusted?.code == "tls_mismatch" && untrusted?.message.contains("--ca-cert") == true, "\(String(describing: untrusted))")
        let cli = try e2e.cli(["node", "list"], environment: ["INSITU_CA_CERT": ""])
        #expect(cli.status != 0 && cli.stderr.contains("not signed by a CA this client trusts"), "\(cli.stderr)")

        // A node that does not trust the cluster CA never gets a session.
        let directory = e2e.root + "/doubter"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try strangerPEM.write(toFile: directory + "/wrong-ca.pem", atomically: true, encoding: .utf8)
        try e2e.cluster.startAgent(name: "doubter", orchestratorCA: directory + "/wrong-ca.pem")
        let log = e2e.root + "/logs/agent-doubter.log"
        try await waitUntil(timeout: .seconds(30), "the node to report the certificate it refused") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("CERTIFICATE_VERIFY_FAILED")
        }
        #expect(try await e2e.cluster.client.nodes().isEmpty)
    }

    /// https against an orchestrator that serves plain HTTP (`--dev`) is named as such.
    @Test func tlsAgainstAPlainOrchestratorIsNamed() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let stranger = try ClusterCA.create(now: Date())
        let client = try InsituClient(
            baseURL: e2e.cluster.apiURL.replacingOccurrences(of: "http://", with: "https://"), token: nil,
            caCertificatePEM: try stranger.certificate.serializeAsPEM().pemString)
        let mismatch = await apiFailure { try await client.nodes() }
        #expect(mismatch?.message.contains("does not speak TLS") == true, "\(String(describing: mismatch))")
    }
}
