import InsituAudit
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Records refused TLS handshakes (a client certificate the cluster CA did not sign, a client that
/// distrusts the server) in the audit log. They fail inside the TLS layer before any request
/// exists, on an event loop, which must not wait for the log's disk sync: entries are written on
/// NIO's blocking-I/O thread pool, and rate-limited, since anyone who can reach the port can fail
/// a handshake.
final class TLSRefusalAudit: Sendable {
    let audit: AuditTrail
    let clock: @Sendable () -> Int64
    private let limit = Mutex(AuditRateLimit(perWindow: 20, windowMillis: 1_000))

    init(audit: AuditTrail, clock: @escaping @Sendable () -> Int64) {
        self.audit = audit
        self.clock = clock
    }

    func refused(peer: SocketAddress?, error: any Error) {
        let now = clock()
        guard let suppressedBefore = limit.withLock({ $0.admit(now: now) }) else { return }
        var details: [String: AuditValue] = ["reason": .string(String("\(error)".prefix(500)))]
        if let address = peer?.ipAddress { details["peer"] = .string(address) }
        if suppressedBefore > 0 { details["suppressed_before"] = .int(Int64(suppressedBefore)) }
        let audit = self.audit
        NIOThreadPool.singleton.submit { state in
            guard case .active = state else { return }
            audit.record(.anonymous, "tls.handshake", .refused, details)
        }
    }
}

/// Sits after the TLS handler and reports its handshake failures to a `TLSRefusalAudit`.
final class TLSRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let sink: TLSRefusalAudit

    init(sink: TLSRefusalAudit) { self.sink = sink }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError {
            sink.refused(peer: context.remoteAddress, error: error)
        }
        context.fireErrorCaught(error)
    }
}
