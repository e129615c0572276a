public import InsituExecutor
public import InsituModel

/// What the node fixes for every container, whatever the job asks.
public struct ContainerPolicy: Hashable, Sendable {
    /// Most processes (and threads) in the container (`PidsLimit`).
    public var pidsLimit: Int
    /// The `nofile` rlimit; set explicitly because some hosts refuse the engine's default.
    public var openFiles: Int
    /// Labels every container carries, so the node can find (and sweep) its own containers.
    public var labels: [String: String]

    public init(pidsLimit: Int = 256, openFiles: Int = 1024, labels: [String: String] = [:]) {
        self.pidsLimit = pidsLimit
        self.openFiles = openFiles
        self.labels = labels
    }
}

/// The body of `POST /containers/create` (Docker Engine API 1.41; podman's compatible API
/// accepts the same), built from an execution request. Pure, so what isolates a job is checked
/// without a daemon.
///
/// Always: no network (`NetworkMode: none`), never privileged, every capability dropped,
/// `no-new-privileges`, a read-only root file system with a private `/tmp`, the job's memory as
/// a hard limit with no swap, its CPU as a quota, a process limit, explicit rlimits, inputs
/// bind-mounted read-only and outputs writable, nothing else from the host.
public struct ContainerCreateRequest: Encodable, Hashable, Sendable {
    /// Docker refuses a memory limit under 6 MB.
    public static let minimumMemoryBytes: Int64 = 6 << 20
    public static let executionLabel = "insitu.execution"
    static let minimumProcessRlimit = 4096

    var image: String
    var entrypoint: [String]?
    var cmd: [String]?
    var env: [String]
    var labels: [String: String]
    var networkDisabled = true
    /// Seconds between the stop signal and SIGKILL when the container is removed with force: none.
    var stopTimeout = 0
    var attachStdin = false
    var openStdin = false
    var tty = false
    var hostConfig: HostConfig

    struct HostConfig: Encodable, Hashable, Sendable {
        var networkMode = "none"
        var privileged = false
        var capDrop = ["ALL"]
        var securityOpt = ["no-new-privileges"]
        var readonlyRootfs = true
        var tmpfs: [String: String]?
        var memory: Int64
        /// Equal to `memory`: no swap on top of the limit.
        var memorySwap: Int64
        var nanoCpus: Int64
        var pidsLimit: Int
        var ulimits: [Ulimit]
        var mounts: [BindMount]
        var autoRemove = false

        enum CodingKeys: String, CodingKey {
            case networkMode = "NetworkMode", privileged = "Privileged", capDrop = "CapDrop", securityOpt = "SecurityOpt"
            case readonlyRootfs = "ReadonlyRootfs", tmpfs = "Tmpfs", memory = "Memory", memorySwap = "MemorySwap"
            case nanoCpus = "NanoCpus", pidsLimit = "PidsLimit", ulimits = "Ulimits", mounts = "Mounts", autoRemove = "AutoRemove"
        }
    }

    struct Ulimit: Encodable, Hashable, Sendable {
        var name: String
        var soft: Int
        var hard: Int
        enum CodingKeys: String, CodingKey { case name = "Name", soft = "Soft", hard = "Hard" }
    }

    struct BindMount: Encodable, Hashable, Sendable {
        var type = "bind"
        var source: String
        var target: String
        var readOnly: Bool
        enum CodingKeys: String, CodingKey { case type = "Type", source = "Source", target = "Target", readOnly = "ReadOnly" }
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image", entrypoint = "Entrypoint", cmd = "Cmd", env = "Env", labels = "Labels"
        case networkDisabled = "NetworkDisabled", stopTimeout = "StopTimeout", attachStdin = "AttachStdin"
        case openStdin = "OpenStdin", tty = "Tty", hostConfig = "HostConfig"
    }

    /// The container for `request` running `image` (already admitted by the allow-list).
    /// Throws when the job's resources cannot be expressed as engine limits.
    public init(_ request: ExecutionRequest, image: ImageReference, policy: ContainerPolicy) throws(ExecutorError) {
        let settings = request.engine.container ?? ContainerSettings(image: image.canonical)
        self.image = image.canonical
        // The job's command replaces the image's entrypoint and its args follow; without a
        // command, args (if any) replace the image's default command.
        if settings.command.isEmpty {
            entrypoint = nil
            cmd = request.args.isEmpty ? nil : request.args
        } else {
            entrypoint = settings.command
            cmd = request.args
        }
        env = request.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        labels = policy.labels.merging([Self.executionLabel: request.executionID.rawValue]) { _, execution in execution }

        // The runner always passes the job's request; a request without one gets the spec's default.
        let resources = request.resources ?? JobSpec.defaultResources
        let memory = resources.memoryBytes
        guard memory >= Self.minimumMemoryBytes else {
            throw ExecutorError(
                "resources.memory of \(ByteCount.format(memory)) is below the container engine's minimum of \(ByteCount.format(Self.minimumMemoryBytes)): ask for more memory"
            )
        }
        let (nanoCpus, overflow) = Int64(resources.cpuMillis).multipliedReportingOverflow(by: 1_000_000)
        guard resources.cpuMillis > 0, !overflow else {
            throw ExecutorError("resources.cpu of \(resources.cpuMillis)m cannot be a container CPU limit: ask for 1m or more")
        }
        // A private /tmp unless the job mounts something there itself; it is memory, so it
        // counts against (and is bounded by) the memory limit.
        let tmpIsMounted = request.mounts.contains { $0.guestPath == "/tmp" || $0.guestPath.hasPrefix("/tmp/") }
        hostConfig = HostConfig(
            tmpfs: tmpIsMounted ? nil : ["/tmp": "rw,nosuid,nodev,size=\(memory)"],
            memory: memory, memorySwap: memory, nanoCpus: nanoCpus, pidsLimit: policy.pidsLimit,
            ulimits: [
                Ulimit(name: "nofile", soft: policy.openFiles, hard: policy.openFiles),
                // RLIMIT_NPROC counts every process of the container user's UID on the host, so
                // it is set generously; `PidsLimit` is the container's real bound.
                Ulimit(name: "nproc", soft: max(policy.pidsLimit, Self.minimumProcessRlimit), hard: max(policy.pidsLimit, Self.minimumProcessRlimit)),
            ],
            mounts: request.mounts.map { BindMount(source: $0.hostPath, target: $0.guestPath, readOnly: $0.readOnly) })
    }

    /// The name the node gives the container of `execution` (an execution ID is a plain name,
    /// which `AssignmentValidation` checked).
    public static func containerName(_ execution: ExecutionID) -> String { "insitu-" + execution.rawValue }
}
