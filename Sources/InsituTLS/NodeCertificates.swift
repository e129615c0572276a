public import Crypto
public import Foundation
import SwiftASN1
public import X509

/// Node identity by certificate. A node makes its own key, which never leaves it, and sends a
/// certificate request; the cluster CA answers with a short-lived client certificate whose only
/// name is the node's SPIFFE-style URI (`spiffe://insitu/node/<id>`). The orchestrator takes a
/// connecting node's ID from that URI, never from what the node says about itself.
public enum NodeCertificates {
    public static let uriPrefix = "spiffe://insitu/node/"
    /// Long enough to ride out a weekend offline, short enough that a stolen key does not last.
    public static let defaultValidity: TimeInterval = 30 * 24 * 3600
    /// Larger requests are refused before parsing (a P-256 request is under 1 KiB).
    public static let maxRequestBytes = 16 << 10

    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// A certificate request (PEM) for `key`, naming the node `name` for people; the CA ignores
    /// every name in it but uses its key.
    public static func makeRequest(name: String, key: P256.Signing.PrivateKey) throws -> String {
        let subject = try DistinguishedName {
            OrganizationName("Insitu")
            CommonName(String(name.prefix(64)))
        }
        let request = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: .init(key), attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256)
        return try request.serializeAsPEM().pemString
    }

    /// A request parsed from untrusted PEM, its signature checked (the node proves it holds the
    /// key), its key a P-256 key.
    public static func parseRequest(_ pem: String) throws -> CertificateSigningRequest {
        guard pem.utf8.count <= maxRequestBytes else {
            throw Invalid("the certificate request is \(pem.utf8.count) bytes; at most \(maxRequestBytes) are accepted")
        }
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(pemEncoded: pem)
        } catch {
            throw Invalid("the certificate request is not a PEM 'CERTIFICATE REQUEST': \(error)")
        }
        guard P256.Signing.PublicKey(request.publicKey) != nil else {
            throw Invalid("the certificate request's key is not a P-256 ECDSA key (the only kind nodes use)")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw Invalid("the certificate request's signature does not match its key")
        }
        return request
    }

    /// Lowercase hex SHA-256 of a public key's DER encoding.
    public static func digest(of key: Certificate.PublicKey) -> String {
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(key)) != nil else { return "" }
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }

    /// The node ID a certificate names, or nil when it names none (or more than one). Only the
    /// URI name counts; a node certificate has no DNS name, so it can never pass for the
    /// orchestrator's.
    public static func nodeID(of certificate: Certificate) -> String? {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        let ids = names.compactMap { name -> String? in
            guard case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(uriPrefix) else { return nil }
            return String(uri.dropFirst(uriPrefix.count))
        }
        guard ids.count == 1, let id = ids.first, isValidNodeID(id) else { return nil }
        return id
    }

    /// Node IDs the orchestrator issues: `n-` and hex digits. Anything else in a certificate is
    /// refused, so an ID from a certificate is always safe to log and to use as a key.
    public static func isValidNodeID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count > 2, bytes.count <= 64, id.hasPrefix("n-") else { return false }
        return bytes.dropFirst(2).allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
    }
}

extension ClusterCA {
    /// A client certificate for node `nodeID`, for the key of a request already checked with
    /// `NodeCertificates.parseRequest`.
    public func issueNodeCertificate(
        nodeID: String, publicKey: Certificate.PublicKey, now: Date, validity: TimeInterval = NodeCertificates.defaultValidity
    ) throws -> Certificate {
        guard NodeCertificates.isValidNodeID(nodeID) else { throw NodeCertificates.Invalid("\(nodeID) is not a node ID") }
        let subject = try DistinguishedName {
            OrganizationName("Insitu")
            CommonName(nodeID)
        }
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(validity),
            issuer: self.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames([.uniformResourceIdentifier(NodeCertificates.uriPrefix + nodeID)])
                AuthorityKeyIdentifier(keyIdentifier: self.subjectKeyIdentifier)
            },
            issuerPrivateKey: .init(privateKey))
    }
}

extension Certificate {
    /// PEM text, or nil when the certificate cannot be encoded (it always can once parsed).
    public var pemText: String? { try? serializeAsPEM().pemString }
}
