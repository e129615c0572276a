public import InsituModel

/// A new execution the scheduler wants created: one attempt of one partition on one node.
public struct Placement: Hashable, Sendable {
    public var partition: Int
    public var attempt: Int
    public var nodeID: NodeID

    public init(partition: Int, attempt: Int, nodeID: NodeID) {
        self.partition = partition
        self.attempt = attempt
        self.nodeID = nodeID
    }

    /// The ID the execution for this placement gets (derived from job, partition and attempt).
    public func executionID(job: JobID) -> ExecutionID {
        ExecutionID(job: job, partition: partition, attempt: attempt)
    }
}

/// The outcome of one scheduling pass for one job: what to create, what could not be placed, and
/// why each node could not take (more of) the job.
///
/// A plan is computed from a snapshot and is only a proposal: the applier MUST validate it against
/// current state before persisting it (the snapshot may be stale by then).
public struct Plan: Hashable, Sendable {
    public var jobID: JobID
    public var jobType: JobType
    /// How many executions of this job (in any state) the scheduler was given.
    public var existingExecutionCount: Int
    /// New executions to create, in the order they were chosen.
    public var placements: [Placement]
    /// `batch` only: partitions with no execution that fit on no node, ascending. Always empty for
    /// `ops` jobs, which have no fixed set of partitions.
    public var unplacedPartitions: [Int]
    /// Every node that could not take one more execution of this job once this plan is applied,
    /// with all the reasons. For a `batch` job this includes nodes that this plan filled up. For an
    /// `ops` job it excludes nodes this plan places on, and a node that already has an execution of
    /// the job is listed with exactly `[.alreadyRunsJob]`.
    ///
    /// Planned against a `NodeIndex`, only nodes the scheduler examined one by one are listed, and
    /// at most `Scheduler.Configuration.maxListedRejections` of them (the lowest node IDs); the
    /// others are counted in `unlisted`. Planned against a `[NodeStatus]` snapshot, every node is
    /// listed.
    public var rejections: [NodeID: [Rejection]]
    /// Rejected nodes that `rejections` does not list, counted per reason. Empty when every
    /// rejected node is listed.
    public var unlisted: RejectionTally
    /// How many nodes the scheduler looked at one by one: every node of a snapshot; of an index,
    /// the candidates it visited (a dataset-pinned job examines the dataset's holders only).
    public var examinedNodeCount: Int

    public init(
        jobID: JobID, jobType: JobType, existingExecutionCount: Int, placements: [Placement] = [],
        unplacedPartitions: [Int] = [], rejections: [NodeID: [Rejection]] = [:], unlisted: RejectionTally = RejectionTally(),
        examinedNodeCount: Int = 0
    ) {
        self.jobID = jobID
        self.jobType = jobType
        self.existingExecutionCount = existingExecutionCount
        self.placements = placements
        self.unplacedPartitions = unplacedPartitions
        self.rejections = rejections
        self.unlisted = unlisted
        self.examinedNodeCount = examinedNodeCount
    }

    /// Whether the job needs nothing more from the scheduler for now (otherwise it is queued and
    /// re-evaluated when the cluster changes):
    /// - `batch`: every partition `0..<count` has an execution, existing or in this plan
    ///   (`unplacedPartitions` is empty).
    /// - `ops`: the job has at least one execution, existing or in this plan. An ops job with no
    ///   eligible node at all is incomplete (queued until one appears); once it runs somewhere it
    ///   is complete even if other matching nodes lack room, because ops jobs do not queue per node.
    public var isComplete: Bool {
        switch jobType {
        case .batch: return unplacedPartitions.isEmpty
        case .ops: return !placements.isEmpty || existingExecutionCount > 0
        }
    }

    /// One line per listed node, sorted by node ID: `node-b: dataset "patients" not present`, with
    /// several reasons joined by `; `; then one line per reason for the unlisted nodes, largest
    /// count first: `9,990 other nodes: dataset "patients" not present`. At most
    /// `maxListedRejections` + (number of distinct reasons) lines.
    public func explain() -> [String] {
        rejections.keys.sorted().map { node in
            "\(node): " + (rejections[node] ?? []).map(\.description).joined(separator: "; ")
        } + unlisted.explain()
    }

    /// The executions this plan asks for, in the `pending` state.
    public func executions(createdAt: Timestamp) -> [Execution] {
        placements.map {
            Execution(jobID: jobID, partition: $0.partition, attempt: $0.attempt, nodeID: $0.nodeID, createdAt: createdAt)
        }
    }
}
