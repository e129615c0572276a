import AsyncHTTPClient
import Foundation
import InsituTLS
import NIOSSL
import Synchronization

/// Which certificate authority the node trusts for its orchestrators: the cluster CA from
/// `orchestrator_ca`, or (without it) the system's CAs. The node link trusts only the cluster CA;
/// module downloads trust it in addition to the system's, since a module URL may name any host.
struct OrchestratorTrust: Sendable {
    let clusterCA: [NIOSSLCertificate]?

    static func load(_ config: AgentConfig) throws -> OrchestratorTrust {
        guard let path = config.orchestratorCA else { return OrchestratorTrust(clusterCA: nil) }
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(path)
            guard !certificates.isEmpty else { throw AgentConfig.Invalid(file: path, problems: ["no certificate in the file"]) }
            return OrchestratorTrust(clusterCA: certificates)
        } catch let invalid as AgentConfig.Invalid {
            throw invalid
        } catch {
            throw AgentConfig.Invalid(
                file: path, problems: ["orchestrator_ca: cannot read a PEM certificate from \(path) (\(error)); copy the orchestrator's tls/ca.crt here"])
        }
    }

    /// The TLS server name to present and verify on the link to `url`: its host, except that an
    /// IP address (which TLS cannot carry there) becomes the name every cluster-CA server
    /// certificate covers. Without a cluster CA, nil (the host itself).
    func serverName(forLink url: String) -> String? {
        guard clusterCA != nil, let host = URL(string: url)?.host else { return nil }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var v4 = in_addr(), v6 = in6_addr()
        let isAddress = inet_pton(AF_INET, bare, &v4) == 1 || inet_pton(AF_INET6, bare, &v6) == 1
        return isAddress ? OrchestratorTLSMaterial.clusterServerName : nil
    }

    /// For the WebSocket link (nil: the library's default, the system's CAs).
    var linkTLS: TLSConfiguration? {
        guard let clusterCA else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(clusterCA)
        return tls
    }

    /// The HTTP client for module downloads: no automatic redirects (the fetcher follows them
    /// itself, checking each hop), the cluster CA trusted besides the system's. One per process.
    var fetchClient: HTTPClient {
        Self.clients.withLock { clients in
            let key = clusterCA.map { $0.map { "\($0.hashValue)" }.joined(separator: ",") } ?? ""
            if let existing = clients[key] { return existing }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let clusterCA { tls.additionalTrustRoots = [.certificates(clusterCA)] }
            let client = HTTPClient(
                eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                configuration: HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow))
            clients[key] = client
            return client
        }
    }

    private static let clients = Mutex<[String: HTTPClient]>([:])
}
