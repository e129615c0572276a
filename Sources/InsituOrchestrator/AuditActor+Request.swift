import Hummingbird
import InsituAudit

/// Who made an API request, for its audit entries: the one place that says it, used by the
/// handlers and by `ErrorMiddleware` for refusals. Every caller is anonymous until API tokens
/// exist (issue 8, item 3); then this returns the token's ID and namespace.
func auditActor(_ request: Request, context: some RequestContext) -> AuditActor {
    .anonymous
}
