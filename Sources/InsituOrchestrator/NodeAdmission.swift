import Foundation
import InsituAPI
import InsituAudit
import InsituAuth
import InsituModel
import InsituStore
import InsituTLS
import NIOCore
import NIOSSL
import X509

/// Who a node is, as its certificate and the orchestrator's records say.
struct AuthenticatedNode: Sendable {
    var id: NodeID
    /// Labels its join token pinned.
    var pinnedLabels: [String: String]
}

/// Admits nodes: turns join tokens and certificate requests into node certificates, and tells a
/// connecting node's identity from the client certificate it presented. Without a cluster CA
/// (`--dev`) there is no node identity: nodes connect without certificates and name themselves.
struct NodeAdmission: Sendable {
    let store: any NodeIdentityStore
    let ca: ClusterCA?
    let clock: @Sendable () -> Timestamp
    let newNodeID: @Sendable () -> NodeID
    var certificateValidity: TimeInterval = NodeCertificates.defaultValidity

    /// The node behind a connection, from its verified client certificate. nil in `--dev`.
    /// TLS has already checked the certificate's signature and dates against the cluster CA
    /// (`.optionalVerification`), so what is left is whose it is and whether that node may
    /// connect now.
    func authenticate(_ channel: any Channel) async -> Result<AuthenticatedNode?, AuthFailure> {
        guard ca != nil else { return .success(nil) }
        let presented = try? await channel.nioSSL_peerCertificate().get()
        guard let presented else {
            return .failure(AuthFailure(
                .unauthenticated, code: "node_certificate_missing",
                message: "a node connects with the client certificate it got when it joined; this connection presented none. "
                    + "Give the node a join token (insitu node join-token create; join_token in its config)"))
        }
        guard let der = try? presented.toDERBytes(), let certificate = try? Certificate(derEncoded: der),
            let id = NodeCertificates.nodeID(of: certificate)
        else {
            return .failure(AuthFailure(
                .unauthenticated, code: "node_certificate_invalid",
                message: "the client certificate names no node (it is not a node certificate of this cluster)"))
        }
        return await admit(NodeID(id)).map { $0 }
    }

    /// Whether the node with this certified ID may connect now, and what its join token pinned.
    func admit(_ nodeID: NodeID) async -> Result<AuthenticatedNode, AuthFailure> {
        let record: NodeIdentityRecord?
        do { record = try await store.nodeIdentity(nodeID) } catch {
            return .failure(AuthFailure(.forbidden, code: "node_lookup_failed", message: "the node's record cannot be read: \(error)"))
        }
        if let failure = NodeJoining.mayConnect(nodeID, record: record) { return .failure(failure) }
        return .success(AuthenticatedNode(id: nodeID, pinnedLabels: record?.labels ?? [:]))
    }

    enum JoinOutcome {
        case approved(NodeJoinResponse, NodeIdentityRecord)
        case pending(NodeJoinResponse, NodeIdentityRecord)
    }

    /// A node asks to join with a token and a certificate request. Asking again with the same
    /// token and key returns the same node (and, once approved, a certificate), so a node that
    /// restarted or waits for approval simply asks again.
    func join(_ request: NodeJoinRequest) async throws -> JoinOutcome {
        guard let ca else {
            throw APIError(
                .conflict, code: "node_identity_off",
                message: "this orchestrator runs with --dev: nodes connect without certificates; dial it with http:// and no join token")
        }
        // The name is shown in tables and logs: bounded in bytes, no control characters.
        guard (1...NodeInfoLimits.maxIdentifierBytes).contains(request.name.utf8.count),
            !request.name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw APIError(
                .unprocessableContent, code: "invalid_join_request",
                message: "name: a node's name is 1 to \(NodeInfoLimits.maxIdentifierBytes) bytes without control characters (the node config's name)")
        }
        let now = clock()
        let presentedID = PresentedToken(request.token, prefix: PresentedToken.joinPrefix)?.id
        let stored = try await presentedID.asyncMap { try await store.joinToken(id: $0) } ?? nil
        let token: JoinTokenRecord
        switch NodeJoining.admit(presented: request.token, record: { $0 == stored?.id ? stored : nil }, now: now) {
        case .success(let admitted):
            token = admitted
        case .failure(let failure) where failure.code == "join_token_used" || failure.code == "join_token_expired":
            // The store decides: a node asking again with the key it asked with before is the
            // same request (it restarted, or waits for approval); anyone else is refused.
            guard let stored else { throw APIError(failure) }
            token = stored
        case .failure(let failure):
            throw APIError(failure)
        }
        let csr = try parse(request.certificateRequest)
        let record = NodeIdentityRecord(
            nodeID: newNodeID(), name: request.name, state: token.manualApproval ? .pending : .approved, joinTokenID: token.id,
            publicKeyDigest: NodeCertificates.digest(of: csr.publicKey), requestPEM: request.certificateRequest, labels: token.labels,
            requestedAt: now, decidedAt: token.manualApproval ? nil : now)
        let joined: NodeIdentityRecord
        do { joined = try await store.join(record, now: now) } catch let failure as AuthFailure { throw APIError(failure) }
        let result = try outcome(joined, ca: ca, now: now)
        if case .approved(_, let node) = result, let expires = node.certificateExpiresAt {
            try await store.recordCertificate(node.nodeID, expiresAt: expires)
        }
        return result
    }

    /// A new certificate for the node behind `channel`, for the key of `request`.
    func renew(_ request: NodeRenewRequest, channel: any Channel) async throws -> (NodeJoinResponse, NodeIdentityRecord) {
        guard let ca else { throw APIError(.conflict, code: "node_identity_off", message: "this orchestrator runs with --dev: nodes have no certificates") }
        let node: AuthenticatedNode
        switch await authenticate(channel) {
        case .success(let authenticated?): node = authenticated
        case .success(nil): throw APIError(.conflict, code: "node_identity_off", message: "this orchestrator runs with --dev")
        case .failure(let failure): throw APIError(failure)
        }
        let csr = try parse(request.certificateRequest)
        let now = clock()
        let certificate = try issue(node.id, publicKey: csr.publicKey, ca: ca, now: now)
        guard let record = try await store.decideNode(node.id, state: .approved, at: now, certificateExpiresAt: expiry(certificate)) else {
            throw APIError.notFound("node \(node.id)")
        }
        return (NodeJoinResponse(nodeID: node.id, state: record.state.rawValue, certificate: certificate.pemText, caCertificate: ca.certificate.pemText), record)
    }

    /// Issues the certificate of an approved node now (its request's key), or says it waits.
    private func outcome(_ record: NodeIdentityRecord, ca: ClusterCA, now: Timestamp) throws -> JoinOutcome {
        switch record.state {
        case .approved:
            let csr = try parse(record.requestPEM)
            let certificate = try issue(record.nodeID, publicKey: csr.publicKey, ca: ca, now: now)
            var issued = record
            issued.certificateExpiresAt = expiry(certificate)
            return .approved(
                NodeJoinResponse(
                    nodeID: record.nodeID, state: record.state.rawValue, certificate: certificate.pemText, caCertificate: ca.certificate.pemText),
                issued)
        case .pending:
            return .pending(NodeJoinResponse(nodeID: record.nodeID, state: record.state.rawValue, certificate: nil, caCertificate: nil), record)
        case .rejected, .revoked:
            throw APIError(NodeJoining.mayConnect(record.nodeID, record: record) ?? AuthFailure(.forbidden, code: "node_refused", message: "refused"))
        }
    }

    private func parse(_ pem: String) throws -> CertificateSigningRequest {
        do { return try NodeCertificates.parseRequest(pem) } catch {
            throw APIError(.unprocessableContent, code: "certificate_request_invalid", message: "\(error)")
        }
    }

    private func issue(_ id: NodeID, publicKey: Certificate.PublicKey, ca: ClusterCA, now: Timestamp) throws -> Certificate {
        try ca.issueNodeCertificate(
            nodeID: id.rawValue, publicKey: publicKey, now: Date(timeIntervalSince1970: Double(now.milliseconds) / 1000),
            validity: certificateValidity)
    }

    func expiry(_ certificate: Certificate) -> Timestamp {
        Timestamp(milliseconds: Int64((certificate.notValidAfter.timeIntervalSince1970 * 1000).rounded()))
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
