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
/// Against a `NodeIndex` a pass only looks at the smallest posting set that applies to the job, and
/// on large pools a batch placement ranks a limited number of feasible nodes (see
/// `Configuration`). Against a `[NodeStatus]` snapshot it looks at and explains every node.
///
/// Retries are not handled here yet: a `batch` partition that has any execution, whatever its
/// state, is never placed again, and an `ops` job never runs twice on a node.
public struct Scheduler: Sendable {
    /// How much work one pass against a `NodeIndex` may do.
    public struct Configuration: Hashable, Sendable {
        /// A batch placement ranks every feasible candidate when the job has at most this many
        /// candidates (the size of the posting set the pass starts from). Above that, it ranks
        /// `max(2, ceil(log2(candidates)))` of them: 14 of 10,000.
        public var rankEveryCandidateUpTo: Int
        /// At most this many rejected nodes are listed with their reasons in `Plan.rejections`; the
        /// others are counted per reason in `Plan.unlisted`.
        public var maxListedRejections: Int

        public init(rankEveryCandidateUpTo: Int = 100, maxListedRejections: Int = 20) {
            self.rankEveryCandidateUpTo = rankEveryCandidateUpTo
            self.maxListedRejections = maxListedRejections
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// How many feasible nodes one batch placement ranks when the job has `candidates`
    /// candidates: nil (all of them) up to `rankEveryCandidateUpTo`, else
    /// `max(2, ceil(log2(candidates)))`, Nomad's rule for service jobs (its batch jobs rank 2, the
    /// power of two choices; ranking a few more costs little here and spreads better).
    public func rankLimit(candidates: Int) -> Int? {
        guard candidates > configuration.rankEveryCandidateUpTo, candidates > 1 else { return nil }
        let ceilLog2 = Int.bitWidth - (candidates - 1).leadingZeroBitCount
        return max(2, ceilLog2)
    }

    /// Plans `job` against a snapshot of the cluster, looking at and explaining every node.
    /// O(nodes × partitions): for small clusters and tests; the control plane uses
    /// `plan(job:existing:index:now:)`.
    ///
    /// - Parameters:
    ///   - existing: the job's executions in any state; executions of other jobs are ignored.
    ///   - nodes: the cluster snapshot. A node whose ID repeats an earlier one is ignored.
    ///   - now: the current time; not used by this version, kept for backoff and retries.
    public func plan(job: Job, existing: [Execution], nodes: [NodeStatus], now: Timestamp) -> Plan {
        _ = now
        var seen = Set<NodeID>()
        let unique = nodes.filter { seen.insert($0.info.id).inserted }
        var pass = PlacementPass(job: job, pool: SnapshotPool(nodes: unique), rules: PassRules())
        return pass.plan(existing: existing.filter { $0.jobID == job.id })
    }

    /// Plans `job` against the live index of the cluster.
    ///
    /// The candidates are the smallest posting set that every feasible node must be in: the
    /// holders of one of the job's datasets, the nodes labelled `key=value` for one of its `=`
    /// (or single-value `in`) constraints, the nodes supporting its engine, or the connected
    /// nodes. Only those are examined (with every check, as above); the rest of the cluster is
    /// counted in `Plan.unlisted` under the reason the posting set stands for. A batch placement
    /// on a large pool ranks only `rankLimit(candidates:)` feasible nodes, scanning from a start
    /// derived from the job ID (so different jobs start in different places, deterministically).
    ///
    /// For the same cluster, the placements, unplaced partitions and completeness equal those of
    /// `plan(job:existing:nodes:now:)` whenever the rank limit does not apply; the rejections
    /// listed are those of the examined nodes.
    ///
    /// - Parameters:
    ///   - existing: the job's executions in any state; executions of other jobs are ignored.
    ///   - index: the cluster, with the allocations of every non-terminal execution.
    ///   - now: the current time; not used by this version, kept for backoff and retries.
    public func plan(job: Job, existing: [Execution], index: NodeIndex, now: Timestamp) -> Plan {
        _ = now
        let (slots, reason) = Self.candidates(for: job.spec, in: index)
        var rules = PassRules()
        rules.rankLimit = job.spec.type == .batch ? rankLimit(candidates: slots.count) : nil
        rules.start = Self.stableHash(job.id.rawValue)
        rules.maxListed = configuration.maxListedRejections
        rules.excludedCount = max(0, index.count - slots.count)
        rules.excludedReason = reason
        var pass = PlacementPass(job: job, pool: IndexPool(index: index, slots: slots), rules: rules)
        return pass.plan(existing: existing.filter { $0.jobID == job.id })
    }

    /// The smallest posting set a feasible node must belong to, and the reason nodes outside it
    /// are rejected for. Datasets are tried first, then labels, then the engine, then liveness;
    /// a later set must be strictly smaller to be chosen.
    static func candidates(for spec: JobSpec, in index: NodeIndex) -> (slots: [Int], reason: RejectionKind) {
        var best: (set: SlotSet, reason: RejectionKind)?
        func consider(_ set: SlotSet?, _ reason: RejectionKind) {
            let set = set ?? SlotSet()
            if let current = best, set.count >= current.set.count { return }
            best = (set, reason)
        }
        for name in spec.datasetNames { consider(index.holders(of: name), .missingDataset(name)) }
        for constraint in spec.constraints {
            // `=` with no value matches nodes without the key, which no posting set holds.
            guard constraint.operator == .equals || (constraint.operator == .in && constraint.values.count == 1),
                let value = constraint.values.first
            else { continue }
            consider(index.labelled(constraint.key, value), .constraintMismatch(constraint))
        }
        consider(index.supporting(spec.engine.kind), .engineUnsupported(spec.engine.kind))
        consider(index.connected, .disconnected)
        guard let best else { return ([], .disconnected) }
        return (best.set.members, best.reason)
    }

    /// FNV-1a over the UTF-8 bytes: stable across processes, unlike `Hasher`.
    static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
