import InsituModel
import InsituPolicy

/// A node as seen during one planning pass: its status, the reasons that do not depend on load,
/// and what this plan has placed on it so far.
struct Candidate {
    let node: NodeStatus
    /// Liveness, dataset, constraint, engine and policy reasons, in that order.
    let staticReasons: [Rejection]
    var planned: Resources = .zero
    var plannedCount = 0

    /// `datasets` is `spec.datasetNames` and `facts` the spec's `ExecutionFacts`, computed once
    /// per pass rather than once per node.
    init(node: NodeStatus, spec: JobSpec, datasets: [String], facts: ExecutionFacts) {
        self.node = node
        var reasons: [Rejection] = []
        if node.liveness != .connected { reasons.append(.notConnected(node.liveness)) }
        if node.draining { reasons.append(.draining) }
        for name in datasets where !node.info.holds(dataset: name) {
            reasons.append(.missingDataset(name))
        }
        for constraint in spec.constraints where !constraint.matches(node.info.labels) {
            reasons.append(.constraintMismatch(constraint, actual: node.info.labels[constraint.key]))
        }
        if !node.info.engines.contains(spec.engine.kind) { reasons.append(.engineUnsupported(spec.engine.kind)) }
        if let refusal = node.info.policy?.admit(facts).refusal { reasons.append(.policyRefused(refusal)) }
        self.staticReasons = reasons
    }

    var id: NodeID { node.info.id }
    var free: Resources { node.free - planned }
    var activeExecutions: Int { node.activeExecutions.saturatingAdding(plannedCount) }

    func canTake(_ request: Resources) -> Bool { staticReasons.isEmpty && free.fits(request) }

    func reasons(for request: Resources) -> [Rejection] {
        if free.fits(request) { return staticReasons }
        return staticReasons + [.insufficientResources(requested: request, free: free)]
    }

    mutating func place(_ request: Resources) {
        planned += request
        plannedCount += 1
    }

    /// The larger of the CPU and memory fractions of capacity in use once `request` is added.
    func utilisation(adding request: Resources) -> Double {
        let used = node.allocated + planned + request
        let capacity = node.info.resources
        return max(
            Self.fraction(Int64(used.cpuMillis), of: Int64(capacity.cpuMillis)),
            Self.fraction(used.memoryBytes, of: capacity.memoryBytes))
    }

    /// Lower utilisation first, then fewer active executions, then lower node ID.
    func ranksBefore(_ other: Candidate, request: Resources) -> Bool {
        let mine = utilisation(adding: request)
        let theirs = other.utilisation(adding: request)
        if mine != theirs { return mine < theirs }
        if activeExecutions != other.activeExecutions { return activeExecutions < other.activeExecutions }
        return id < other.id
    }

    private static func fraction(_ used: Int64, of capacity: Int64) -> Double {
        guard capacity > 0 else { return used > 0 ? .infinity : 0 }
        return Double(used) / Double(capacity)
    }
}
