public import InsituModel
public import InsituPolicy

/// One reason a node cannot take (another) execution of a job.
///
/// The scheduler collects every reason that applies to a node, not only the first, so a person
/// reading `Plan.explain()` sees everything that would have to change for the node to qualify.
public enum Rejection: Hashable, Sendable, CustomStringConvertible {
    /// The node is not `.connected` (it is in this liveness); only connected nodes receive new work.
    case notConnected(NodeLiveness)
    /// The job reads this dataset and the node does not hold it.
    case missingDataset(String)
    /// The node's labels do not satisfy this constraint. `actual` is the node's value for the
    /// constraint's key, or nil when the node has no such label.
    case constraintMismatch(LabelConstraint, actual: String?)
    /// The node does not advertise the job's engine.
    case engineUnsupported(EngineKind)
    /// The job's request does not fit what is free on the node, counting what this plan has
    /// already placed there. `free` may be negative in a dimension when the node is over-committed.
    case insufficientResources(requested: Resources, free: Resources)
    /// `ops` job only: the node already has an execution of this job (in any state). In this version
    /// an ops job runs at most once per node; finished or failed executions are not replaced.
    case alreadyRunsJob
    /// The node's advertised policy would refuse the execution (the node enforces it anyway).
    case policyRefused(PolicyRefusal)
    /// An operator drained the node (`insitu node drain`): it finishes what it runs, takes nothing new.
    case draining

    public var description: String {
        switch self {
        case .policyRefused(let refusal):
            return refusal.message
        case .notConnected(.suspect):
            return "node is suspect (it missed heartbeats; no new work until it answers)"
        case .notConnected(.lost):
            return "node is lost (away longer than the orchestrator's --node-lost-after)"
        case .notConnected:
            return "node is disconnected"
        case .missingDataset(let name):
            return "dataset \"\(name)\" not present"
        case .constraintMismatch(let constraint, let actual):
            let seen = actual.map { "label \(constraint.key) is \"\($0)\"" } ?? "label \(constraint.key) absent"
            return "constraint \"\(constraint)\" not met (\(seen))"
        case .engineUnsupported(let kind):
            return "engine \(kind.rawValue) not supported"
        case .insufficientResources(let requested, let free):
            return "insufficient resources: requested \(requested), free \(Self.format(free))"
        case .alreadyRunsJob:
            return "already has an execution of this job"
        case .draining:
            return "node is draining (an operator stopped new work on it: insitu node drain --disable lifts it)"
        }
    }

    /// The reason without what is particular to one node (its label value, its free resources), so
    /// nodes can be counted per reason.
    public var kind: RejectionKind {
        switch self {
        case .notConnected: return .disconnected
        case .missingDataset(let name): return .missingDataset(name)
        case .constraintMismatch(let constraint, _): return .constraintMismatch(constraint)
        case .engineUnsupported(let kind): return .engineUnsupported(kind)
        case .insufficientResources(let requested, _): return .insufficientResources(requested: requested)
        case .alreadyRunsJob: return .alreadyRunsJob
        case .policyRefused(let refusal): return .policyRefused(rule: refusal.rule)
        case .draining: return .draining
        }
    }

    /// `Resources.description` formats bytes with binary units; negative free memory (an
    /// over-committed node) is shown as a plain signed number.
    private static func format(_ free: Resources) -> String {
        let memory = free.memoryBytes < 0 ? "\(free.memoryBytes)" : ByteCount.format(free.memoryBytes)
        return "cpu=\(free.cpuMillis)m memory=\(memory)"
    }
}

/// A `Rejection` without its per-node details: the key under which `Plan.unlisted` counts nodes.
public enum RejectionKind: Hashable, Sendable, CustomStringConvertible {
    case disconnected
    case missingDataset(String)
    case constraintMismatch(LabelConstraint)
    case engineUnsupported(EngineKind)
    case insufficientResources(requested: Resources)
    case alreadyRunsJob
    case draining
    /// `PolicyRefusal.rule`: what the node's policy refuses, without its allow-lists.
    case policyRefused(rule: String)

    public var description: String {
        switch self {
        case .policyRefused(let rule): return rule
        case .disconnected: return "node is disconnected"
        case .missingDataset(let name): return "dataset \"\(name)\" not present"
        case .constraintMismatch(let constraint): return "constraint \"\(constraint)\" not met"
        case .engineUnsupported(let kind): return "engine \(kind.rawValue) not supported"
        case .insufficientResources(let requested):
            return "insufficient resources for cpu=\(requested.cpuMillis)m memory=\(ByteCount.format(requested.memoryBytes))"
        case .alreadyRunsJob: return "already has an execution of this job"
        case .draining: return "node is draining"
        }
    }
}
