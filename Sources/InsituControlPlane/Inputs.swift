public import InsituAPI
public import InsituModel
public import InsituStore

/// Everything that can change the control plane's state. The shell turns requests, node frames
/// and timer expiries into inputs; the core never reads a clock, a socket or the store.
public enum Input: Sendable {
    /// A validated spec to accept as job `id`. `existing` is the job an idempotency key already
    /// names in the store (looked up by the shell just before this drain), if any.
    case submit(JobSpec, id: JobID, idempotencyKey: String?, existing: Job?)
    case stop(JobID)
    /// A node said hello on a new connection.
    case nodeConnected(AgentHello, connection: UInt64)
    /// A message from a node. `seq` 0 marks an unnumbered message (a heartbeat), which is never
    /// replayed and needs no acknowledgement.
    case nodeMessage(NodeReport, seq: UInt64, node: NodeID, connection: UInt64)
    case nodeDisconnected(NodeID, connection: UInt64)
    /// Time passed: liveness, grace periods, retry delays and queue timeouts are checked.
    case tick
    /// An operator drains a node (no new work; what it runs finishes) or lifts the drain.
    case drainNode(NodeID, draining: Bool)
    /// An operator deletes a node that will not return: its unfinished work is lost now (and
    /// replaced where its job's policy says so) and its record goes.
    case forgetNode(NodeID)
}

/// A node's message as the core sees it. Results arrive with their files already verified and
/// stored by the shell, so deciding never waits for I/O.
public enum NodeReport: Sendable {
    case heartbeat(Heartbeat)
    case update(ExecutionUpdate)
    case output(ExecutionOutput)
    case result(VerifiedResult)
}

public struct VerifiedResult: Sendable, Hashable {
    public var executionID: ExecutionID
    public var state: ExecutionState
    public var exitCode: Int32?
    public var reason: String?
    /// The files, stored as blobs; empty unless `state` is succeeded.
    public var files: [ResultFile]
    /// Why the reported files were refused (too many, too large, damaged, bad path): the
    /// execution then fails with this reason instead of succeeding.
    public var refusal: String?

    public init(
        executionID: ExecutionID, state: ExecutionState, exitCode: Int32?, reason: String?, files: [ResultFile] = [],
        refusal: String? = nil
    ) {
        self.executionID = executionID
        self.state = state
        self.exitCode = exitCode
        self.reason = reason
        self.files = files
        self.refusal = refusal
    }
}

/// What one input asks the shell to answer its caller, once the drain's batch is durable.
public enum Reply: Sendable {
    case submitted(Job, created: Bool)
    case stopped(Job)
    /// The job is not active here (finished, or unknown): the shell answers from the store.
    case notActive(JobID)
    case welcome(Welcome)
    case refused(NodeInfoProblem)
    /// A node message: `fresh` is false for a repeat the duplicate filter skipped. Either way the
    /// shell acknowledges `seq` once the drain's batch is committed.
    case applied(fresh: Bool)
    /// The message's connection is no longer the node's current one; it is not acknowledged and
    /// the node sends it again on its current connection.
    case staleConnection
    /// After `drainNode`: the node as it is now.
    case node(NodeStatus)
    /// After `forgetNode`: the executions that were lost with the node.
    case forgotten(NodeID, lostExecutions: Int)
    /// `drainNode` or `forgetNode` named a node the control plane does not know.
    case unknownNode(NodeID)
    /// `forgetNode` named a node that is still connected (or suspect): it would come back at once.
    case nodeStillConnected(NodeID, NodeLiveness)
    case done
}

/// What applying inputs asks of the shell, in this order: persist `batch` in one commit; then
/// send, close, acknowledge and answer; then wake whoever waits for `settled` jobs. Nothing here
/// may be acted on before the commit succeeds.
public struct Effects: Sendable {
    public struct Send: Sendable {
        public var node: NodeID
        public var connection: UInt64
        public var message: OrchestratorMessage
    }
    public struct Close: Sendable, Hashable {
        public var node: NodeID
        public var connection: UInt64
        public var reason: String
    }
    public struct Ack: Sendable, Hashable {
        public var node: NodeID
        public var connection: UInt64
        public var seq: UInt64
    }

    public var batch = StoreBatch()
    public var sends: [Send] = []
    public var closes: [Close] = []
    public var acks: [Ack] = []
    /// Jobs that reached a terminal state in this batch.
    public var settled: [JobID] = []

    public init() {}
}
