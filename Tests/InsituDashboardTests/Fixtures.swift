import InsituAPI
import InsituModel

@testable import InsituDashboard

/// Values the page tests render: a node, a job with two executions, events and logs.
enum Fixtures {
    static let now = Timestamp(milliseconds: 1_764_551_767_000)  // 2025-12-01 01:16:07 UTC
    static let chrome = DashboardChrome(section: .jobs, signedInAs: "ci-reader (tok1)", development: false, version: "1.2.3")
    static let digest = ContentDigest(rawValue: String(repeating: "ab", count: 32))!

    static func node(
        id: String = "n-1", name: String = "edge-1", labels: Labels = ["zone": "eu"], liveness: NodeLiveness = .connected,
        datasets: [DatasetInfo] = [DatasetInfo(name: "patients", description: "synthetic")]
    ) -> NodeSummary {
        NodeSummary(
            status: NodeStatus(
                info: NodeInfo(
                    id: NodeID(id), name: name, labels: labels, resources: Resources(cpuMillis: 4000, memoryBytes: 8 << 30),
                    datasets: datasets, engines: [.wasm, .process], wasmRuntime: "wasmkit", version: "1.2.3"),
                liveness: liveness, allocated: Resources(cpuMillis: 500, memoryBytes: 1 << 30), activeExecutions: 1,
                lastSeen: Timestamp(milliseconds: now.milliseconds - 3000)))
    }

    static func job(state: JobState, reason: String? = nil, args: [String] = []) -> Job {
        let spec = JobSpec(
            name: "count-conditions", count: 2,
            inputs: [InputSpec(source: .dataset(name: "patients"), target: "/data")],
            engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digest))), args: args, env: ["SECRET": "s3cr3t"])
        return Job(
            id: JobID("j-0123"), spec: spec, state: state, stateReason: reason,
            createdAt: Timestamp(milliseconds: now.milliseconds - 125_000),
            updatedAt: Timestamp(milliseconds: now.milliseconds - 5000), version: 3)
    }

    static func execution(partition: Int, state: ExecutionState, node: String = "n-1", exit: Int32? = nil, reason: String? = nil)
        -> Execution
    {
        Execution(
            id: ExecutionID(job: JobID("j-0123"), partition: partition, attempt: 1), jobID: JobID("j-0123"), partition: partition,
            attempt: 1,
            nodeID: NodeID(node), state: state, desiredState: .run, stateReason: reason, exitCode: exit,
            createdAt: Timestamp(milliseconds: now.milliseconds - 120_000), updatedAt: Timestamp(milliseconds: now.milliseconds - 5000))
    }

    static func events() -> [JobEvent] {
        [
            JobEvent(
                jobID: JobID("j-0123"), sequence: 2, at: Timestamp(milliseconds: now.milliseconds - 120_000), kind: .jobStateChanged,
                executionID: nil, message: "job pending → running"),
            JobEvent(
                jobID: JobID("j-0123"), sequence: 1, at: Timestamp(milliseconds: now.milliseconds - 125_000), kind: .submitted,
                executionID: nil, message: "submitted"),
        ]
    }
}
