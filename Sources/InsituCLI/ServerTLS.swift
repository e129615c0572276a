import ArgumentParser
import Foundation
import InsituTLS
import NIOSSL

/// What the orchestrator serves TLS with: its own cluster CA's server certificate (created in
/// `<data-dir>/tls/` on first start) or the operator's certificate and key.
struct ServerTLS {
    var configuration: TLSConfiguration
    /// Signs node certificates; nodes' client certificates are verified against it.
    var clusterCA: ClusterCA
    /// The CA file clients and nodes should trust, when the orchestrator knows it.
    var caPath: String?
    var caFingerprint: String?

    /// nil in `--dev` (plain HTTP on loopback).
    static func make(_ options: ServerOptions, dataDirectory: String) throws -> ServerTLS? {
        if options.dev { return nil }
        var names = ["localhost", "127.0.0.1", "::1"] + options.tlsNames
        if let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init), !host.isEmpty {
            names.append(ProcessInfo.processInfo.hostName)
        }
        if !["0.0.0.0", "::"].contains(options.host) { names.append(options.host) }
        let material: OrchestratorTLSMaterial
        do {
            material = try OrchestratorTLSMaterial.loadOrCreate(directory: dataDirectory + "/tls", names: names, now: Date())
        } catch {
            throw CLIFailure("cannot set up TLS in \(dataDirectory)/tls: \(error)")
        }
        let ca = try NIOSSLCertificate(bytes: Array(try material.ca.certificate.serializeAsPEM().pemString.utf8), format: .pem)
        var configuration: TLSConfiguration
        var caPath: String? = material.caPath
        if let certPath = options.tlsCert, let keyPath = options.tlsKey {
            try StartupProblems.checkReadableFile(certPath, flag: "--tls-cert")
            try StartupProblems.checkReadableFile(keyPath, flag: "--tls-key")
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certPath)
                let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
                configuration = .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
                // Clients trust the operator's CA, not the cluster's (which still signs node certificates).
                caPath = nil
            } catch {
                throw CLIFailure(
                    "cannot use --tls-cert \(certPath) with --tls-key \(keyPath): \(error) "
                        + "(both must be PEM: the certificate chain, and its unencrypted private key)")
            }
        } else {
            let certificate = try NIOSSLCertificate(bytes: Array(try material.serverCertificate.serializeAsPEM().pemString.utf8), format: .pem)
            let key = try NIOSSLPrivateKey(bytes: Array(material.serverKey.pemRepresentation.utf8), format: .pem)
            configuration = .makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        }
        // Nodes present certificates from the cluster CA; API clients present none. Both use this
        // port, so a certificate is asked for but not required, and one that is presented must
        // verify against the cluster CA alone.
        configuration.certificateVerification = .optionalVerification
        configuration.trustRoots = .certificates([ca])
        return ServerTLS(configuration: configuration, clusterCA: material.ca, caPath: caPath, caFingerprint: caPath == nil ? nil : material.ca.fingerprint)
    }
}
