public import AsyncHTTPClient
public import Foundation
public import InsituAPI
public import InsituModel
public import NIOCore
import NIOSSL
import Synchronization

/// A typed client for the orchestrator's REST API, used by the CLI, the benchmark and the tests.
public struct InsituClient: Sendable {
    public let baseURL: String
    /// The API token sent as `Authorization: Bearer` (nil against an orchestrator in `--dev`).
    public let token: String?
    let http: HTTPClient

    /// The HTTP client every `InsituClient` in a process shares unless given another. It gives up
    /// on an address that refuses or does not answer after `connectTimeout` (the shared default
    /// client keeps retrying until the whole request times out, a minute for a CLI user).
    public static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = connectTimeout
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
    public static let connectTimeout = TimeAmount.seconds(5)

    /// With `caCertificatePEM`, `https` connections trust that certificate authority (the
    /// cluster CA) and nothing else.
    public init(baseURL: String, token: String?, caCertificatePEM: String?) throws {
        self.init(baseURL: baseURL, token: token, http: try caCertificatePEM.map(Self.client(trusting:)) ?? Self.sharedHTTP)
    }

    public init(baseURL: String, token: String? = nil, http: HTTPClient = InsituClient.sharedHTTP) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        if !url.contains("://") { url = "http://" + url }
        self.baseURL = url
        self.token = token
        self.http = http
    }

    /// An error answered by the orchestrator, or a failure to reach it.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var status: Int?
        public var code: String
        public var message: String
        public var problems: [APIProblem]

        public init(status: Int?, code: String, message: String, problems: [APIProblem]) {
            self.status = status
            self.code = code
            self.message = message
            self.problems = problems
        }

        public var description: String {
            var text = message
            for problem in problems {
                text += "\n  - \(problem.path.isEmpty ? "(document)" : problem.path): \(problem.message)"
                if let hint = problem.hint { text += "\n      hint: \(hint)" }
            }
            return text
        }
    }

    /// Submits a job. With an `idempotencyKey`, retrying the same submission (after a timeout or
    /// a lost answer) returns the job the first one created instead of creating another.
    public func submit(_ request: SubmitJobRequest, idempotencyKey: String? = nil) async throws -> SubmitJobResponse {
        try await call(
            "POST", "/v1/jobs", body: try JSONEncoder().encode(request),
            headers: idempotencyKey.map { ["Idempotency-Key": $0] } ?? [:])
    }

    /// Drains a node (`true`: no new work) or lifts the drain; by node ID or name.
    public func drainNode(_ id: String, _ draining: Bool) async throws -> NodeSummary {
        try await call(draining ? "POST" : "DELETE", "/v1/nodes/\(Self.pathComponent(id))/drain")
    }

    /// Forgets a node that is away for good; by node ID or name.
    public func deleteNode(_ id: String) async throws -> DeleteNodeResponse {
        try await call("DELETE", "/v1/nodes/\(Self.pathComponent(id))")
    }

    /// Where the job would run if submitted now; nothing is stored (`POST /v1/jobs/plan`).
    public func plan(_ request: SubmitJobRequest) async throws -> JobPlanResponse {
        try await call("POST", "/v1/jobs/plan", body: try JSONEncoder().encode(request))
    }

    public func uploadModule(_ bytes: Data) async throws -> UploadModuleResponse {
        try await call("POST", "/v1/modules", body: bytes, contentType: "application/wasm")
    }

    public func jobs(limit: Int = 100) async throws -> [JobSummary] { try await call("GET", "/v1/jobs?limit=\(limit)") }
    /// One page of jobs, filtered on the server, and the token of the next.
    public func jobs(_ filter: JobListFilter) async throws -> ListPage<JobSummary> {
        try await page("/v1/jobs" + Self.query(filter.parameters))
    }
    public func nodes(_ filter: NodeListFilter) async throws -> ListPage<NodeSummary> {
        try await page("/v1/nodes" + Self.query(filter.parameters))
    }
    public func job(_ id: String) async throws -> JobDetail { try await call("GET", "/v1/jobs/\(Self.pathComponent(id))") }
    public func history(_ id: String) async throws -> [JobEvent] { try await call("GET", "/v1/jobs/\(Self.pathComponent(id))/history") }
    public func logs(_ id: String, after: Int64) async throws -> LogsPage {
        try await call("GET", "/v1/jobs/\(Self.pathComponent(id))/logs?after=\(after)")
    }
    public func stop(_ id: String) async throws -> JobSummary { try await call("POST", "/v1/jobs/\(Self.pathComponent(id))/stop") }
    public func results(_ id: String) async throws -> [ResultRecord] { try await call("GET", "/v1/jobs/\(Self.pathComponent(id))/results") }
    /// Long-polls until the job is terminal or `timeoutSeconds` pass, then returns its summary.
    public func wait(_ id: String, timeoutSeconds: Double = 30) async throws -> JobSummary {
        try await call("GET", "/v1/jobs/\(Self.pathComponent(id))/wait?timeout=\(timeoutSeconds)", timeout: .seconds(Int64(timeoutSeconds) + 30))
    }
    public func nodes() async throws -> [NodeSummary] { try await call("GET", "/v1/nodes") }
    public func node(_ id: String) async throws -> NodeSummary { try await call("GET", "/v1/nodes/\(Self.pathComponent(id))") }
    /// Any blob by digest: only for tokens of every namespace (and `--dev`).
    public func blob(_ digest: ContentDigest) async throws -> Data { try await raw("GET", "/v1/blobs/\(digest.rawValue)") }
    /// A result file of one job, for any token that may read the job.
    public func resultFile(job: String, digest: ContentDigest) async throws -> Data {
        try await raw("GET", "/v1/jobs/\(Self.pathComponent(job))/files/\(digest.rawValue)")
    }
    public func whoami() async throws -> WhoAmI { try await call("GET", "/v1/whoami") }
    public func createToken(_ request: CreateTokenRequest) async throws -> CreatedToken {
        try await call("POST", "/v1/tokens", body: try JSONEncoder().encode(request))
    }
    public func tokens() async throws -> [TokenInfo] { try await call("GET", "/v1/tokens") }
    public func revokeToken(_ id: String) async throws -> TokenInfo { try await call("DELETE", "/v1/tokens/\(Self.pathComponent(id))") }
    public func health() async throws -> [String: String] { try await call("GET", "/v1/health") }
    /// `/v1/health/live` and `/v1/health/ready`: open without a token; readiness answers 503
    /// (thrown as a `Failure`) while the orchestrator cannot serve.
    public func live() async throws -> [String: String] { try await call("GET", "/v1/health/live") }
    public func ready() async throws -> [String: String] { try await call("GET", "/v1/health/ready") }

    public func createJoinToken(_ request: CreateJoinTokenRequest) async throws -> CreatedJoinToken {
        try await call("POST", "/v1/join-tokens", body: try JSONEncoder().encode(request))
    }
    public func joinTokens() async throws -> [JoinTokenInfo] { try await call("GET", "/v1/join-tokens") }
    public func revokeJoinToken(_ id: String) async throws -> JoinTokenInfo {
        try await call("DELETE", "/v1/join-tokens/\(Self.pathComponent(id))")
    }
    public func nodeIdentities() async throws -> [NodeIdentityInfo] { try await call("GET", "/v1/node-identities") }
    /// `decision` is approve, reject or revoke.
    public func decideNode(_ id: String, _ decision: String) async throws -> NodeIdentityInfo {
        try await call("POST", "/v1/node-identities/\(Self.pathComponent(id))/\(decision)")
    }

    /// `text` as one path segment: percent-encoded so that `/`, `?`, `#` or `%` in an ID a user
    /// typed stay part of the ID instead of changing the request (`job describe 'x?limit=1'`
    /// must look up that ID, not job `x`).
    static func pathComponent(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%;")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// `?name=value&...`, every name and value percent-encoded but for unreserved characters.
    static func query(_ parameters: [(name: String, value: String)]) -> String {
        guard !parameters.isEmpty else { return "" }
        // ASCII only: `CharacterSet.alphanumerics` would leave other scripts' letters unencoded.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "" }
        return "?" + parameters.map { encoded($0.name) + "=" + encoded($0.value) }.joined(separator: "&")
    }

    /// A list answer: the array in the body and the next page's token from its header.
    func page<Item: Decodable & Sendable>(_ path: String) async throws -> ListPage<Item> {
        let response = try await send("GET", path, body: nil, contentType: "application/json", headers: [:], timeout: .seconds(60))
        let data = Data(try await response.body.collect(upTo: 512 << 20).readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            throw Self.failure(status: Int(response.status.code), body: data, method: "GET", path: path)
        }
        do {
            return ListPage(
                items: try JSONDecoder().decode([Item].self, from: data),
                nextToken: response.headers.first(name: ListPaging.nextTokenHeader))
        } catch {
            throw Failure(status: 200, code: "bad_response", message: "unexpected answer from \(baseURL)\(path): \(error)", problems: [])
        }
    }

    func call<T: Decodable>(
        _ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json",
        headers: [String: String] = [:], timeout: TimeAmount = .seconds(60)
    ) async throws -> T {
        let data = try await raw(method, path, body: body, contentType: contentType, headers: headers, timeout: timeout)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw Failure(status: 200, code: "bad_response", message: "unexpected answer from \(baseURL)\(path): \(error)", problems: [])
        }
    }

    /// An answer as it came, whatever its status.
    public struct Exchange: Sendable {
        public var status: Int
        /// Header names in lowercase.
        public var headers: [String: String]
        public var body: Data
    }

    /// Sends one request and returns the answer whatever its status, for callers that look at
    /// the HTTP exchange itself (tools, tests); failures to reach the orchestrator still throw.
    public func exchange(
        _ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json", headers: [String: String] = [:]
    ) async throws -> Exchange {
        let response = try await send(method, path, body: body, contentType: contentType, headers: headers, timeout: .seconds(60))
        var fields: [String: String] = [:]
        for header in response.headers {
            let name = header.name.lowercased()
            fields[name] = fields[name].map { $0 + ", " + header.value } ?? header.value
        }
        let data = Data(try await response.body.collect(upTo: 512 << 20).readableBytesView)
        return Exchange(status: Int(response.status.code), headers: fields, body: data)
    }

    func raw(
        _ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json",
        headers: [String: String] = [:], timeout: TimeAmount = .seconds(60)
    ) async throws -> Data {
        let response = try await send(method, path, body: body, contentType: contentType, headers: headers, timeout: timeout)
        let data = Data(try await response.body.collect(upTo: 512 << 20).readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            throw Self.failure(status: Int(response.status.code), body: data, method: method, path: path)
        }
        return data
    }

    private func send(
        _ method: String, _ path: String, body: Data?, contentType: String, headers: [String: String], timeout: TimeAmount
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            if let explained = explainTransportFailure(error) { throw explained }
            throw Failure(
                status: nil, code: "unreachable",
                message: "cannot reach the orchestrator at \(baseURL) (tried for up to \(Self.connectTimeout.nanoseconds / 1_000_000_000) s): \(error). "
                    + "Is it running there? Point the CLI elsewhere with --api or INSITU_API.",
                problems: [])
        }
        return response
    }
}

extension InsituClient {
    /// The failure an error answer describes: problem details (RFC 9457) from this orchestrator,
    /// the `{"error": {...}}` body of orchestrators before it, or just the status from anything else
    /// on the way (a proxy).
    static func failure(status: Int, body: Data, method: String, path: String) -> Failure {
        if let problem = try? JSONDecoder().decode(LenientProblem.self, from: body), let detail = problem.detail ?? problem.title {
            let code = problem.code ?? problem.type.flatMap { $0.hasPrefix(ProblemDetails.typeBase) ? String($0.dropFirst(ProblemDetails.typeBase.count)) : nil }
            return Failure(status: status, code: code ?? "http_\(status)", message: detail, problems: problem.problems ?? [])
        }
        if let legacy = try? JSONDecoder().decode(LegacyErrorBody.self, from: body) {
            return Failure(status: status, code: legacy.error.code, message: legacy.error.message, problems: legacy.error.problems ?? [])
        }
        return Failure(status: status, code: "http_\(status)", message: "\(method) \(path) answered \(status)", problems: [])
    }

    /// Problem details with every member optional: a proxy's may carry no `code`.
    private struct LenientProblem: Decodable {
        var type: String?
        var title: String?
        var detail: String?
        var code: String?
        var problems: [APIProblem]?
    }

    private struct LegacyErrorBody: Decodable {
        struct Detail: Decodable {
            var code: String
            var message: String
            var problems: [APIProblem]?
        }
        var error: Detail
    }

    /// One HTTP client per trusted CA, for the process's lifetime (an `HTTPClient` must be shut
    /// down before it is released; these never are).
    private static let clientsByCA = Mutex<[String: HTTPClient]>([:])

    static func client(trusting caPEM: String) throws -> HTTPClient {
        if let existing = clientsByCA.withLock({ $0[caPEM] }) { return existing }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8))
        } catch {
            throw Failure(status: nil, code: "bad_ca", message: "the CA certificate is not PEM: \(error)", problems: [])
        }
        guard !certificates.isEmpty else {
            throw Failure(status: nil, code: "bad_ca", message: "the CA file holds no certificate", problems: [])
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(certificates)
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout.connect = connectTimeout
        return clientsByCA.withLock { clients in
            if let existing = clients[caPEM] { return existing }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[caPEM] = client
            return client
        }
    }

    /// A person-readable failure when `error` shows that nothing listens at the address, or that
    /// the client and the server disagree about TLS (plain HTTP to a TLS port, TLS to a plain
    /// port, an untrusted certificate).
    func explainTransportFailure(_ error: any Error) -> Failure? {
        func failure(_ code: String, _ message: String) -> Failure { Failure(status: nil, code: code, message: message, problems: []) }
        let text = String(describing: error)
        let tls = baseURL.hasPrefix("https://")
        if tls && (text.contains("WRONG_VERSION_NUMBER") || text.contains("ALERT_PROTOCOL_VERSION") || text.contains("HTTP_REQUEST")) {
            return failure("tls_mismatch", "\(baseURL) does not speak TLS (it answered in plain text): use http:// if the orchestrator runs with --dev")
        }
        if tls && (text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") || text.contains("handshakeFailed")) {
            return failure(
                "tls_mismatch",
                "the TLS certificate of \(baseURL) is not signed by a CA this client trusts (\(text)); "
                    + "pass the cluster CA with --ca-cert or INSITU_CA_CERT (the orchestrator prints where its ca.crt is), or log in again")
        }
        // NIO reports a refused connect as "connection reset (error set): Connection refused", so
        // this comes before the plain-vs-TLS guess below.
        if text.contains("Connection refused") {
            return failure(
                "unreachable",
                "nothing is listening at \(baseURL) (connection refused): start the orchestrator there, "
                    + "or point the CLI at it with --api, INSITU_API or `insitu login`")
        }
        if !tls && (text.contains("remoteConnectionClosed") || text.contains("connection reset") || text.contains("RemoteConnectionClosed")) {
            return failure(
                "tls_mismatch", "\(baseURL) closed the connection without answering: if the orchestrator serves TLS (the default without --dev), use https://")
        }
        return nil
    }
}

