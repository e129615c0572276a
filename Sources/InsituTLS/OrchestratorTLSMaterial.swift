public import Crypto
public import Foundation
import SwiftASN1
public import X509

/// The orchestrator's TLS material in `<data-dir>/tls/`: the cluster CA (`ca.crt`, `ca.key`) and
/// the server certificate it signed (`server.crt`, `server.key`). Created on first start; the
/// server certificate is issued again when the names it must cover change or when it has less
/// than 30 days left, so rotation needs nothing but a restart.
public struct OrchestratorTLSMaterial: Sendable {
    public let ca: ClusterCA
    public let serverCertificate: Certificate
    public let serverKey: P256.Signing.PrivateKey
    public let directory: String

    public var caPath: String { directory + "/ca.crt" }

    public static let renewBefore: TimeInterval = 30 * 24 * 3600

    /// A DNS name every server certificate of the cluster CA covers. Nodes that dial the
    /// orchestrator by IP address present it as the TLS server name (the WebSocket client cannot
    /// send an IP address there) and verify the certificate against it; only the orchestrator's
    /// certificate carries it.
    public static let clusterServerName = "insitu-orchestrator"

    /// Loads the material from `directory`, creating what is missing. `names` are the DNS names
    /// and IP literals clients may dial.
    public static func loadOrCreate(directory: String, names: [String], now: Date) throws -> OrchestratorTLSMaterial {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let caCertPath = directory + "/ca.crt", caKeyPath = directory + "/ca.key"
        let serverCertPath = directory + "/server.crt", serverKeyPath = directory + "/server.key"

        let ca: ClusterCA
        if SecretFiles.exists(caCertPath) || SecretFiles.exists(caKeyPath) {
            do {
                let certificate = try Certificate(pemEncoded: try SecretFiles.read(caCertPath, secret: false))
                let key = try P256.Signing.PrivateKey(pemRepresentation: try SecretFiles.read(caKeyPath, secret: true))
                guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                    throw SecretFiles.Failure("\(caKeyPath) is not the key of \(caCertPath)")
                }
                ca = ClusterCA(certificate: certificate, privateKey: key)
            } catch {
                throw SecretFiles.Failure(
                    "the cluster CA in \(directory) cannot be read (\(error)); restore ca.crt and ca.key from a backup "
                        + "(a new CA would make every node and client distrust this orchestrator)")
            }
        } else {
            ca = try ClusterCA.create(now: now)
            try SecretFiles.write(ca.privateKey.pemRepresentation, to: caKeyPath, mode: 0o600)
            try SecretFiles.write(try ca.certificate.serializeAsPEM().pemString, to: caCertPath, mode: 0o644)
        }

        if SecretFiles.exists(serverCertPath), SecretFiles.exists(serverKeyPath),
            let certificate = try? Certificate(pemEncoded: try SecretFiles.read(serverCertPath, secret: false)),
            let key = try? P256.Signing.PrivateKey(pemRepresentation: try SecretFiles.read(serverKeyPath, secret: true)),
            certificate.publicKey == Certificate.PublicKey(key.publicKey),
            certificate.issuer == ca.certificate.subject,
            certificate.notValidAfter.timeIntervalSince(now) > renewBefore,
            Set(coveredNames(certificate)) == Set(names + [clusterServerName])
        {
            return OrchestratorTLSMaterial(ca: ca, serverCertificate: certificate, serverKey: key, directory: directory)
        }
        let (certificate, key) = try ca.issueServerCertificate(names: names + [clusterServerName], now: now)
        try SecretFiles.write(key.pemRepresentation, to: serverKeyPath, mode: 0o600)
        try SecretFiles.write(try certificate.serializeAsPEM().pemString, to: serverCertPath, mode: 0o644)
        return OrchestratorTLSMaterial(ca: ca, serverCertificate: certificate, serverKey: key, directory: directory)
    }

    /// The DNS names and IP literals a certificate's subject alternative names cover.
    public static func coveredNames(_ certificate: Certificate) -> [String] {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets): return IPAddressBytes.text(Array(octets.bytes))
            default: return nil
            }
        }
    }
}

extension IPAddressBytes {
    static func text(_ bytes: [UInt8]) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : bytes.count == 16 ? AF_INET6 : -1
        guard family != -1 else { return nil }
        let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
        return ok ? String(cString: buffer) : nil
    }
}
