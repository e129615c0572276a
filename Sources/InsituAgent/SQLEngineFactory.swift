import Foundation
import InsituOwnExecutable
import InsituExecutor
import InsituSQL

/// Builds the node's `sql` engine from its config (`engines.sql`): each execution runs in an
/// `insitu-sql-runner` process, which ships beside the `insitu` executable. The agent refuses to
/// start with the engine enabled and the runner missing, rather than fail every SQL job later.
enum SQLEngineFactory {
    static func make(config: AgentConfig) throws -> any Executor {
        let runner = runnerPath()
        guard FileManager.default.isExecutableFile(atPath: runner) else {
            throw ExecutorError(
                "engines.sql.enabled is true, which needs \(runner): build the insitu-sql-runner product (swift build) or disable the engine")
        }
        return SQLExecutor(runnerPath: runner, maxRows: config.sqlMaxRows)
    }

    static func runnerPath() -> String {
        OwnExecutable.sibling("insitu-sql-runner")
    }
}
