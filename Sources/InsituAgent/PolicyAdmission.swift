import Foundation
import InsituAPI
import InsituExecutor
import InsituModel
import InsituPolicy

/// The node's policy at its admission point: every assignment is checked here, after
/// `AssignmentValidation` and before anything of it touches the disk, whatever the orchestrator
/// decided (a compromised one may ignore what the node advertised).
enum PolicyAdmission {
    /// Throws the policy's refusal, for the job's author, when `policy` does not let
    /// `assignment` run. Modules fetched from one of `orchestrators` are not subject to the
    /// module host rule: the orchestrators serve the modules users upload.
    static func admit(_ assignment: ExecutionAssignment, policy: NodePolicy, orchestrators: [String]) throws(ExecutorError) {
        var facts = ExecutionFacts(spec: assignment.spec)
        if let host = facts.moduleHost, orchestrators.contains(where: { ExecutionFacts.host(ofURL: $0) == host }) {
            facts.moduleHost = nil
        }
        if let refusal = policy.admit(facts).refusal { throw ExecutorError(refusal.message) }
    }

    /// Whether `stream` may leave the node under `rules`.
    static func mayLeave(_ stream: InsituExecutor.OutputStream, _ rules: NodePolicy.OutputRules) -> Bool {
        switch stream {
        case .stdout: rules.stdout
        case .stderr: rules.stderr
        }
    }
}
