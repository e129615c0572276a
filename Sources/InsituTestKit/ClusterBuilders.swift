public import InsituModel

/// Concise fixtures for scheduler, store and orchestrator tests. Every parameter has a plain
/// default so a test names only what it is about.

public enum FixtureDefaults {
    /// A fixed, valid digest for fixtures that need a module reference.
    public static let digest = ContentDigest(rawValue: String(repeating: "ab", count: 32))!
    /// The instant fixtures use when none is given (same as `ManualClock`'s default start).
    public static let epoch = Timestamp(milliseconds: 1_700_000_000_000)
    public static let gibibyte: Int64 = 1 << 30
    public static let mebibyte: Int64 = 1 << 20
}

extension NodeStatus {
    /// A node with `cpu` millicores and `memory` bytes of capacity, holding `datasets` by name.
    public static func fixture(
        id: NodeID, name: String? = nil, labels: Labels = [:], datasets: [String] = [], cpu: Int = 4000,
        memory: Int64 = 8 * FixtureDefaults.gibibyte, engines: [EngineKind] = [.wasm], liveness: NodeLiveness = .connected,
        allocated: Resources = .zero, activeExecutions: Int = 0, lastSeen: Timestamp = FixtureDefaults.epoch
    ) -> NodeStatus {
        NodeStatus(
            info: NodeInfo(
                id: id, name: name ?? id.rawValue, labels: labels, resources: Resources(cpuMillis: cpu, memoryBytes: memory),
                datasets: datasets.map { DatasetInfo(name: $0) }, engines: engines),
            liveness: liveness, allocated: allocated, activeExecutions: activeExecutions, lastSeen: lastSeen)
    }
}

extension JobSpec {
    /// A job reading `datasets` (mounted at `/data/<name>`), requesting `cpu` millicores and
    /// `memory` bytes, on `engine` (a fixed wasm module, the `true` command or a fixed image).
    public static func fixture(
        name: String = "job", type: JobType = .batch, count: Int = 1, datasets: [String] = [],
        constraints: [LabelConstraint] = [], engine: EngineKind = .wasm, cpu: Int = 100,
        memory: Int64 = 64 * FixtureDefaults.mebibyte
    ) -> JobSpec {
        let engineSpec: EngineSpec
        switch engine {
        case .wasm: engineSpec = EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: FixtureDefaults.digest)))
        case .process: engineSpec = EngineSpec(process: ProcessSettings(command: "true"))
        case .container: engineSpec = EngineSpec(container: ContainerSettings(image: "localhost/fixture:1"))
        case .sql: engineSpec = EngineSpec(sql: SQLSettings(query: "SELECT 1"))
        }
        return JobSpec(
            name: name, type: type, count: count, constraints: constraints,
            inputs: datasets.map { InputSpec(source: .dataset(name: $0), target: "/data/\($0)") },
            engine: engineSpec, resources: Resources(cpuMillis: cpu, memoryBytes: memory))
    }
}

extension Job {
    public static func fixture(id: JobID = "job-1", spec: JobSpec = .fixture(), createdAt: Timestamp = FixtureDefaults.epoch) -> Job {
        Job(id: id, spec: spec, createdAt: createdAt)
    }
}

extension Execution {
    /// An execution of `job` in `state`, restored directly (no transitions replayed).
    public static func fixture(
        job: JobID, partition: Int, attempt: Int = 1, node: NodeID, state: ExecutionState = .running,
        at time: Timestamp = FixtureDefaults.epoch
    ) -> Execution {
        Execution(
            id: ExecutionID(job: job, partition: partition, attempt: attempt), jobID: job, partition: partition,
            attempt: attempt, nodeID: node, state: state, desiredState: .run, stateReason: nil, exitCode: nil,
            createdAt: time, updatedAt: time)
    }
}
