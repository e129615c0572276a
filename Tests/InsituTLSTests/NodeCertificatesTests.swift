import Crypto
import Foundation
import InsituTLS
import Testing
import X509

@Suite struct NodeCertificatesTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aRequestBecomesACertificateThatNamesTheNodeAndNothingElse() throws {
        let ca = try ClusterCA.create(now: now)
        let key = P256.Signing.PrivateKey()
        let request = try NodeCertificates.parseRequest(try NodeCertificates.makeRequest(name: "edge-1", key: key))
        #expect(request.publicKey == Certificate.PublicKey(key.publicKey))
        let certificate = try ca.issueNodeCertificate(nodeID: "n-0123abcd", publicKey: request.publicKey, now: now)
        #expect(NodeCertificates.nodeID(of: certificate) == "n-0123abcd")
        #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey))
        #expect(certificate.issuer == ca.certificate.subject)
        #expect(OrchestratorTLSMaterial.coveredNames(certificate).isEmpty, "no DNS name: never the orchestrator's")
        #expect(try certificate.extensions.extendedKeyUsage?.contains(.clientAuth) == true)
        #expect(try certificate.extensions.extendedKeyUsage?.contains(.serverAuth) == false)
        #expect(certificate.notValidAfter.timeIntervalSince(now) == NodeCertificates.defaultValidity)
        #expect(ca.publicKeyVerifies(certificate))
    }

    @Test func theServerCertificateNamesNoNode() throws {
        let ca = try ClusterCA.create(now: now)
        let server = try ca.issueServerCertificate(names: ["localhost", "127.0.0.1", OrchestratorTLSMaterial.clusterServerName], now: now)
        #expect(NodeCertificates.nodeID(of: server.certificate) == nil)
    }

    @Test func requestsThatProveNothingAreRefused() throws {
        let key = P256.Signing.PrivateKey()
        let pem = try NodeCertificates.makeRequest(name: "edge-1", key: key)
        // The same request with its signature replaced by another key's.
        let genuine = try CertificateSigningRequest(pemEncoded: pem)
        let other = try CertificateSigningRequest(
            version: .v1, subject: genuine.subject, privateKey: .init(P256.Signing.PrivateKey()), attributes: .init(),
            signatureAlgorithm: .ecdsaWithSHA256)
        let forged = try CertificateSigningRequest(
            version: .v1, subject: genuine.subject, publicKey: genuine.publicKey, attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256,
            signature: other.signature)
        #expect(throws: NodeCertificates.Invalid.self) { try NodeCertificates.parseRequest(try forged.serializeAsPEM().pemString) }
        #expect(throws: NodeCertificates.Invalid.self) { try NodeCertificates.parseRequest("not a request") }
        #expect(throws: NodeCertificates.Invalid.self) {
            try NodeCertificates.parseRequest(String(repeating: "A", count: NodeCertificates.maxRequestBytes + 1))
        }
        let ed25519 = try CertificateSigningRequest(
            version: .v1, subject: genuine.subject, privateKey: .init(Curve25519.Signing.PrivateKey()), attributes: .init())
        #expect(throws: NodeCertificates.Invalid.self) { try NodeCertificates.parseRequest(try ed25519.serializeAsPEM().pemString) }
    }

    @Test func onlyIssuedNodeIDsAreAccepted() throws {
        for valid in ["n-0", "n-0123456789abcdef"] { #expect(NodeCertificates.isValidNodeID(valid)) }
        for invalid in ["", "n-", "x-01", "n-ABC", "n-01/../x", "n-01\n", "n-" + String(repeating: "a", count: 63)] {
            #expect(!NodeCertificates.isValidNodeID(invalid), "\(invalid)")
        }
        let ca = try ClusterCA.create(now: now)
        #expect(throws: NodeCertificates.Invalid.self) {
            try ca.issueNodeCertificate(nodeID: "../etc", publicKey: .init(P256.Signing.PrivateKey().publicKey), now: self.now)
        }
    }
}

extension ClusterCA {
    /// Whether the CA's key signed `certificate`.
    func publicKeyVerifies(_ certificate: Certificate) -> Bool {
        certificate.issuer == self.certificate.subject
            && self.certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
    }
}
