public import InsituModel

/// A directory made visible inside the sandbox. Codable so a run can be handed to a runner process.
public struct Mount: Hashable, Codable, Sendable {
    public var hostPath: String
    /// Absolute path the job sees.
    public var guestPath: String
    public var readOnly: Bool

    public init(hostPath: String, guestPath: String, readOnly: Bool) {
        self.hostPath = hostPath
        self.guestPath = guestPath
        self.readOnly = readOnly
    }
}

/// Everything an engine needs to run one execution on this node. The agent prepares it: the
/// module is already fetched and verified, datasets resolved to local paths, inline inputs
/// written to files, output directories created.
public struct ExecutionRequest: Sendable {
    public var executionID: ExecutionID
    public var engine: EngineSpec
    /// Local path of the verified module file (wasm engine only).
    public var modulePath: String?
    public var args: [String]
    public var env: [String: String]
    public var mounts: [Mount]
    /// Host directory private to this execution (scratch space, captured stdout/stderr).
    public var workDirectory: String
    public var timeout: Duration?
    /// The job's CPU and memory request; engines that can enforce it (container) make it a limit.
    public var resources: Resources

    public init(
        executionID: ExecutionID, engine: EngineSpec, modulePath: String? = nil, args: [String] = [],
        env: [String: String] = [:], mounts: [Mount] = [], workDirectory: String, timeout: Duration? = nil,
        resources: Resources = JobSpec.defaultResources
    ) {
        self.resources = resources
        self.executionID = executionID
        self.engine = engine
        self.modulePath = modulePath
        self.args = args
        self.env = env
        self.mounts = mounts
        self.workDirectory = workDirectory
        self.timeout = timeout
    }
}

public enum OutputStream: String, Hashable, Codable, Sendable {
    case stdout
    case stderr
}

/// How an execution ended, from the engine's point of view.
public struct ExecutionOutcome: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        case succeeded
        /// The job's own code failed (non-zero exit, a trap).
        case failed
        /// The wall-clock limit or the instruction budget ran out.
        case timedOut
        /// A memory limit was hit.
        case outOfMemory
        /// Stopped because the task running it was cancelled.
        case cancelled
    }
    public var status: Status
    public var exitCode: Int32?
    /// A sentence for people, saying what happened and, where it helps, what to change.
    public var reason: String?
    public var stdout: [UInt8]
    public var stderr: [UInt8]

    public init(status: Status, exitCode: Int32? = nil, reason: String? = nil, stdout: [UInt8] = [], stderr: [UInt8] = []) {
        self.status = status
        self.exitCode = exitCode
        self.reason = reason
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Errors preparing an execution (a missing module, a bad mount): the job never started.
public struct ExecutorError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An engine that runs executions on this node. Implementations MUST stop the job's code when the
/// calling task is cancelled or the request's timeout passes, and MUST NOT block Swift's
/// cooperative thread pool while the job runs.
public protocol Executor: Sendable {
    var engine: EngineKind { get }
    /// Runs one execution to completion. Output chunks are passed to `onOutput` as they appear,
    /// and are also returned whole in the outcome (up to an engine-defined cap).
    func run(_ request: ExecutionRequest, onOutput: @escaping @Sendable (OutputStream, [UInt8]) -> Void) async throws
        -> ExecutionOutcome
}
