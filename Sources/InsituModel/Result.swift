/// A file an execution produced, kept in the orchestrator's content-addressed blob store.
public struct ResultFile: Hashable, Codable, Sendable {
    /// Path relative to the result root, e.g. `outputs/counts.json` or `stdout`.
    public var path: String
    public var digest: ContentDigest
    public var size: Int64

    public init(path: String, digest: ContentDigest, size: Int64) {
        self.path = path
        self.digest = digest
        self.size = size
    }
}

/// The accepted result of one partition of a job. At most one is ever accepted per
/// (job, partition): the first final report wins, later ones are recorded as superseded.
public struct ResultRecord: Hashable, Codable, Sendable {
    public var jobID: JobID
    public var partition: Int
    public var executionID: ExecutionID
    public var nodeID: NodeID
    public var files: [ResultFile]
    public var acceptedAt: Timestamp

    public init(jobID: JobID, partition: Int, executionID: ExecutionID, nodeID: NodeID, files: [ResultFile], acceptedAt: Timestamp) {
        self.jobID = jobID
        self.partition = partition
        self.executionID = executionID
        self.nodeID = nodeID
        self.files = files
        self.acceptedAt = acceptedAt
    }
}

/// A chunk of an execution's stdout or stderr.
public struct LogRecord: Hashable, Codable, Sendable {
    public var jobID: JobID
    public var executionID: ExecutionID
    /// Assigned by the store, increasing per job.
    public var sequence: Int64
    public var stream: String
    public var text: String
    public var at: Timestamp

    public init(jobID: JobID, executionID: ExecutionID, sequence: Int64 = 0, stream: String, text: String, at: Timestamp) {
        self.jobID = jobID
        self.executionID = executionID
        self.sequence = sequence
        self.stream = stream
        self.text = text
        self.at = at
    }
}
