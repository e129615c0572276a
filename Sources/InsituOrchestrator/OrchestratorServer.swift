import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
public import NIOSSL
import NIOCore
import InsituAPI
public import InsituModel
public import InsituStore
import InsituAuth
import InsituDashboard
public import InsituTLS
public import Logging

/// Builds the orchestrator's HTTP + WebSocket application around an `Orchestrator`.
public enum OrchestratorServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Connections served at once; beyond it new connections wait in the listen backlog.
        /// Keep it well below the process's descriptor limit (the store and blobs need some).
        public var maxConnections: Int
        /// How long a new connection may take to send its first request head.
        public var requestHeadTimeout: Duration
        /// How long a kept-alive connection may sit idle between requests.
        public var idleTimeout: Duration

        public init(
            host: String = "127.0.0.1", port: Int = 4646, maxConnections: Int = 512,
            requestHeadTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60)
        ) {
            self.host = host
            self.port = port
            self.maxConnections = maxConnections
            self.requestHeadTimeout = requestHeadTimeout
            self.idleTimeout = idleTimeout
        }
    }

    /// Request line and head limits, answered with 414 and 431 (docs/OPERATIONS.md).
    public static let maxRequestLineBytes = 8 << 10
    public static let maxRequestHeadBytes = 64 << 10

    /// Opens the state, recovers unfinished work and returns the application to run.
    public static func make(
        configuration: Configuration, store: any OrchestratorStore, blobs: BlobStore,
        tokens: any TokenStore, identities: any NodeIdentityStore, authentication: APIAuthentication, tls: TLSConfiguration? = nil,
        clusterCA: ClusterCA? = nil, settings: Orchestrator.Settings = .init(),
        logger: Logger, audit: AuditTrail? = nil, metrics: OrchestratorMetrics = .disabled,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        let orchestrator = Orchestrator(
            store: store, blobs: blobs, settings: settings, clock: { SystemClock.now() },
            newJobID: { RandomIDs.jobID() }, logger: logger, audit: audit, metrics: metrics)
        try await orchestrator.recover()
        audit?.record(.system, "orchestrator.start")
        let admission = NodeAdmission(store: identities, ca: clusterCA, clock: { SystemClock.now() }, newNodeID: { RandomIDs.nodeID() })
        let router = apiRouter(
            orchestrator: orchestrator, store: store, blobs: blobs, tokens: tokens, admission: admission, authentication: authentication,
            logger: logger, audit: audit)
        let dashboard = dashboardRouter(
            orchestrator: orchestrator, store: store, blobs: blobs, tokens: tokens, authentication: authentication,
            secureCookies: tls != nil, logger: logger, audit: audit)
        let endpoint = NodeEndpoint(orchestrator: orchestrator, admission: admission, logger: logger)
        let limits = RequestHeadGuard.Limits(
            timeout: TimeAmount(configuration.requestHeadTimeout), maxRequestLineBytes: maxRequestLineBytes,
            maxHeadBytes: maxRequestHeadBytes)
        // No WebSocket auto-ping: it counts a pong only once the receiving side reads it, and both
        // sides read a node's frames in order, so a node busy with a backlog for 30 s was cut 60 s
        // after it connected although it kept talking. A link's liveness is the heartbeat TTL's
        // job (`LivenessSettings.deadAfterMillis`), fed by every message the node sends.
        let channel = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: TimeAmount(configuration.idleTimeout)), ws: .init(maxFrameSize: 1 << 20, autoPing: .disabled))
        let plain = HTTPServerBuilder { responder in
            GuardedChildChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, configuration: channel) { request, channel, _ async in
                    guard request.path == NodeProtocol.path else { return .dontUpgrade }
                    // A node without a valid identity is not upgraded: its request goes on to the
                    // router's `GET /v1/node/connect`, which answers 401 or 403 with the reason.
                    guard case .success(let node) = await admission.authenticate(channel) else { return .dontUpgrade }
                    return .upgrade([:]) { inbound, outbound, _ in
                        try await endpoint.handle(inbound: inbound, outbound: outbound, node: node)
                    }
                },
                limits: limits,
                tlsRefusals: tls == nil ? nil : audit.map { TLSRefusalAudit(audit: $0, clock: { SystemClock.now().milliseconds }) })
        }
        // TLS outermost: the head guard and the WebSocket upgrade see only decrypted bytes.
        let server = try tls.map { try HTTPServerBuilder.tls(plain, tlsConfiguration: $0) } ?? plain
        // Ticks often enough to notice a silent node within a fraction of its heartbeat interval.
        let tickInterval = min(.seconds(1), settings.heartbeatInterval / 2)
        return Application(
            responder: OrchestratorResponder(api: router.buildResponder(), dashboard: dashboard.buildResponder()),
            server: server,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "insitu",
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections, logger: logger)),
            services: [Ticker(orchestrator: orchestrator, interval: tickInterval, logger: logger)],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }
}

extension OrchestratorServer {
    /// The REST API: its middleware and every route. A new route goes here (or in the
    /// `register(on:)` it belongs to) and into `OpenAPIDocument.paths`: `OpenAPIDocumentTests`
    /// fails until both name it, and `RouteFallback` answers 405 for its other methods from there.
    static func apiRouter(
        orchestrator: Orchestrator, store: any OrchestratorStore, blobs: BlobStore, tokens: any TokenStore, admission: NodeAdmission,
        authentication: APIAuthentication, logger: Logger, audit: AuditTrail?
    ) -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        // Authentication outermost, so the error middleware (which audits refusals) knows the
        // caller; the authentication middleware answers and audits its own 401s.
        router.add(
            middleware: AuthenticationMiddleware(
                authentication: authentication, tokens: tokens, clock: { SystemClock.now() }, audit: audit, nodes: admission))
        router.add(middleware: ErrorMiddleware(logger: logger, audit: audit))
        HTTPAPI(orchestrator: orchestrator, store: store, blobs: blobs).register(on: router)
        NodeAdminAPI(orchestrator: orchestrator).register(on: router)
        HealthAPI(orchestrator: orchestrator, store: store).register(on: router)
        TokenAPI(tokens: tokens, clock: { SystemClock.now() }, random: SystemRandom.bytes, audit: audit).register(on: router)
        NodeIdentityAPI(admission: admission, orchestrator: orchestrator, audit: audit).register(on: router, random: SystemRandom.bytes)
        OpenAPIDocument.register(on: router)
        return router
    }

    /// The web dashboard (`/ui`): its own router, so that none of its routes is part of the REST
    /// API (`OrchestratorResponder` sends `/ui` requests here). Security headers, the session and
    /// HTML error pages outermost; `ErrorMiddleware` maps and audits errors as it does for the API.
    static func dashboardRouter(
        orchestrator: Orchestrator, store: any OrchestratorStore, blobs: BlobStore, tokens: any TokenStore,
        authentication: APIAuthentication, secureCookies: Bool, logger: Logger, audit: AuditTrail?
    ) -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        let renderer = DashboardRenderer()
        let authenticator = TokenAuthenticator(tokens: tokens, clock: { SystemClock.now() })
        router.add(
            middleware: DashboardMiddleware(
                authentication: authentication, authenticator: authenticator, renderer: renderer, audit: audit, secureCookies: secureCookies))
        router.add(middleware: ErrorMiddleware(logger: logger, audit: audit))
        DashboardLogin(authentication: authentication, authenticator: authenticator, renderer: renderer, audit: audit, secureCookies: secureCookies)
            .register(on: router)
        DashboardRoutes(api: HTTPAPI(orchestrator: orchestrator, store: store, blobs: blobs), renderer: renderer, clock: { SystemClock.now() })
            .register(on: router)
        return router
    }

    /// Creates the first administrator token when `tokens` holds none, and returns its text (to
    /// be shown once) and expiry; nil when tokens exist already.
    public static func bootstrapAdminToken(_ tokens: any TokenStore) async throws -> (token: String, expiresAt: Timestamp?)? {
        guard let created = try await TokenAPI.bootstrap(tokens: tokens, now: SystemClock.now(), random: SystemRandom.bytes) else {
            return nil
        }
        return (created.token, created.info.expiresAt)
    }
}

extension OrchestratorServer {
    /// A join token for the node `serve` runs in the same process: the embedded node joins like
    /// any other, with a single use that expires soon.
    public static func embeddedNodeJoinToken(_ identities: any NodeIdentityStore) async throws -> String {
        let now = SystemClock.now()
        let presented = PresentedToken(idBytes: SystemRandom.bytes(8), secretBytes: SystemRandom.bytes(32), prefix: PresentedToken.joinPrefix)
        try await identities.insertJoinToken(
            JoinTokenRecord(
                id: presented.id, name: "serve-embedded-node", maxUses: 1, createdAt: now,
                expiresAt: Timestamp(milliseconds: now.milliseconds + 600_000), secretHash: presented.secretHash))
        return presented.text
    }
}

/// The shell's source of time: the only place the orchestrator reads a clock.
public enum SystemClock {
    public static func now() -> Timestamp {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }
}

/// The shell's source of fresh identifiers.
public enum RandomIDs {
    /// 128 random bits: collisions are negligible even across several orchestrators, and the
    /// store refuses one anyway rather than overwrite a job.
    public static func jobID() -> JobID {
        JobID("j-" + hex(UInt64.random(in: 0...UInt64.max), digits: 16) + hex(UInt64.random(in: 0...UInt64.max), digits: 16))
    }

    public static func nodeID() -> NodeID {
        NodeID("n-" + hex(UInt64.random(in: 0...UInt64.max), digits: 16))
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String((String(repeating: "0", count: 16) + text).suffix(digits))
    }
}
