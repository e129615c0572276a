import AsyncHTTPClient
import Crypto
import Foundation
import InsituAPI
import InsituAudit
import InsituAuditFile
import InsituClient
import InsituLocalCluster
import InsituModel
import InsituTLS
import InsituTestKit
import NIOCore
import NIOFoundationCompat
import NIOSSL
import NIOHTTP1
import Testing
import X509

/// Issue 8, item 2 on real processes: nodes join with a join token and a certificate request, get
/// a certificate from the cluster CA, and from then on are known by that certificate alone. Each
/// attack of the issue's acceptance list is tried and must be refused with its status and reason,
/// and leave an audit entry.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct NodeIdentityTests {
    /// A node played by the test: its own key, and the certificate it got by joining.
    struct Credentials {
        var key = P256.Signing.PrivateKey()
        var certificatePEM: String?
        var nodeID: NodeID?
    }

    /// What agents verify when they dial the orchestrator by IP address.
    static let serverName = OrchestratorTLSMaterial.clusterServerName

    static func entries(_ e2e: E2E) throws -> [AuditEntry] {
        AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/orchestrator/audit.log")))).entries
    }

    /// TLS that trusts the cluster CA and, with `credentials`, presents that node's certificate.
    static func tls(_ e2e: E2E, _ credentials: Credentials? = nil) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(try #require(e2e.cluster.caPath)))
        if let credentials, let pem = credentials.certificatePEM {
            tls.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem))]
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(credentials.key.pemRepresentation.utf8), format: .pem))
        }
        return tls
    }

    /// One HTTPS request with `tls`; the status and the body.
    static func request(_ method: NIOHTTP1.HTTPMethod, _ url: String, body: Data? = nil, tls: TLSConfiguration) async throws -> (Int, Data) {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        do {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if let body {
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(data: body))
            }
            let response = try await client.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            return (Int(response.status.code), Data(buffer: bytes))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Asks to join with `token` for `credentials`' key; fills in the certificate when granted.
    static func join(_ e2e: E2E, token: String, _ credentials: inout Credentials, name: String = "test-node") async throws -> (Int, Data) {
        let body = try JSONEncoder().encode(
            NodeJoinRequest(token: token, certificateRequest: try NodeCertificates.makeRequest(name: name, key: credentials.key), name: name))
        let (status, data) = try await request(.POST, e2e.cluster.apiURL + NodeIdentityPaths.join, body: body, tls: try tls(e2e))
        if status == 200, let response = try? JSONDecoder().decode(NodeJoinResponse.self, from: data) {
            credentials.certificatePEM = response.certificate
            credentials.nodeID = response.nodeID
        }
        return (status, data)
    }

    static func errorCode(_ body: Data) -> String? {
        let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        return (object?["code"] as? String) ?? ((object?["error"] as? [String: Any])?["code"] as? String)
    }

    /// A TLS cluster with one node that joined with the cluster's join token, and that node.
    static func clusterWithOneNode(_ name: String, test: String = #function) async throws -> (E2E, NodeSummary) {
        let e2e = try E2E.make(test, requireTokens: true)
        do {
            try await e2e.cluster.startOrchestrator()
            try e2e.cluster.startAgent(name: name)
            try await e2e.cluster.waitForNodes(1)
            return (e2e, try #require(try await e2e.cluster.client.nodes().first))
        } catch {
            e2e.tearDown()
            throw error
        }
    }

    static func createJoinToken(_ e2e: E2E, _ arguments: [String]) throws -> CreatedJoinToken {
        let run = try e2e.cli(["node", "join-token", "create", "-o", "json"] + arguments)
        #expect(run.status == 0, "\(run.stderr)")
        return try JSONDecoder().decode(CreatedJoinToken.self, from: Data(run.stdout.utf8))
    }

    @Test func aNodeJoinsWithATokenAndIsKnownByItsCertificate() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let token = try Self.createJoinToken(e2e, ["--name", "berlin", "--label", "site=berlin"])
        #expect(token.token.hasPrefix("insitu_join_"))

        // The node's config says site=paris; the join token pinned site=berlin, which wins.
        try e2e.cluster.startAgent(name: "edge", labels: ["site": "paris", "rack": "7"], joinToken: .some(token.token))
        try await e2e.cluster.waitForNodes(1)
        let node = try #require(try await e2e.cluster.client.nodes().first)
        #expect(node.labels == ["site": "berlin", "rack": "7"])

        // The ID is the one the orchestrator put in the certificate; the key never left the node.
        let stored = try String(contentsOfFile: e2e.root + "/agents/edge/state/identity.json", encoding: .utf8)
        let mode = try FileManager.default.attributesOfItem(atPath: e2e.root + "/agents/edge/state/identity.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let identity = try JSONDecoder().decode([String: String].self, from: Data(stored.utf8))
        let certificate = try Certificate(pemEncoded: try #require(identity["certificate"]))
        #expect(NodeCertificates.nodeID(of: certificate) == node.id.rawValue)
        #expect(NodeCertificates.isValidNodeID(node.id.rawValue))
        #expect(OrchestratorTLSMaterial.coveredNames(certificate).isEmpty, "a node certificate carries no DNS name or address")
        let identities = try await e2e.cluster.client.nodeIdentities()
        #expect(identities.map(\.nodeID) == [node.id] && identities.first?.state == "approved")
        let expires = try #require(identities.first?.certificateExpiresAt)
        #expect(abs(Double(expires.milliseconds) / 1000 - certificate.notValidAfter.timeIntervalSince1970) < 2, "the listed expiry is the certificate's")
        let orchestratorFiles = try FileManager.default.subpathsOfDirectory(atPath: e2e.root + "/orchestrator")
        let privateKeyLine = try #require(identity["key"]?.split(separator: "\n").dropFirst().first)
        for file in orchestratorFiles where !file.hasSuffix(".sqlite-shm") {
            let data = (try? Data(contentsOf: URL(fileURLWithPath: e2e.root + "/orchestrator/" + file))) ?? Data()
            #expect(data.range(of: Data(privateKeyLine.utf8)) == nil, "the node's private key is in \(file)")
        }

        // Work runs on it; the join and the connection are audited under the certified ID.
        let spec = try e2e.specFile("hello", "version: v1\nname: hello\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)
        let done = try await e2e.waitForState(try e2e.submit(spec)) { $0.isTerminal }
        #expect(done.job.state == .completed)
        let audit = try Self.entries(e2e)
        #expect(audit.contains { $0.event.action == "join_token.create" && $0.event.details["join_token"] == .string(token.info.id) })
        #expect(audit.contains { $0.event.action == "node.join" && $0.event.actor.id == node.id.rawValue })
        // What the node advertised is on record: its capacity and its labels as pinned.
        let connect = try #require(audit.first { $0.event.action == "node.connect" && $0.event.outcome == .ok && $0.event.actor.id == node.id.rawValue })
        #expect(connect.event.details["cpu_millis"] == .int(Int64(node.resources.cpuMillis)))
        if case .list(let labels)? = connect.event.details["labels"] { #expect(labels.contains(.string("site=berlin"))) } else { Issue.record("no labels audited") }
        let auditText = try String(contentsOfFile: e2e.root + "/orchestrator/audit.log", encoding: .utf8)
        #expect(!auditText.contains(String(token.token.suffix(43))), "the join token's secret is not in the audit log")
    }

    @Test func aNodeWithoutJoinTokenOrCertificateIsRefused() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()

        // An agent with neither says what it needs and stops.
        let agent = try e2e.cluster.startAgent(name: "tokenless", joinToken: .some(nil))
        agent.process.waitUntilExit()
        #expect(agent.process.terminationStatus != 0)
        #expect(agent.log().contains("no join token") && agent.log().contains("insitu node join-token create"), "\(agent.log())")

        // A node link without a client certificate is not upgraded: 401 with the reason.
        var hello = AgentHello(node: FakeNode.info(id: "n-0123456789abcdef"), epoch: 1, knownExecutions: [])
        hello.node.name = "impostor"
        let refused = await #expect(throws: (any Error).self) {
            try await FakeNode.connect(api: e2e.cluster.apiURL, hello: hello, tls: try Self.tls(e2e), serverName: Self.serverName) { _ in }
        }
        #expect("\(String(describing: refused))".contains("upgrade failed"), "\(String(describing: refused))")
        let (status, body) = try await Self.request(.GET, e2e.cluster.apiURL + NodeProtocol.path, tls: try Self.tls(e2e))
        #expect(status == 401 && Self.errorCode(body) == "node_certificate_missing", "\(String(decoding: body, as: UTF8.self))")
        #expect(try Self.entries(e2e).contains { $0.event.action == "request.refused" && $0.event.details["code"] == .string("node_certificate_missing") })

        // A made-up join token: 401, audited.
        var credentials = Credentials()
        let made = "insitu_join_0123456789abcdef_" + String(repeating: "A", count: 43)
        let (joinStatus, joinBody) = try await Self.join(e2e, token: made, &credentials)
        #expect(joinStatus == 401 && Self.errorCode(joinBody) == "join_token_invalid")
        // A name that would inject control sequences into tables and logs is refused first.
        let (nameStatus, nameBody) = try await Self.join(e2e, token: made, &credentials, name: "edge\u{1B}[31m")
        #expect(nameStatus == 422 && Self.errorCode(nameBody) == "invalid_join_request", "\(String(decoding: nameBody, as: UTF8.self))")
        #expect(try Self.entries(e2e).contains { $0.event.action == "request.refused" && $0.event.details["code"] == .string("join_token_invalid") })
        #expect(try await e2e.cluster.client.nodes().isEmpty)
    }

    @Test func aSingleUseJoinTokenAdmitsOneNodeOnly() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let token = try Self.createJoinToken(e2e, ["--name", "once"]).token

        var first = Credentials()
        let (status, _) = try await Self.join(e2e, token: token, &first)
        #expect(status == 200 && first.certificatePEM != nil)
        // The same node asking again (it restarted before storing its certificate) is the same node.
        var again = Credentials(key: first.key)
        let (againStatus, _) = try await Self.join(e2e, token: token, &again)
        #expect(againStatus == 200 && again.nodeID == first.nodeID)

        // Anyone else replaying the token is refused, and audited with the token's ID.
        var replay = Credentials()
        let (replayStatus, replayBody) = try await Self.join(e2e, token: token, &replay)
        #expect(replayStatus == 401 && Self.errorCode(replayBody) == "join_token_used", "\(String(decoding: replayBody, as: UTF8.self))")
        #expect(replay.certificatePEM == nil)
        #expect(try Self.entries(e2e).contains { $0.event.action == "request.refused" && $0.event.details["code"] == .string("join_token_used") })

        // An agent given the spent token stops with the reason.
        let agent = try e2e.cluster.startAgent(name: "late", joinToken: .some(token))
        agent.process.waitUntilExit()
        #expect(agent.process.terminationStatus != 0)
        #expect(agent.log().contains("admitted its 1 node already"), "\(agent.log())")
        let tokens = try await e2e.cluster.client.joinTokens()
        #expect(tokens.first { $0.name == "once" }?.state == .used)
    }

    @Test func aNodeCannotActAsAnotherNode() async throws {
        let (e2e, genuine) = try await Self.clusterWithOneNode("genuine")
        defer { e2e.tearDown() }

        // A node with a certificate of its own says hello with the genuine node's ID.
        var attacker = Credentials()
        _ = try await Self.join(e2e, token: try #require(e2e.cluster.joinToken), &attacker, name: "attacker")
        let attackerID = try #require(attacker.nodeID)
        let hello = AgentHello(node: FakeNode.info(id: genuine.id), epoch: 1, knownExecutions: [])
        let close = try await FakeNode.connect(api: e2e.cluster.apiURL, hello: hello, tls: try Self.tls(e2e, attacker), serverName: Self.serverName) { link in
            _ = try await link.read { $0.welcome != nil }
            #expect(link.welcome == nil, "the impostor was welcomed")
        }
        #expect(close?.code == 1008 && close?.reason?.contains("certificate is node \(attackerID)") == true, "\(String(describing: close))")
        #expect(try Self.entries(e2e).contains {
            $0.event.action == "node.connect" && $0.event.outcome == .refused && $0.event.actor.id == attackerID.rawValue
        })
        // The genuine node keeps its link and its identity.
        let after = try await e2e.cluster.client.nodes()
        #expect(after.count == 1 && after.first?.id == genuine.id && after.first?.liveness == .connected)
    }

    @Test func aRevokedNodeIsCutOffAndCannotReconnect() async throws {
        let (e2e, node) = try await Self.clusterWithOneNode("doomed")
        defer { e2e.tearDown() }

        let revoke = try e2e.cli(["node", "revoke", node.id.rawValue])
        #expect(revoke.status == 0 && revoke.stdout.contains("revoked"), "\(revoke.stderr)")
        // The link is cut at once, and every reconnection is refused.
        try await waitUntil(timeout: .seconds(20), "the revoked node to be disconnected") {
            (try? await e2e.cluster.client.nodes())?.first?.liveness != .connected
        }
        let stored = try JSONDecoder().decode(
            [String: String].self, from: Data(contentsOf: URL(fileURLWithPath: e2e.root + "/agents/doomed/state/identity.json")))
        let credentials = Credentials(
            key: try P256.Signing.PrivateKey(pemRepresentation: try #require(stored["key"])), certificatePEM: stored["certificate"], nodeID: node.id)
        let (status, body) = try await Self.request(.GET, e2e.cluster.apiURL + NodeProtocol.path, tls: try Self.tls(e2e, credentials))
        #expect(status == 403 && Self.errorCode(body) == "node_revoked", "\(String(decoding: body, as: UTF8.self))")
        let audit = try Self.entries(e2e)
        #expect(audit.contains { $0.event.action == "node.revoke" && $0.event.details["node"] == .string(node.id.rawValue) })
        #expect(audit.contains { $0.event.action == "request.refused" && $0.event.details["code"] == .string("node_revoked") })
        #expect((try await e2e.cluster.client.nodes()).first?.liveness != .connected)
    }

    @Test func aClientCertificateFromAnotherCAIsRefusedInTheHandshake() async throws {
        let (e2e, genuine) = try await Self.clusterWithOneNode("genuine")
        defer { e2e.tearDown() }

        // A certificate for the genuine node's ID, from a CA the attacker made.
        let forger = try ClusterCA.create(now: Date())
        var forged = Credentials()
        forged.certificatePEM = try forger.issueNodeCertificate(
            nodeID: genuine.id.rawValue, publicKey: .init(forged.key.publicKey), now: Date()).serializeAsPEM().pemString
        let hello = AgentHello(node: FakeNode.info(id: genuine.id), epoch: 1, knownExecutions: [])
        await #expect(throws: (any Error).self) {
            try await FakeNode.connect(api: e2e.cluster.apiURL, hello: hello, tls: try Self.tls(e2e, forged), serverName: Self.serverName) { _ in }
        }
        // Refused inside TLS, before any request: audited all the same (off the event loop).
        try await waitUntil(timeout: .seconds(10), "the refused handshake in the audit log") {
            ((try? Self.entries(e2e)) ?? []).contains { $0.event.action == "tls.handshake" && $0.event.outcome == .refused }
        }
        let after = try await e2e.cluster.client.nodes()
        #expect(after.count == 1 && after.first?.liveness == .connected)
    }

    @Test func manualApprovalHoldsTheCertificateUntilAnAdministratorDecides() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let token = try Self.createJoinToken(e2e, ["--name", "reviewed", "--uses", "2", "--manual-approval"]).token

        try e2e.cluster.startAgent(name: "awaiting", joinToken: .some(token))
        var pendingID: NodeID?
        try await waitUntil(timeout: .seconds(20), "the join request to wait for approval") {
            pendingID = (try? await e2e.cluster.client.nodeIdentities())?.first { $0.state == "pending" }?.nodeID
            return pendingID != nil
        }
        let id = try #require(pendingID)
        #expect(try await e2e.cluster.client.nodes().isEmpty, "no link before approval")
        let approve = try e2e.cli(["node", "approve", id.rawValue])
        #expect(approve.status == 0, "\(approve.stderr)")
        try await e2e.cluster.waitForNodes(1)
        #expect(try await e2e.cluster.client.nodes().first?.id == id)

        // A second request is rejected: it never gets a certificate.
        var other = Credentials()
        let (status, body) = try await Self.join(e2e, token: token, &other, name: "rejected")
        #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
        let otherID = try JSONDecoder().decode(NodeJoinResponse.self, from: body).nodeID
        #expect(try e2e.cli(["node", "reject", otherID.rawValue]).status == 0)
        let (rejectedStatus, rejectedBody) = try await Self.join(e2e, token: token, &other, name: "rejected")
        #expect(rejectedStatus == 403 && Self.errorCode(rejectedBody) == "node_rejected")
        #expect(other.certificatePEM == nil)
        let audit = try Self.entries(e2e)
        #expect(audit.contains { $0.event.action == "node.approve" } && audit.contains { $0.event.action == "node.reject" })
    }

    @Test func aNodeRenewsItsCertificateBeforeItExpires() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        // Renewing 60 days before expiry makes a 30-day certificate due at once.
        try e2e.cluster.startAgent(name: "renewer", extraConfig: "identity:\n  renew_before: 1440h\n")
        try await e2e.cluster.waitForNodes(1)
        let id = try #require(try await e2e.cluster.client.nodes().first?.id)
        try await waitUntil(timeout: .seconds(20), "a renewal in the audit log") {
            ((try? Self.entries(e2e)) ?? []).contains { $0.event.action == "node.renew" && $0.event.actor.id == id.rawValue }
        }
        // The renewed certificate and new key were stored, for the same node, and work.
        let file = e2e.root + "/agents/renewer/state/identity.json"
        try await waitUntil(timeout: .seconds(10), "the renewed identity on the node") {
            let stored = (try? JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: file)))) ?? [:]
            let certificate = stored["certificate"].flatMap { try? Certificate(pemEncoded: $0) }
            return certificate.flatMap(NodeCertificates.nodeID(of:)) == id.rawValue
                && e2e.cluster.agents["renewer"].map { $0.log().contains("renewed the node's certificate") } == true
        }
        e2e.cluster.agents["renewer"]?.stop()
        try e2e.cluster.startAgent(name: "renewer")
        try await waitUntil(timeout: .seconds(30), "the node to reconnect with its renewed certificate") {
            (try? await e2e.cluster.client.nodes())?.first { $0.id == id }?.liveness == .connected
        }
    }

    @Test func moduleDownloadsNeedATokenOrTheCertificateOfAnAdmittedNode() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let module = APIHardeningTests.tinyModule
        let digest = try await e2e.cluster.client.uploadModule(module).digest
        let url = e2e.cluster.apiURL + "/v1/modules/" + digest.rawValue

        // Neither token nor certificate: 401, audited.
        let (anonymous, anonymousBody) = try await Self.request(.GET, url, tls: try Self.tls(e2e))
        #expect(anonymous == 401 && Self.errorCode(anonymousBody) == "token_missing", "\(String(decoding: anonymousBody, as: UTF8.self))")
        #expect(try Self.entries(e2e).contains {
            $0.event.action == "request.refused" && $0.event.details["path"] == .string("/v1/modules/" + digest.rawValue)
        })

        // A node with its certificate gets the module.
        var node = Credentials()
        _ = try await Self.join(e2e, token: try #require(e2e.cluster.joinToken), &node)
        let (granted, bytes) = try await Self.request(.GET, url, tls: try Self.tls(e2e, node))
        #expect(granted == 200 && bytes == module)

        // Once revoked, no longer.
        #expect(try e2e.cli(["node", "revoke", try #require(node.nodeID).rawValue]).status == 0)
        let (revoked, revokedBody) = try await Self.request(.GET, url, tls: try Self.tls(e2e, node))
        #expect(revoked == 403 && Self.errorCode(revokedBody) == "node_revoked")
    }
}
