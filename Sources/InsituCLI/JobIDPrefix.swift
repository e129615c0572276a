import InsituClient

/// Job IDs as people type them: the whole ID, or (like docker and nomad) enough of its start to
/// name one job. Only when the orchestrator knows no job by the text itself is it taken for a
/// prefix; one that fits several jobs is refused with the candidates.
enum JobIDPrefix {
    static let minimumLength = 2

    static func resolve(_ text: String, client: InsituClient) async throws -> String {
        let notFound: InsituClient.Failure
        do {
            _ = try await client.job(text)
            return text
        } catch let failure as InsituClient.Failure where failure.status == 404 {
            notFound = failure
        }
        guard text.count >= minimumLength else { throw notFound }
        let matches = try await client.jobs(limit: 10_000).map(\.id.rawValue).filter { $0.hasPrefix(text) }
        switch matches.count {
        case 0: throw notFound
        case 1: return matches[0]
        default:
            throw CLIFailure(
                "\(text) is the start of \(matches.count) job IDs (\(matches.prefix(5).joined(separator: ", "))\(matches.count > 5 ? ", ..." : "")); give more of the ID")
        }
    }
}
