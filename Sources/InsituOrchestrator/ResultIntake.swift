import Foundation
import InsituAPI
import InsituControlPlane
import InsituModel

/// Turns a node's message into what the control plane decides on. A result's files are checked
/// against `ResultLimits` and `ResultPath`, verified against their digests and written to the
/// blob store here, in the caller's task, so the core never waits for I/O and the orchestrator's
/// mailbox never waits for a large upload.
struct ResultIntake: Sendable {
    let blobs: BlobStore

    /// Throws only when the blob store fails: the message is then not applied, not acknowledged,
    /// and the agent sends it again.
    func report(from message: AgentMessage) throws -> NodeReport? {
        switch message {
        case .hello: return nil
        case .heartbeat(let beat): return .heartbeat(beat)
        case .executionUpdate(let update): return .update(update)
        case .executionOutput(let output): return .output(output)
        case .executionResult(let result):
            var verified = VerifiedResult(
                executionID: result.executionID, state: result.state, exitCode: result.exitCode, reason: result.reason)
            // Only a success keeps files; a refused file fails the execution rather than the
            // connection, because the agent would only send the same report again.
            if result.state == .succeeded {
                switch try acceptFiles(result.files) {
                case .success(let files): verified.files = files
                case .failure(let problem): verified.refusal = problem.message
                }
            }
            return .result(verified)
        }
    }

    struct ResultProblem: Error {
        var message: String
    }

    func acceptFiles(_ payloads: [ResultFilePayload]) throws -> Result<[ResultFile], ResultProblem> {
        func refuse(_ message: String) -> Result<[ResultFile], ResultProblem> { .failure(ResultProblem(message: message)) }
        guard payloads.count <= ResultLimits.maxFiles else {
            return refuse("the result has \(payloads.count) files, more than the \(ResultLimits.maxFiles) a result may hold")
        }
        var verified: [(path: String, bytes: Data, digest: ContentDigest)] = []
        var paths = Set<String>()
        var total: Int64 = 0
        for file in payloads {
            let shown = Self.quoted(file.path)
            if let problem = ResultPath.problem(file.path) {
                return refuse("result file path \(shown) is refused: \(problem)")
            }
            guard paths.insert(file.path).inserted else { return refuse("result file path \(shown) appears twice") }
            guard let digest = file.digest else {
                return refuse("result file \(shown) has a malformed sha256 \(Self.quoted(file.sha256)) (expected 64 lowercase hex digits)")
            }
            guard let bytes = Data(base64Encoded: file.base64) else {
                return refuse("result file \(shown) arrived damaged (its content is not valid base64)")
            }
            total += Int64(bytes.count)
            guard total <= ResultLimits.maxTotalBytes else {
                return refuse("the result's files exceed \(ResultLimits.maxTotalBytes >> 20) MiB, the most a result may hold")
            }
            guard BlobStore.digest(of: bytes) == digest else {
                return refuse("result file \(shown) arrived damaged (its sha256 does not match)")
            }
            verified.append((file.path, bytes, digest))
        }
        return .success(try verified.map { ResultFile(path: $0.path, digest: try blobs.put($0.bytes), size: Int64($0.bytes.count)) })
    }

    /// Text a node sent, for a message to people: quoted, escaped and cut to a readable length.
    static func quoted(_ text: String) -> String {
        let limit = 200
        let cut = text.count > limit ? String(text.prefix(limit)) + "…" : text
        return cut.debugDescription
    }
}
