import AsyncHTTPClient
import Crypto
import Foundation
import InsituExecutor
import InsituModel
import NIOSSL

/// Downloads modules for the node, without turning it into a scanner of its own network.
///
/// A job's module URL is chosen by whoever submits the job, and the node dials it from inside
/// its own network. So:
/// - only `http` and `https` URLs, and only to hosts the node allows (`policy.module_hosts` in
///   its config, formerly `modules.allowed_hosts`; the orchestrators' hosts are always allowed;
///   no list allows any host), checked again here on every redirect;
/// - redirects are followed by hand, at most 5, and only to the same scheme, host and port unless
///   the node sets `modules.cross_host_redirects: true` (the target's host must still be allowed);
/// - a failure says "fetch failed" and a class (host not allowed, redirect refused, unreachable,
///   refused by the server, too large, digest mismatch), never a status code, an error text, or
///   the digest of what came back, so probing the node's network through it yields little.
struct ModuleFetcher: Sendable {
    enum Failure: String, Sendable {
        case hostNotAllowed = "host not allowed"
        case redirectRefused = "redirect refused"
        case unreachable
        case refusedByServer = "refused by the server"
        case tooLarge = "too large"
        case digestMismatch = "digest mismatch"
    }

    static let maxModuleBytes = 256 << 20
    static let maxRedirects = 5

    /// nil: any host.
    let allowedHosts: Set<String>?
    let crossHostRedirects: Bool
    /// Hosts (`host` or `host:port`) always allowed: the orchestrators'.
    let trustedHosts: Set<String>

    /// Without automatic redirects: each hop is checked here.
    let client: HTTPClient
    let trust: OrchestratorTrust
    /// The node's certificate, presented to its orchestrators (which serve modules to nodes by
    /// certificate), never to other hosts.
    let credentials: @Sendable () -> NodeCredentials?

    init(
        allowedHosts: [String]?, crossHostRedirects: Bool, orchestrators: [String], trust: OrchestratorTrust = OrchestratorTrust(clusterCA: nil),
        credentials: @escaping @Sendable () -> NodeCredentials? = { nil }
    ) {
        self.client = trust.fetchClient
        self.trust = trust
        self.credentials = credentials
        self.allowedHosts = allowedHosts.map { Set($0.map { $0.lowercased() }) }
        self.crossHostRedirects = crossHostRedirects
        self.trustedHosts = Set(orchestrators.compactMap { URL(string: $0).flatMap(Self.hostKeys)?.withPort })
    }

    func isAllowed(_ url: URL) -> Bool {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", let keys = Self.hostKeys(url) else {
            return false
        }
        if trustedHosts.contains(keys.withPort) { return true }
        guard let allowedHosts else { return true }
        return allowedHosts.contains(keys.host) || allowedHosts.contains(keys.withPort)
    }

    /// Downloads `source` and returns its bytes if their sha256 is `digest`.
    func fetch(_ source: String, digest: ContentDigest) async throws(FetchError) -> [UInt8] {
        guard var url = URL(string: source), isAllowed(url) else { throw FetchError(.hostNotAllowed) }
        for _ in 0...Self.maxRedirects {
            let response: HTTPClientResponse
            do {
                var request = HTTPClientRequest(url: url.absoluteString)
                request.tlsConfiguration = orchestratorTLS(for: url)
                response = try await client.execute(request, timeout: .seconds(60))
            } catch {
                throw FetchError(.unreachable)
            }
            if (300..<400).contains(response.status.code) {
                guard let location = response.headers.first(name: "location"), let next = URL(string: location, relativeTo: url)?.absoluteURL
                else { throw FetchError(.redirectRefused) }
                guard crossHostRedirects || Self.sameOrigin(url, next) else { throw FetchError(.redirectRefused) }
                guard isAllowed(next) else { throw FetchError(.hostNotAllowed) }
                url = next
                continue
            }
            guard response.status == .ok else { throw FetchError(.refusedByServer) }
            let body: [UInt8]
            do {
                body = Array(try await response.body.collect(upTo: Self.maxModuleBytes).readableBytesView)
            } catch {
                throw FetchError(.tooLarge)
            }
            let actual = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
            guard actual == digest.rawValue else { throw FetchError(.digestMismatch) }
            return body
        }
        throw FetchError(.redirectRefused)
    }

    /// Mutual TLS for a download from one of the node's orchestrators; nil (the client's own
    /// configuration) for any other host or without a certificate.
    func orchestratorTLS(for url: URL) -> TLSConfiguration? {
        guard url.scheme?.lowercased() == "https", let key = Self.hostKeys(url)?.withPort, trustedHosts.contains(key),
            let credentials = credentials(), credentials.certificate != nil
        else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let clusterCA = trust.clusterCA { tls.additionalTrustRoots = [.certificates(clusterCA)] }
        do { try credentials.apply(to: &tls) } catch { return nil }
        return tls
    }

    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        a.scheme?.lowercased() == b.scheme?.lowercased() && hostKeys(a)?.withPort == hostKeys(b)?.withPort
    }

    /// `host` and `host:port` (port explicit or the scheme's default), lowercased.
    static func hostKeys(_ url: URL) -> (host: String, withPort: String)? {
        guard let host = url.host?.lowercased(), !host.isEmpty else { return nil }
        let port = url.port ?? (url.scheme?.lowercased() == "https" ? 443 : 80)
        return (host, "\(host):\(port)")
    }
}

struct FetchError: Error, Sendable {
    var failure: ModuleFetcher.Failure
    init(_ failure: ModuleFetcher.Failure) { self.failure = failure }
}
