import Hummingbird
import InsituAudit
import InsituAuth

/// Who made an API request, for its audit entries: the one place that says it, used by the
/// handlers and by `ErrorMiddleware` for refusals. The token's ID and namespace once
/// authentication established the caller; `--dev` callers (no identity) and requests refused
/// before that (no valid token) are anonymous.
func auditActor(_ request: Request, context: some RequestContext) -> AuditActor {
    guard let caller = (context as? APIRequestContext)?.caller else { return .anonymous }
    switch caller.kind {
    case .token: return AuditActor(kind: .token, id: caller.tokenID, namespace: caller.namespace)
    case .development: return .anonymous
    }
}
