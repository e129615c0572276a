import InsituAudit
import InsituControlPlane

/// How an applied result is recorded: what the node reported, and each file that was stored
/// (path, sha256, size). The node's free-text reason is left out: it carries the tail of the
/// job's stderr, which is the job's output, not an audit fact.
extension VerifiedResult {
    var auditAction: String { refusal == nil ? "result.accept" : "result.refuse" }

    var auditOutcome: AuditOutcome {
        if refusal != nil { return .refused }
        return state == .succeeded ? .ok : .failed
    }

    var auditDetails: [String: AuditValue] {
        var details: [String: AuditValue] = ["execution": .string(executionID.rawValue), "state": .string(state.rawValue)]
        if let exitCode { details["exit_code"] = .int(Int64(exitCode)) }
        if let refusal { details["reason"] = .string(refusal) }
        if !files.isEmpty {
            details["files"] = .list(files.map { AuditDetails.file(path: $0.path, sha256: $0.digest.rawValue, size: $0.size) })
        }
        return details
    }
}
