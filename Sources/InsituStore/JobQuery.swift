public import InsituModel

/// Which jobs a list request wants: newest first, `(createdAt, id)` descending, filtered and
/// optionally continuing after a cursor.
public struct JobQuery: Hashable, Sendable {
    public var limit: Int
    /// Only jobs of this namespace; nil for every namespace.
    public var namespace: String?
    /// Only jobs in one of these states; empty for any state.
    public var states: Set<JobState>
    /// Only jobs whose name contains this text (case-sensitive); nil for any name.
    public var nameContains: String?
    /// Only jobs that come after this position in the newest-first order, i.e. created before
    /// it or at the same millisecond with a smaller ID. A job created after the cursor was taken
    /// never lands before it, so following pages neither skip nor repeat older jobs.
    public var after: JobCursor?

    public init(limit: Int, namespace: String? = nil, states: Set<JobState> = [], nameContains: String? = nil, after: JobCursor? = nil) {
        self.limit = limit
        self.namespace = namespace
        self.states = states
        self.nameContains = nameContains
        self.after = after
    }
}

/// A position in the newest-first job order: the last job of a page.
public struct JobCursor: Hashable, Sendable {
    public var createdAt: Timestamp
    public var id: JobID

    public init(createdAt: Timestamp, id: JobID) {
        self.createdAt = createdAt
        self.id = id
    }

    public init(_ job: Job) {
        self.init(createdAt: job.createdAt, id: job.id)
    }
}
