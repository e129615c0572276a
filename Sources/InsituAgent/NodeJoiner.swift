import AsyncHTTPClient
import Crypto
import Foundation
import InsituAPI
import InsituModel
import InsituTLS
import Logging
import NIOCore
import NIOFoundationCompat
import NIOSSL
import X509

/// The node's side of joining and renewal: asks an orchestrator for a certificate with the join
/// token (`POST /v1/node/join`) or, later, with the current certificate (`POST /v1/node/renew`).
struct NodeJoiner: Sendable {
    let config: AgentConfig
    let trust: OrchestratorTrust
    let logger: Logger

    /// The orchestrator said no (a bad or spent token, a rejected or revoked node): asking again
    /// will not help, so the agent stops with this message.
    struct Refused: Error, CustomStringConvertible {
        var status: Int
        var message: String
        var description: String { "the orchestrator refused this node (HTTP \(status)): \(message)" }
    }

    /// No certificate and no join token: nothing to join with.
    struct NoJoinToken: Error, CustomStringConvertible {
        var description: String {
            "this node has no certificate yet and no join token: an administrator creates one with "
                + "'insitu node join-token create', and the node's config names it (join_token or join_token_file)"
        }
    }

    /// Holds the node's certificate when this returns: joins (and waits for approval) if needed.
    func ensureCertificate(_ credentials: NodeCredentials) async throws -> NodeCredentials {
        if credentials.certificate != nil { return credentials }
        guard let token = config.joinToken else { throw NoJoinToken() }
        let request = NodeJoinRequest(
            token: token, certificateRequest: try NodeCertificates.makeRequest(name: config.name, key: credentials.key), name: config.name)
        var attempt = 0
        var index = 0
        while true {
            try Task.checkCancellation()
            let base = config.orchestrators[index % config.orchestrators.count]
            do {
                let (status, response) = try await post(base + NodeIdentityPaths.join, body: request, credentials: nil)
                if status == 200, let pem = response.certificate {
                    let joined = NodeCredentials(key: credentials.key, certificate: try Certificate(pemEncoded: pem))
                    guard joined.nodeID != nil else { throw Refused(status: status, message: "the certificate it sent names no node") }
                    try joined.store(config)
                    logger.info("joined the cluster", metadata: ["node": "\(joined.nodeID?.rawValue ?? "")"])
                    return joined
                }
                logger.notice(
                    "waiting for an administrator to approve this node",
                    metadata: ["node": "\(response.nodeID)", "approve": "insitu node approve \(response.nodeID)"])
                attempt = 0
                try await Task.sleep(for: .seconds(2))
            } catch let refused as Refused {
                throw refused
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                attempt += 1
                index += 1
                logger.info("cannot reach the orchestrator to join", metadata: ["url": "\(base)", "error": "\(error)"])
                try await Task.sleep(for: .milliseconds(min(5_000, 100 * (1 << min(attempt, 6)))))
            }
        }
    }

    /// A new key and certificate for a node whose certificate nears expiry, or nil when no
    /// orchestrator answered (the node keeps its current one and tries again later).
    func renew(_ credentials: NodeCredentials) async throws -> NodeCredentials? {
        let key = P256.Signing.PrivateKey()
        let request = NodeRenewRequest(certificateRequest: try NodeCertificates.makeRequest(name: config.name, key: key))
        for base in config.orchestrators {
            do {
                let (status, response) = try await post(base + NodeIdentityPaths.renew, body: request, credentials: credentials)
                guard status == 200, let pem = response.certificate else { continue }
                let renewed = NodeCredentials(key: key, certificate: try Certificate(pemEncoded: pem))
                guard renewed.nodeID == credentials.nodeID else {
                    throw Refused(status: status, message: "the renewed certificate names another node")
                }
                try renewed.store(config)
                return renewed
            } catch let refused as Refused {
                throw refused
            } catch {
                logger.info("cannot renew the node's certificate", metadata: ["url": "\(base)", "error": "\(error)"])
            }
        }
        return nil
    }

    private func post(_ url: String, body: some Encodable, credentials: NodeCredentials?) async throws -> (Int, NodeJoinResponse) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let clusterCA = trust.clusterCA { tls.trustRoots = .certificates(clusterCA) }
        try credentials?.apply(to: &tls)
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow))
        do {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
            let response = try await client.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            let status = Int(response.status.code)
            guard status == 200 || status == 202 else {
                if (400..<500).contains(status) { throw Refused(status: status, message: Self.message(Data(buffer: bytes))) }
                throw URLError(.badServerResponse)
            }
            return (status, try JSONDecoder().decode(NodeJoinResponse.self, from: Data(buffer: bytes)))
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The human message of an API error body, whichever shape it has (`{"error": {"message"}}`
    /// or a problem document's `detail`).
    static func message(_ body: Data) -> String {
        let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        if let detail = object?["detail"] as? String { return detail }
        if let error = object?["error"] as? [String: Any], let message = error["message"] as? String { return message }
        return String(decoding: body.prefix(500), as: UTF8.self)
    }
}
