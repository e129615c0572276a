// insitu-sql-runner: runs one SQL execution for an agent. See `SQLRunnerCommand`.
import InsituSQL

#if canImport(Glibc)
import Glibc
#endif

exit(SQLRunnerCommand.main(arguments: CommandLine.arguments))
