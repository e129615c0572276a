import Foundation
import InsituModel
import InsituStore
import InsituStoreSQLite

/// A fresh directory under the system temp directory, removed when the test is done with it.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("insitu-store-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    var databasePath: String { path + "/insitu.sqlite" }
}

enum Fixture {
    static let digest = ContentDigest(rawValue: String(repeating: "ab", count: 32))!
    static let otherDigest = ContentDigest(rawValue: String(repeating: "0f", count: 32))!

    /// A spec with every field set to something other than its default.
    static func richSpec(name: String = "word-count") -> JobSpec {
        JobSpec(
            version: "v1", name: name, namespace: "clinical", type: .ops, count: 3,
            constraints: [
                LabelConstraint(key: "region", operator: .in, values: ["eu", "us"]),
                LabelConstraint(key: "gpu", operator: .exists, values: []),
            ],
            inputs: [
                InputSpec(source: .dataset(name: "patients"), target: "/data/patients"),
                InputSpec(source: .inline(content: "héllo\nwörld \"quoted\""), target: "/inputs/note.txt"),
            ],
            engine: EngineSpec(
                wasm: WasmSettings(
                    module: ModuleReference(digest: digest, url: "https://example.com/m.wasm"),
                    entrypoint: "run", memoryLimitBytes: 32 << 20, fuel: 1_000_000, signature: "ed25519:" + String(repeating: "A", count: 86) + "==")),
            args: ["--top", "10"], env: ["B": "2", "A": "1"],
            resources: Resources(cpuMillis: 250, memoryBytes: 128 << 20), timeoutMillis: 30_000,
            outputs: [OutputSpec(name: "counts", path: "/outputs")])
    }

    static func simpleSpec(name: String = "hello") -> JobSpec {
        JobSpec(name: name, engine: EngineSpec(process: ProcessSettings(command: "/bin/echo")))
    }

    static func job(
        _ id: String, state: JobState = .pending, createdAt: Int64 = 1_000, spec: JobSpec? = nil
    ) -> Job {
        Job(
            id: JobID(id), spec: spec ?? simpleSpec(name: id), state: state,
            stateReason: state == .pending ? nil : "because \(state)",
            createdAt: Timestamp(milliseconds: createdAt), updatedAt: Timestamp(milliseconds: createdAt + 5),
            version: 3)
    }

    static func execution(
        _ job: String, partition: Int = 0, attempt: Int = 1, state: ExecutionState = .running, node: String = "n1"
    ) -> Execution {
        Execution(
            id: ExecutionID(job: JobID(job), partition: partition, attempt: attempt), jobID: JobID(job),
            partition: partition, attempt: attempt, nodeID: NodeID(node), state: state,
            desiredState: state.isTerminal ? .stop : .run, stateReason: state.isTerminal ? "done" : nil,
            exitCode: state.isTerminal ? -9 : nil, createdAt: Timestamp(milliseconds: 2_000),
            updatedAt: Timestamp(milliseconds: 2_500))
    }

    static func event(_ job: String, _ message: String, execution: ExecutionID? = nil, at: Int64 = 3_000) -> JobEvent {
        JobEvent(
            jobID: JobID(job), at: Timestamp(milliseconds: at), kind: execution == nil ? .note : .executionStateChanged,
            executionID: execution, message: message)
    }

    static func node(_ id: String, liveness: NodeLiveness = .connected) -> NodeRecord {
        NodeRecord(
            info: NodeInfo(
                id: NodeID(id), name: "node \(id)", labels: ["region": "eu", "site": "hospital-a"],
                resources: Resources(cpuMillis: 4_000, memoryBytes: 8 << 30),
                datasets: [DatasetInfo(name: "patients", description: "anonymised", labels: ["kind": "csv"])],
                engines: [.wasm, .process], version: "1.2.3"),
            liveness: liveness, lastSeen: Timestamp(milliseconds: 4_000))
    }

    static func log(_ job: String, _ text: String, stream: String = "stdout") -> LogRecord {
        LogRecord(
            jobID: JobID(job), executionID: ExecutionID(job: JobID(job), partition: 0, attempt: 1), stream: stream,
            text: text, at: Timestamp(milliseconds: 5_000))
    }

    static func result(_ job: String, partition: Int = 0, attempt: Int = 1, node: String = "n1") -> ResultRecord {
        ResultRecord(
            jobID: JobID(job), partition: partition,
            executionID: ExecutionID(job: JobID(job), partition: partition, attempt: attempt), nodeID: NodeID(node),
            files: [
                ResultFile(path: "stdout", digest: digest, size: 12),
                ResultFile(path: "outputs/counts.json", digest: otherDigest, size: 4_096),
            ],
            acceptedAt: Timestamp(milliseconds: 6_000))
    }
}
