import ArgumentParser
import Foundation
import InsituAuditFile

/// `insitu audit ...`: checks on audit logs (docs/AUDIT.md).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Check audit logs.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify an audit log's hash chain: exits 0 with its entry count and head, or 1 naming the first damaged line.",
            discussion: """
                Finds any edited, reordered or removed entry and a torn last line. Entries cut off the end of a \
                log leave a valid, shorter log: compare the head with one kept elsewhere (the orchestrator keeps \
                each node's; see `insitu node describe`).
                """)
        @Argument(help: "The audit log to check (default: audit.log in --data-dir).") var path: String?
        @Option(help: "Data directory of an orchestrator or agent whose audit.log to check.") var dataDir = "./insitu-data"

        func run() async throws {
            let file = path ?? URL(fileURLWithPath: dataDir).appendingPathComponent(AuditLog.fileName).path
            guard FileManager.default.fileExists(atPath: file) else {
                throw ValidationError("there is no audit log at \(file); give its path, or the --data-dir it is in")
            }
            let report = try AuditFileCheck.verify(path: file)
            if let problem = report.problem {
                FileHandle.standardError.write(
                    Data("\(file): DAMAGED at \(problem) [\(problem.kind.rawValue)]; the \(report.entries) entries before it verify\n".utf8))
                throw ExitCode(1)
            }
            let head = report.head.map { "head entry \($0.seq), sha256 \($0.hash)" } ?? "empty"
            print("\(file): ok, \(report.entries) entries, \(head)")
        }
    }
}
