import Foundation
import Hummingbird
import InsituAPI
import InsituAudit
import InsituStore
import Logging

/// Turns every error a handler throws into an answer a caller can act on, and logs every 5xx
/// with its cause at error level.
///
/// `APIError`s pass through (5xx ones are logged). A full disk becomes 503 with a message saying
/// so: nothing was stored and the request may be retried once space is freed. Anything else is an
/// opaque 500 whose message carries an incident ID that is also in the log line with the real
/// cause, so an operator can find it without the API leaking internals.
///
/// Every refusal (a 4xx: validation, and authentication and authorisation once they exist) leaves
/// an audit entry here, the one place every refused request passes.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    var audit: AuditTrail? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            if error.status.code >= 500 { log(error, request) }
            if (400..<500).contains(error.status.code) {
                auditRefusal(request, context: context, status: error.status.code, code: error.code, message: error.message, problems: error.problems)
            }
            throw error
        } catch let error as any HTTPResponseError {
            if error.status.code >= 500 { log(error, request) }
            if (400..<500).contains(error.status.code) {
                auditRefusal(request, context: context, status: error.status.code, code: nil, message: "\(error)", problems: nil)
            }
            throw error
        } catch {
            let incident = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            if Self.isStorageFull(error) {
                log(error, request, incident: incident)
                throw APIError(
                    .serviceUnavailable, code: "storage_full",
                    message: "the orchestrator's disk is full, so nothing was stored (incident \(incident)); "
                        + "free space under its data directory and retry")
            }
            log(error, request, incident: incident)
            throw APIError(
                .internalServerError, code: "internal",
                message: "internal error (incident \(incident)); the orchestrator's log has the cause")
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
