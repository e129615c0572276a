import Foundation
import Hummingbird
import InsituAPI
import InsituAudit
import InsituStore
import Logging

/// Turns every error a handler throws into an answer a caller can act on (RFC 9457 problem
/// details, `APIError`), and logs every 5xx with its cause at error level.
///
/// `APIError`s pass through (5xx ones are logged); Hummingbird's own errors (among them the
/// router's 404 for a request no route takes, answered by `RouteFallback`) become `APIError`s
/// with a code. A store conflict is 409: nothing was stored and a retry may succeed. A full disk
/// becomes 503 with a message saying so: nothing was stored and the request may be retried once
/// space is freed. Anything else is an opaque 500 whose message carries an incident ID that is
/// also in the log line with the real cause, so an operator can find it without the API leaking
/// internals.
///
/// Every refusal (a 4xx: validation, and authentication and authorisation once they exist) leaves
/// an audit entry here, the one place every refused request passes.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    var audit: AuditTrail? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let answer = self.answer(for: error, request, context: context)
            if (400..<500).contains(answer.status.code) {
                auditRefusal(request, context: context, status: answer.status.code, code: answer.code, message: answer.message, problems: answer.problems)
            }
            throw answer
        }
    }

    /// The `APIError` a caller gets for `error`: every answer is problem details, whoever threw.
    private func answer(for error: any Error, _ request: Request, context: Context) -> APIError {
        switch error {
        case let error as APIError:
            if error.status.code >= 500 { log(error, request) }
            return error
        case let error as any HTTPResponseError:
            // Hummingbird's own: the router's "no route" and the few its helpers throw.
            if error.status.code >= 500 { log(error, request) }
            if error.status == .notFound && context.coreContext.endpointPath.value == Self.routerNotFoundPath {
                return RouteFallback.answer(request)
            }
            let message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            return APIError(
                error.status, code: Self.code(for: error.status), message: message,
                headers: (error as? HTTPError)?.headers ?? [:])
        case let error as StoreError where error.kind == .conflict:
            // The batch contradicted what is stored (an ID or idempotency key taken by a commit in
            // between, a stale version): nothing of it was written and the orchestrator reloaded
            // its state, so the same request may well succeed now. The caller's doing, not a fault.
            log(error, request)
            return APIError(
                .conflict, code: "conflict",
                message: "the request conflicted with a change stored at the same time (\(error.message)); nothing was stored, retry it")
        default:
            let incident = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            log(error, request, incident: incident)
            if Self.isStorageFull(error) {
                return APIError(
                    .serviceUnavailable, code: "storage_full",
                    message: "the orchestrator's disk is full, so nothing was stored (incident \(incident)); "
                        + "free space under its data directory and retry")
            }
            return APIError(
                .internalServerError, code: "internal",
                message: "internal error (incident \(incident)); the orchestrator's log has the cause")
        }
    }

    /// What Hummingbird's router records as the endpoint of a request no route matched.
    static var routerNotFoundPath: String { "NotFound" }

    /// A stable code for a status whose thrower gave none.
    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .badRequest: "bad_request"
        case .notFound: "not_found"
        case .contentTooLarge: "request_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .internalServerError: "internal"
        default: "http_\(status.code)"
        }
    }

    /// The method, path, status and message of a refused request. A spec's problems are recorded
    /// by field path only: their messages may quote the values (an `env` value among them).
    private func auditRefusal(
        _ request: Request, context: Context, status: Int, code: String?, message: String, problems: [APIProblem]?
    ) {
        guard let audit else { return }
        var details: [String: AuditValue] = [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path), "status": .int(Int64(status)),
            "reason": .string(message),
        ]
        if let code { details["code"] = .string(code) }
        if let problems, !problems.isEmpty { details["problems"] = .list(problems.map { .string($0.path) }) }
        audit.record(auditActor(request, context: context), "request.refused", .refused, details)
    }

    private func log(_ error: any Error, _ request: Request, incident: String? = nil) {
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "error": "\(error)",
        ]
        if let incident { metadata["incident"] = "\(incident)" }
        logger.error("request failed", metadata: metadata)
    }

    static func isStorageFull(_ error: any Error) -> Bool {
        switch error {
        case let error as StoreError: return error.kind == .storageFull
        case let error as BlobStoreError: return error.isStorageFull
        case let error as CocoaError:
            let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError
            return error.code == .fileWriteOutOfSpace
                || (underlying?.domain == NSPOSIXErrorDomain && [Int(ENOSPC), Int(EDQUOT)].contains(underlying?.code))
        case let error as POSIXError: return error.code == .ENOSPC || error.code == .EDQUOT
        default: return false
        }
    }
}
