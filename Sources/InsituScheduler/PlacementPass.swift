import InsituModel
import InsituPolicy

/// Where a pass finds its candidate nodes, in scan order.
protocol CandidatePool {
    var count: Int { get }
    func node(at position: Int) -> NodeStatus?
}

/// A snapshot given as an array, repeated node IDs already removed.
struct SnapshotPool: CandidatePool {
    let nodes: [NodeStatus]
    var count: Int { nodes.count }
    func node(at position: Int) -> NodeStatus? { nodes[position] }
}

/// One posting set of a `NodeIndex`.
struct IndexPool: CandidatePool {
    let index: NodeIndex
    let slots: [Int]
    var count: Int { slots.count }
    func node(at position: Int) -> NodeStatus? { index.status(atSlot: slots[position]) }
}

/// How a pass examines its pool and reports what it rejected.
struct PassRules {
    /// Feasible nodes ranked per batch placement; nil ranks every feasible node in the pool.
    var rankLimit: Int?
    /// Where a limited scan starts (taken modulo the pool size).
    var start: UInt64 = 0
    /// Rejected nodes listed one by one in `Plan.rejections`; nil lists all of them.
    var maxListed: Int?
    /// Nodes of the cluster that are not in the pool, all for the same reason.
    var excludedCount = 0
    var excludedReason: RejectionKind = .disconnected
}

/// One scheduling pass for one job over one pool of candidates. See `Scheduler` for the rules.
struct PlacementPass<Pool: CandidatePool> {
    let job: Job
    let request: Resources
    let datasets: [String]
    let facts: ExecutionFacts
    let pool: Pool
    let rules: PassRules
    /// Candidates in the order they were first looked at.
    private var examined: [Candidate] = []
    /// Pool position → index in `examined`, for limited scans that visit the pool piecemeal.
    private var examinedAt: [Int: Int] = [:]

    init(job: Job, pool: Pool, rules: PassRules) {
        self.job = job
        self.request = job.spec.resources
        self.datasets = job.spec.datasetNames
        self.facts = ExecutionFacts(spec: job.spec)
        self.pool = pool
        self.rules = rules
    }

    mutating func plan(existing executions: [Execution]) -> Plan {
        var plan = Plan(jobID: job.id, jobType: job.spec.type, existingExecutionCount: executions.count)
        var rejected: [(id: NodeID, reasons: [Rejection])] = []
        switch job.spec.type {
        case .batch:
            placeBatch(executions, into: &plan)
            for candidate in examined {
                let reasons = candidate.reasons(for: request)
                if !reasons.isEmpty { rejected.append((candidate.id, reasons)) }
            }
        case .ops:
            rejected = placeOps(executions, into: &plan)
        }
        record(rejected, into: &plan)
        plan.examinedNodeCount = examined.count
        return plan
    }

    // MARK: batch

    private mutating func placeBatch(_ executions: [Execution], into plan: inout Plan) {
        let taken = Set(executions.map(\.partition))
        let missing = (0..<max(0, job.spec.count)).filter { !taken.contains($0) }
        if let limit = rules.rankLimit, pool.count > 0 {
            placeLimited(missing, limit: max(1, limit), into: &plan)
        } else {
            examineAll()
            placeExhaustive(missing, into: &plan)
        }
    }

    /// Every placement ranks every feasible candidate.
    private mutating func placeExhaustive(_ missing: [Int], into plan: inout Plan) {
        for (done, partition) in missing.enumerated() {
            var best: Int?
            for index in examined.indices where examined[index].canTake(request) {
                if let current = best, !examined[index].ranksBefore(examined[current], request: request) { continue }
                best = index
            }
            guard let best else {
                // Placing only ever shrinks what is free, so nothing later fits either.
                plan.unplacedPartitions += missing[done...]
                return
            }
            examined[best].place(request)
            plan.placements.append(Placement(partition: partition, attempt: 1, nodeID: examined[best].id))
        }
    }

    /// Each placement scans on from where the previous one stopped and ranks the first `limit`
    /// feasible candidates it meets (Nomad's limit iterator); the cursor moving on spreads a
    /// job's placements over the pool instead of re-ranking the same few nodes.
    private mutating func placeLimited(_ missing: [Int], limit: Int, into plan: inout Plan) {
        var cursor = Int(rules.start % UInt64(pool.count))
        for (done, partition) in missing.enumerated() {
            var best: Int?
            var found = 0
            var visited = 0
            while visited < pool.count && found < limit {
                let position = (cursor + visited) % pool.count
                visited += 1
                guard let index = candidate(at: position), examined[index].canTake(request) else { continue }
                found += 1
                if let current = best, !examined[index].ranksBefore(examined[current], request: request) { continue }
                best = index
            }
            cursor = (cursor + visited) % pool.count
            guard let best else {
                // A whole turn of the pool found nothing feasible, and placing only shrinks what is free.
                plan.unplacedPartitions += missing[done...]
                return
            }
            examined[best].place(request)
            plan.placements.append(Placement(partition: partition, attempt: 1, nodeID: examined[best].id))
        }
    }

    // MARK: ops

    /// One execution on every feasible node without one, partitions numbered in node-ID order.
    private mutating func placeOps(_ executions: [Execution], into plan: inout Plan) -> [(id: NodeID, reasons: [Rejection])] {
        examineAll()
        let occupied = Set(executions.map(\.nodeID))
        var nextPartition = (executions.map(\.partition).max() ?? -1).saturatingAdding(1)
        var rejected: [(id: NodeID, reasons: [Rejection])] = []
        var eligible: [Int] = []
        for index in examined.indices {
            let id = examined[index].id
            if occupied.contains(id) {
                rejected.append((id, [.alreadyRunsJob]))
                continue
            }
            let reasons = examined[index].reasons(for: request)
            if reasons.isEmpty { eligible.append(index) } else { rejected.append((id, reasons)) }
        }
        eligible.sort { examined[$0].id < examined[$1].id }
        for index in eligible {
            examined[index].place(request)
            plan.placements.append(Placement(partition: nextPartition, attempt: 1, nodeID: examined[index].id))
            nextPartition = nextPartition.saturatingAdding(1)
        }
        return rejected
    }

    // MARK: Candidates and explanations

    private mutating func examineAll() {
        guard examined.isEmpty else { return }
        examined.reserveCapacity(pool.count)
        for position in 0..<pool.count {
            if let node = pool.node(at: position) { examined.append(Candidate(node: node, spec: job.spec, datasets: datasets, facts: facts)) }
        }
    }

    private mutating func candidate(at position: Int) -> Int? {
        if let index = examinedAt[position] { return index }
        guard let node = pool.node(at: position) else { return nil }
        examined.append(Candidate(node: node, spec: job.spec, datasets: datasets, facts: facts))
        examinedAt[position] = examined.count - 1
        return examined.count - 1
    }

    /// Lists the rejected nodes with the lowest IDs (up to `maxListed`), counts the rest and the
    /// nodes the pool left out.
    private func record(_ rejected: [(id: NodeID, reasons: [Rejection])], into plan: inout Plan) {
        var listed = rejected
        if let maxListed = rules.maxListed, rejected.count > maxListed {
            let sorted = rejected.sorted { $0.id < $1.id }
            listed = Array(sorted.prefix(max(0, maxListed)))
            for node in sorted.dropFirst(max(0, maxListed)) {
                plan.unlisted.nodeCount += 1
                for reason in Set(node.reasons.map(\.kind)) { plan.unlisted.add(1, reason) }
            }
        }
        for node in listed { plan.rejections[node.id] = node.reasons }
        if rules.excludedCount > 0 {
            plan.unlisted.nodeCount += rules.excludedCount
            plan.unlisted.add(rules.excludedCount, rules.excludedReason)
        }
    }
}
