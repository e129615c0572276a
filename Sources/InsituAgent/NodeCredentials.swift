import Crypto
import Foundation
import InsituModel
import InsituTLS
import NIOSSL
import X509

/// The node's key and the certificate the cluster CA issued for it, in
/// `<data-dir>/identity.json` (mode 0600; replaced atomically, so key and certificate always
/// match). The key is made on the node before it first asks to join and never leaves it; until
/// the certificate arrives the file holds the key alone, so a node that restarts while it waits
/// for approval asks again with the same key.
struct NodeCredentials: Sendable {
    let key: P256.Signing.PrivateKey
    let certificate: Certificate?

    private struct Stored: Codable {
        var key: String
        var certificate: String?
    }

    static func path(_ config: AgentConfig) -> String { config.dataDirectory + "/identity.json" }

    /// The node's ID, from its certificate: the only place it comes from.
    var nodeID: NodeID? { certificate.flatMap(NodeCertificates.nodeID(of:)).map { NodeID($0) } }

    /// Loads the stored credentials, or makes and stores a new key.
    static func loadOrCreate(_ config: AgentConfig) throws -> NodeCredentials {
        let file = path(config)
        guard SecretFiles.exists(file) else {
            try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
            let credentials = NodeCredentials(key: P256.Signing.PrivateKey(), certificate: nil)
            try credentials.store(config)
            return credentials
        }
        do {
            let stored = try JSONDecoder().decode(Stored.self, from: Data(try SecretFiles.read(file, secret: true).utf8))
            let key = try P256.Signing.PrivateKey(pemRepresentation: stored.key)
            let certificate = try stored.certificate.map { try Certificate(pemEncoded: $0) }
            if let certificate, certificate.publicKey != Certificate.PublicKey(key.publicKey) {
                throw NodeCertificates.Invalid("the certificate is not for the stored key")
            }
            return NodeCredentials(key: key, certificate: certificate)
        } catch {
            throw AgentConfig.Invalid(
                file: file, problems: ["the node's identity cannot be read (\(error)); restore it from a backup, or delete it and join again with a new join token"])
        }
    }

    func store(_ config: AgentConfig) throws {
        let stored = Stored(key: key.pemRepresentation, certificate: certificate?.pemText)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecretFiles.write(String(decoding: try encoder.encode(stored), as: UTF8.self), to: Self.path(config), mode: 0o600)
    }

    /// Whether the certificate is close enough to expiry to ask for a new one: within
    /// `renewBefore`, or (without it) in the last third of its lifetime.
    func needsRenewal(now: Date, renewBefore: TimeInterval?) -> Bool {
        guard let certificate else { return false }
        let lifetime = certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore)
        let margin = renewBefore ?? lifetime / 3
        return certificate.notValidAfter.timeIntervalSince(now) <= margin
    }

    /// The client side of mutual TLS: this certificate and key.
    func apply(to tls: inout TLSConfiguration) throws {
        guard let pem = certificate?.pemText else { return }
        tls.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem))]
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem))
    }
}
