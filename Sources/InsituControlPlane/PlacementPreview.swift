public import InsituModel
import InsituScheduler

/// What placing a job would do right now, with nothing stored or sent: the answer to
/// `insitu job run --dry-run` (Nomad's `job plan`). It is a snapshot; by the time the job is
/// submitted the cluster may have changed.
public struct PlacementPreview: Hashable, Sendable {
    public struct Planned: Hashable, Sendable {
        public var partition: Int
        public var nodeID: NodeID
        public var nodeName: String
    }

    /// The executions the scheduler would create, in the order it chose them.
    public var placements: [Planned]
    /// `batch` only: partitions that would fit on no node.
    public var unplacedPartitions: [Int]
    /// Whether the job would be fully placed (`Plan.isComplete`), rather than queued.
    public var isComplete: Bool
    /// Why nodes would not take (more of) the job, keyed like `placementFailures(of:)`.
    public var rejections: [String: [String]]
}

extension ControlPlane {
    /// Plans `spec` as a new job against the current cluster and load, changing nothing.
    public func preview(_ spec: JobSpec, now: Timestamp) -> PlacementPreview {
        let job = Job(id: JobID("dry-run"), spec: spec, createdAt: now)
        let plan = scheduler.plan(job: job, existing: [], index: index, now: now)
        // As in `evaluate`: on a small cluster every node's reason is wanted, not only those of
        // the candidates the index examined.
        let full = index.count <= scheduler.configuration.maxListedRejections
            ? scheduler.plan(job: job, existing: [], nodes: index.statuses, now: now) : plan
        return PlacementPreview(
            placements: plan.placements.map {
                PlacementPreview.Planned(partition: $0.partition, nodeID: $0.nodeID, nodeName: nodes[$0.nodeID]?.info.name ?? $0.nodeID.rawValue)
            },
            unplacedPartitions: plan.unplacedPartitions, isComplete: plan.isComplete, rejections: explain(full))
    }
}
