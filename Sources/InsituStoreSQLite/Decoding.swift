import Foundation
import GRDB
import InsituModel
import InsituStore

/// Rows back into model values. Each function reads the columns in the order its `SQL` query
/// selects them, and throws a `StoreError` naming the row when a stored value is not understood.
enum Decode {
    static func job(_ row: Row) throws -> Job {
        let id = JobID(try row.decode(String.self, atIndex: 0))
        return Job(
            id: id,
            spec: try json(JobSpec.self, row, 3, "spec of job \(id)"),
            state: try enumeration(JobState.self, row, 1, "state of job \(id)"),
            stateReason: try row.decode(String?.self, atIndex: 2),
            createdAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 4)),
            updatedAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 5)),
            version: try row.decode(Int.self, atIndex: 6))
    }

    static func execution(_ row: Row) throws -> Execution {
        let id = ExecutionID(rawValue: try row.decode(String.self, atIndex: 0))
        return Execution(
            id: id,
            jobID: JobID(try row.decode(String.self, atIndex: 1)),
            partition: try row.decode(Int.self, atIndex: 2),
            attempt: try row.decode(Int.self, atIndex: 3),
            nodeID: NodeID(try row.decode(String.self, atIndex: 4)),
            state: try enumeration(ExecutionState.self, row, 5, "state of execution \(id)"),
            desiredState: try enumeration(DesiredState.self, row, 6, "desired state of execution \(id)"),
            stateReason: try row.decode(String?.self, atIndex: 7),
            exitCode: try row.decode(Int32?.self, atIndex: 8),
            createdAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 9)),
            updatedAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 10)),
            version: try row.decode(Int.self, atIndex: 11))
    }

    static func event(_ row: Row) throws -> JobEvent {
        let jobID = JobID(try row.decode(String.self, atIndex: 0))
        let sequence = try row.decode(Int64.self, atIndex: 1)
        return JobEvent(
            jobID: jobID,
            sequence: sequence,
            at: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 2)),
            kind: try enumeration(JobEvent.Kind.self, row, 3, "kind of event \(jobID)#\(sequence)"),
            executionID: try row.decode(String?.self, atIndex: 4).map(ExecutionID.init(rawValue:)),
            message: try row.decode(String.self, atIndex: 5))
    }

    static func log(_ row: Row) throws -> LogRecord {
        LogRecord(
            jobID: JobID(try row.decode(String.self, atIndex: 0)),
            executionID: ExecutionID(rawValue: try row.decode(String.self, atIndex: 1)),
            sequence: try row.decode(Int64.self, atIndex: 2),
            stream: try row.decode(String.self, atIndex: 3),
            text: try row.decode(String.self, atIndex: 4),
            at: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 5)))
    }

    static func result(_ row: Row) throws -> ResultRecord {
        let jobID = JobID(try row.decode(String.self, atIndex: 0))
        let partition = try row.decode(Int.self, atIndex: 1)
        return ResultRecord(
            jobID: jobID,
            partition: partition,
            executionID: ExecutionID(rawValue: try row.decode(String.self, atIndex: 2)),
            nodeID: NodeID(try row.decode(String.self, atIndex: 3)),
            files: try json([ResultFile].self, row, 4, "files of result \(jobID)/\(partition)"),
            acceptedAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 5)))
    }

    static func node(_ row: Row) throws -> NodeRecord {
        let info = try json(NodeInfo.self, row, 0, "node info")
        return NodeRecord(
            info: info,
            liveness: try enumeration(NodeLiveness.self, row, 1, "liveness of node \(info.id)"),
            lastSeen: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 2)),
            draining: try row.decode(Int64.self, atIndex: 3) != 0)
    }

    private static func enumeration<E: RawRepresentable>(_: E.Type, _ row: Row, _ index: Int, _ what: String) throws
        -> E where E.RawValue == String
    {
        let raw = try row.decode(String.self, atIndex: index)
        guard let value = E(rawValue: raw) else { throw StoreError("unknown \(what) in the database: \(raw)") }
        return value
    }

    private static func json<T: Decodable>(_: T.Type, _ row: Row, _ index: Int, _ what: String) throws -> T {
        let text = try row.decode(String.self, atIndex: index)
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw StoreError("cannot decode \(what) stored in the database: \(error)")
        }
    }
}
