import InsituAPI
import InsituModel

/// The variables every engine gives a job, so that partitions and sites can tell themselves
/// apart without the job's author passing that in by hand.
///
/// - `INSITU_JOB_ID`, `INSITU_EXECUTION_ID`, `INSITU_PARTITION` (0-based), `INSITU_NODE_NAME`;
/// - `INSITU_PARTITION_COUNT` for batch jobs (their `count`). An ops job runs once on every
///   matching node, a number that grows as nodes join, so it has no count to give;
/// - `INSITU_LABEL_<KEY>` for each of the node's labels, the key upper-cased with every byte
///   that is not a letter or digit turned into `_` (`site` → `INSITU_LABEL_SITE`,
///   `insitu.io/zone` → `INSITU_LABEL_INSITU_IO_ZONE`). Should two keys map to one name, the
///   smallest key wins, so the result does not depend on dictionary order.
///
/// These are the node's words and override the job's `env` (the spec parser refuses `INSITU_`
/// names there, so a job never silently loses one of its own).
enum ExecutionEnvironment {
    static let reservedPrefix = "INSITU_"

    static func variables(for assignment: ExecutionAssignment, nodeName: String, labels: Labels) -> [String: String] {
        var variables = [
            "INSITU_JOB_ID": assignment.jobID.rawValue,
            "INSITU_EXECUTION_ID": assignment.executionID.rawValue,
            "INSITU_PARTITION": String(assignment.partition),
            "INSITU_NODE_NAME": nodeName,
        ]
        if assignment.spec.type == .batch {
            variables["INSITU_PARTITION_COUNT"] = String(assignment.spec.count)
        }
        for key in labels.keys.sorted() {
            let name = "INSITU_LABEL_" + labelName(key)
            if variables[name] == nil, let value = labels[key] { variables[name] = value }
        }
        return variables
    }

    /// The job's environment with the node's variables laid over it.
    static func merged(_ jobEnvironment: [String: String], with nodeVariables: [String: String]) -> [String: String] {
        jobEnvironment.merging(nodeVariables) { _, node in node }
    }

    static func labelName(_ key: String) -> String {
        String(
            decoding: key.utf8.map { byte -> UInt8 in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - 32
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): byte
                default: UInt8(ascii: "_")
                }
            }, as: UTF8.self)
    }
}
