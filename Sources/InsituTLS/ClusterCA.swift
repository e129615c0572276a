public import Crypto
public import Foundation
import SwiftASN1
public import X509

/// The cluster's certificate authority: a P-256 key and a self-signed certificate, created once in
/// the orchestrator's data directory. It signs the orchestrator's server certificate (and, with
/// node identity, each node's client certificate). Time and serial numbers are inputs, so tests
/// can issue certificates at any moment.
public struct ClusterCA: Sendable {
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey

    public static let validity: TimeInterval = 10 * 365 * 24 * 3600
    public static let serverValidity: TimeInterval = 365 * 24 * 3600

    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// A new authority named `name`, valid from a minute before `now` (clock skew) for ten years.
    public static func create(name: String = "Insitu cluster CA", now: Date, key: P256.Signing.PrivateKey = .init()) throws -> ClusterCA {
        let subject = try DistinguishedName {
            OrganizationName("Insitu")
            CommonName(name)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(validity),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        return ClusterCA(certificate: certificate, privateKey: key)
    }

    /// A server certificate for the orchestrator, valid for the given DNS names and IP addresses.
    /// Names that are IP literals become IP SANs, so clients that dial an address verify it.
    public func issueServerCertificate(
        names: [String], now: Date, key: P256.Signing.PrivateKey = .init()
    ) throws -> (certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        var alternativeNames: [GeneralName] = []
        for name in Set(names).sorted() {
            if let address = IPAddressBytes(name) {
                alternativeNames.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address.bytes))))
            } else {
                alternativeNames.append(.dnsName(name))
            }
        }
        let subject = try DistinguishedName {
            OrganizationName("Insitu")
            CommonName("insitu orchestrator")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(Self.serverValidity),
            issuer: self.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(alternativeNames)
                AuthorityKeyIdentifier(keyIdentifier: self.subjectKeyIdentifier)
            },
            issuerPrivateKey: .init(privateKey))
        return (certificate, key)
    }

    var subjectKeyIdentifier: ArraySlice<UInt8>? {
        (try? certificate.extensions.subjectKeyIdentifier)??.keyIdentifier
    }

    /// `sha256:` and the lowercase hex SHA-256 of the certificate's DER encoding: what a user
    /// compares or pins (as `kubeadm` does with its CA hash).
    public var fingerprint: String { Self.fingerprint(of: certificate) }

    public static func fingerprint(of certificate: Certificate) -> String {
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(certificate)) != nil else { return "sha256:unavailable" }
        return "sha256:" + SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }
}

/// The 4 or 16 bytes of an IPv4 or IPv6 literal.
struct IPAddressBytes {
    var bytes: [UInt8]

    init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }
}
