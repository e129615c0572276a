import Foundation
import Hummingbird
import InsituAPI
import HummingbirdCore
import Logging
import NIOCore

/// Guards the first request head of every connection, in front of the HTTP decoder.
///
/// Until a connection has sent a complete request head, Hummingbird's WebSocket-upgrade pipeline
/// has no idle timeout and answers an oversized head with nothing at all. So a thousand clients
/// that each send half a request line hold a thousand descriptors forever, and a 100 KB URL gets
/// no answer. This handler sees the raw bytes first and:
/// - closes the connection with 408 when the head is not complete within `timeout`;
/// - answers 414 when the request line is longer than `maxRequestLineBytes`, and 431 when the
///   whole head is longer than `maxHeadBytes`;
/// - once the head is complete, passes everything on and removes itself (later requests on a
///   kept-alive connection are bounded by the HTTP idle timeout and the decoder's own limits).
final class RequestHeadGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits: Sendable {
        var timeout: TimeAmount
        var maxRequestLineBytes: Int
        var maxHeadBytes: Int
    }

    private let limits: Limits
    private var scanner = HeadScanner()
    private var timer: Scheduled<Void>?
    private var answered = false

    init(limits: Limits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let seconds = Double(limits.timeout.nanoseconds) / 1e9
        timer = context.eventLoop.scheduleTask(in: limits.timeout) {
            bound.value.handler.refuse(
                bound.value.context, status: .requestTimeout, code: "request_timeout",
                message: "the request head did not arrive within \(seconds) s")
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        let buffer = unwrapInboundIn(data)
        // A TLS handshake record (0x16) where an HTTP request line should start: a client speaking
        // https to this plain (`--dev`) port. Answer with a fatal TLS alert (protocol_version) so it
        // fails at once and can say why, instead of waiting for the head timeout.
        if scanner.headBytes == 0, buffer.readableBytesView.first == 0x16 {
            answered = true
            timer?.cancel()
            let alert: [UInt8] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 70]
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: alert))).whenComplete { _ in
                bound.value.close(promise: nil)
            }
            return
        }
        switch scanner.scan(buffer.readableBytesView, limits: limits) {
        case .needMore:
            context.fireChannelRead(data)
        case .complete:
            timer?.cancel()
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case .requestLineTooLong:
            refuse(
                context, status: .uriTooLong, code: "uri_too_long",
                message: "the request line is longer than \(limits.maxRequestLineBytes >> 10) KiB; send large values in the body")
        case .headTooLarge:
            refuse(
                context, status: .requestHeaderFieldsTooLarge, code: "headers_too_large",
                message: "the request head is larger than \(limits.maxHeadBytes >> 10) KiB")
        }
    }

    /// Answers with `status` and problem details and closes. Bytes already passed on are
    /// incomplete, so the decoder behind this handler never produces a request from them.
    private func refuse(_ context: ChannelHandlerContext, status: HTTPResponse.Status, code: String, message: String) {
        guard !answered else { return }
        answered = true
        timer?.cancel()
        let details = APIError(status, code: code, message: message).details
        let body = (try? JSONEncoder.api.encode(details)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let response =
            "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\ncontent-type: \(ProblemDetails.mediaType)\r\n"
            + "content-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}

/// Finds the end of the first HTTP request head (`\r\n\r\n`, or a bare `\n\n`) across reads, and
/// measures the request line and the head on the way. Pure, so it is tested byte by byte.
struct HeadScanner: Sendable {
    enum Verdict: Equatable { case needMore, complete, requestLineTooLong, headTooLarge }

    private(set) var headBytes = 0
    private var requestLineEnded = false
    /// Consecutive line ends seen, ignoring `\r`.
    private var newlines = 0

    mutating func scan(_ bytes: some Collection<UInt8>, limits: RequestHeadGuard.Limits) -> Verdict {
        for byte in bytes {
            headBytes += 1
            switch byte {
            case UInt8(ascii: "\n"):
                requestLineEnded = true
                newlines += 1
                if newlines == 2 { return .complete }
            case UInt8(ascii: "\r"):
                break
            default:
                newlines = 0
            }
            if !requestLineEnded && headBytes > limits.maxRequestLineBytes { return .requestLineTooLong }
            if headBytes > limits.maxHeadBytes { return .headTooLarge }
        }
        return .needMore
    }
}

/// A server child channel that puts a `RequestHeadGuard` in front of another channel's pipeline.
struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let limits: RequestHeadGuard.Limits
    /// Where refused TLS handshakes are reported (nil without TLS or without an audit log).
    var tlsRefusals: TLSRefusalAudit? = nil

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            if let tlsRefusals { try channel.pipeline.syncOperations.addHandler(TLSRefusalHandler(sink: tlsRefusals)) }
            try channel.pipeline.syncOperations.addHandler(RequestHeadGuard(limits: limits))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
