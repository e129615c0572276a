public import InsituModel

/// `POST /v1/jobs/plan` (the body is a `SubmitJobRequest`): where the job would run if it were
/// submitted now, and why other nodes would not take it. Nothing is stored.
public struct JobPlanResponse: Codable, Hashable, Sendable {
    public struct PlannedExecution: Codable, Hashable, Sendable {
        public var partition: Int
        public var nodeID: NodeID
        public var nodeName: String

        public init(partition: Int, nodeID: NodeID, nodeName: String) {
            self.partition = partition
            self.nodeID = nodeID
            self.nodeName = nodeName
        }
    }

    /// The namespace the job would be submitted into.
    public var namespace: String
    /// Whether every partition (`batch`) or at least one node (`ops`) would be placed at once;
    /// otherwise the job would wait queued.
    public var placeable: Bool
    public var placements: [PlannedExecution]
    /// `batch` only: partitions no node could take now.
    public var unplacedPartitions: [Int]
    /// Per node, why it would not take (more of) the job; `(other nodes)` counts the rest.
    public var placementFailures: [String: [String]]

    public init(
        namespace: String, placeable: Bool, placements: [PlannedExecution], unplacedPartitions: [Int], placementFailures: [String: [String]]
    ) {
        self.namespace = namespace
        self.placeable = placeable
        self.placements = placements
        self.unplacedPartitions = unplacedPartitions
        self.placementFailures = placementFailures
    }
}
