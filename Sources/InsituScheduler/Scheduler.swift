public import InsituModel

/// Places a job's executions on nodes. A pure function of its inputs: no clock, no randomness, no
/// I/O, and the same inputs always give the same plan (see docs/SCHEDULER.md).
///
/// Each pass works in two steps, Nomad-style:
/// 1. **Feasibility.** A node can take an execution when it is connected, holds every dataset the
///    job reads, matches every label constraint, supports the job's engine, and has the requested
///    resources free (counting what this plan already put there). All failing checks are recorded.
/// 2. **Ranking.** Executions are placed one at a time on the feasible node with the lowest
///    utilisation after placement (the larger of its CPU and memory fractions), then the fewest
///    active executions, then the lowest node ID. This spreads load.
///
/// Retries are not handled here yet: a `batch` partition that has any execution, whatever its
/// state, is never placed again, and an `ops` job never runs twice on a node.
public struct Scheduler: Sendable {
    public init() {}

    /// Plans `job` against a snapshot of the cluster.
    ///
    /// - Parameters:
    ///   - existing: the job's executions in any state; executions of other jobs are ignored.
    ///   - nodes: the cluster snapshot. A node whose ID repeats an earlier one is ignored.
    ///   - now: the current time; not used by this version, kept for backoff and retries.
    public func plan(job: Job, existing: [Execution], nodes: [NodeStatus], now: Timestamp) -> Plan {
        _ = now
        let executions = existing.filter { $0.jobID == job.id }
        var seen = Set<NodeID>()
        let unique = nodes.filter { seen.insert($0.info.id).inserted }
        var candidates = unique.sorted { $0.info.id < $1.info.id }.map { Candidate(node: $0, spec: job.spec) }

        var plan = Plan(jobID: job.id, jobType: job.spec.type, existingExecutionCount: executions.count)
        switch job.spec.type {
        case .batch:
            planBatch(spec: job.spec, executions: executions, candidates: &candidates, into: &plan)
        case .ops:
            planOps(spec: job.spec, executions: executions, candidates: &candidates, into: &plan)
        }
        return plan
    }

    private func planBatch(spec: JobSpec, executions: [Execution], candidates: inout [Candidate], into plan: inout Plan) {
        let request = spec.resources
        let taken = Set(executions.map(\.partition))
        let missing = (0..<max(0, spec.count)).filter { !taken.contains($0) }

        for partition in missing {
            var best: Int?
            for index in candidates.indices where candidates[index].canTake(request) {
                if let current = best, !candidates[index].ranksBefore(candidates[current], request: request) {
                    continue
                }
                best = index
            }
            if let best {
                candidates[best].place(request)
                plan.placements.append(Placement(partition: partition, attempt: 1, nodeID: candidates[best].id))
            } else {
                plan.unplacedPartitions.append(partition)
            }
        }

        for candidate in candidates {
            let reasons = candidate.reasons(for: request)
            if !reasons.isEmpty { plan.rejections[candidate.id] = reasons }
        }
    }

    private func planOps(spec: JobSpec, executions: [Execution], candidates: inout [Candidate], into plan: inout Plan) {
        let request = spec.resources
        let occupied = Set(executions.map(\.nodeID))
        var nextPartition = (executions.map(\.partition).max() ?? -1) + 1

        // Candidates are in node-ID order, so partition numbers follow node IDs.
        for index in candidates.indices {
            let id = candidates[index].id
            if occupied.contains(id) {
                plan.rejections[id] = [.alreadyRunsJob]
                continue
            }
            let reasons = candidates[index].reasons(for: request)
            if reasons.isEmpty {
                candidates[index].place(request)
                plan.placements.append(Placement(partition: nextPartition, attempt: 1, nodeID: id))
                nextPartition += 1
            } else {
                plan.rejections[id] = reasons
            }
        }
    }
}

/// A node as seen during one planning pass: its snapshot, the reasons that do not depend on load,
/// and what this plan has placed on it so far.
private struct Candidate {
    let node: NodeStatus
    /// Liveness, dataset, constraint and engine reasons, in that order.
    let staticReasons: [Rejection]
    var planned: Resources = .zero
    var plannedCount = 0

    init(node: NodeStatus, spec: JobSpec) {
        self.node = node
        var reasons: [Rejection] = []
        if node.liveness != .connected { reasons.append(.disconnected) }
        for name in spec.datasetNames where !node.info.holds(dataset: name) {
            reasons.append(.missingDataset(name))
        }
        for constraint in spec.constraints where !constraint.matches(node.info.labels) {
            reasons.append(.constraintMismatch(constraint, actual: node.info.labels[constraint.key]))
        }
        if !node.info.engines.contains(spec.engine.kind) { reasons.append(.engineUnsupported(spec.engine.kind)) }
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
