import ArgumentParser
import Foundation
import InsituAPI
import InsituClient
import InsituModel
import InsituOrchestrator
import InsituSpec
import Yams

struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Submit and inspect jobs.",
        subcommands: [Run.self, List.self, Describe.self, Logs.self, Stop.self, Results.self, History.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Submit a job spec (YAML or JSON).")
        @Argument(help: "Path of the job spec file, or - to read it from standard input.") var file: String
        @Flag(
            help: "Wait until the job finishes, showing its progress (placements, queueing reasons, retries) as it happens; exit non-zero if it did not complete.")
        var wait = false
        @Option(
            help: ArgumentHelp(
                "With --wait: stop waiting after this long (e.g. 30s, 10m) and exit with status 124; the job keeps running.",
                valueName: "duration"))
        var timeout: String?
        @Option(help: "A unique key for this submission (e.g. a UUID): running the same command again returns the job the first run created.")
        var idempotencyKey: String?
        @Flag(
            help: "Check the spec and show where the job would run now, and why other nodes would not take it, without submitting it. Exits 2 if it could not be placed.")
        var dryRun = false
        @OptionGroup var options: ClientOptions

        /// Nomad's convention: the job is valid but no node can run it now (it waits queued).
        static let unplacedExitCode: Int32 = 2

        func validate() throws {
            if dryRun && (wait || idempotencyKey != nil) {
                throw ValidationError("--dry-run submits nothing: drop --wait and --idempotency-key, or drop --dry-run")
            }
            guard let timeout else { return }
            guard wait else { throw ValidationError("--timeout applies only with --wait") }
            guard let millis = SpecValues.parseDuration(timeout), millis > 0 else {
                throw ValidationError("--timeout \(timeout) is not a duration such as 30s, 10m or 1h")
            }
        }

        func run() async throws {
            let client = try options.client
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else { throw CLIFailure("cannot read job spec \(file)") }
                data = contents
            }
            var text = String(decoding: data, as: UTF8.self)
            // `job describe -o yaml|json` output goes back in as its job's spec (kubectl-style),
            // written in the document format: the stored spec uses the model's field names.
            if let described = try? YAMLDecoder().decode(JobDetail.self, from: text) {
                text = JobSpecWriter.document(described.job.spec)
                Output.note("submitting the spec of job \(described.job.id) from its `job describe` output (its state and executions are ignored)")
            }
            // Validate locally first, so every problem (a missing module file among them) is
            // reported at once and nothing is uploaded for a spec that will be refused.
            var module: (path: String, bytes: Data)?
            var unreadableModule: String?
            if case .localFile(let path) = JobSpecParser.moduleSource(in: text) {
                // From standard input, a relative module path is relative to the current directory.
                let base = file == "-" ? URL(fileURLWithPath: FileManager.default.currentDirectoryPath) : URL(fileURLWithPath: file).deletingLastPathComponent()
                let resolved = path.hasPrefix("/") ? path : base.appendingPathComponent(path).standardized.path
                if let bytes = FileManager.default.contents(atPath: resolved) {
                    module = (path, bytes)
                } else {
                    unreadableModule = resolved
                }
            }
            let placeholder = ModuleReference(digest: ContentDigest(rawValue: String(repeating: "0", count: 64))!)
            let checked = JobSpecParser.parse(text) { source in
                if case .localFile = source, unreadableModule != nil { return nil }
                return placeholder
            }
            if case .failure(let error) = checked {
                let problems = error.problems.map { problem in
                    guard problem.path == "engine.module", let unreadableModule else {
                        return APIProblem(path: problem.path, message: problem.message, hint: problem.hint)
                    }
                    return APIProblem(
                        path: problem.path, message: "cannot read the module file \(unreadableModule)",
                        hint: "a relative module path is resolved against the spec file's directory")
                }
                throw InsituClient.Failure(
                    status: nil, code: "invalid_spec",
                    message: "\(file == "-" ? "the spec on standard input" : file) has \(problems.count) problem\(problems.count == 1 ? "" : "s"); nothing was submitted",
                    problems: problems)
            }
            if dryRun {
                // Nothing is uploaded: the orchestrator takes the module on its digest.
                let digests = module.map { [$0.path: BlobStore.digest(of: $0.bytes)] } ?? [:]
                let plan = try await client.plan(SubmitJobRequest(spec: text, uploadedModules: digests))
                try Output.print(plan, format: options.output) { Self.describe(plan) }
                if !plan.placeable { throw ExitCode(Self.unplacedExitCode) }
                return
            }
            var uploaded: [String: ContentDigest] = [:]
            if let module {
                uploaded[module.path] = try await client.uploadModule(module.bytes).digest
            }
            let response = try await client.submit(
                SubmitJobRequest(spec: text, uploadedModules: uploaded), idempotencyKey: idempotencyKey)
            if !wait {
                try Output.print(response, format: options.output) {
                    "Job ID: \(response.jobID)\nState:  \(response.state)\n"
                }
                if response.state == .queued {
                    // Stored and waiting for a node; say why on stderr and exit 2, as Nomad does
                    // for placement failures, so scripts can tell it from a refused spec (1).
                    let reasons = (try? await client.job(response.jobID.rawValue).placementFailures) ?? [:]
                    Output.error(
                        "job \(response.jobID) is queued: no node can run it now; it waits until one can (or its queueTimeout passes)"
                            + reasons.keys.sorted().flatMap { reasons[$0] ?? [] }.map { "\n  " + $0 }.joined())
                    throw ExitCode(Self.unplacedExitCode)
                }
                return
            }
            let id = response.jobID.rawValue
            let live = options.output.isTable
            if live { Output.line("Job ID: \(id)") }
            let deadline = timeout.flatMap(SpecValues.parseDuration).map { ContinuousClock.now + .milliseconds($0) }
            var shown: Int64 = 0
            var summary: JobSummary
            while true {
                // A short long-poll: returns at once when the job ends, else after a second, to
                // show what happened meanwhile.
                summary = try await client.wait(id, timeoutSeconds: 1)
                if live {
                    for event in try await client.history(id) where event.sequence > shown {
                        shown = event.sequence
                        Output.line("  \(Output.clockTime(event.at))  \(event.message)")
                    }
                }
                if summary.state.isTerminal { break }
                if let deadline, ContinuousClock.now >= deadline {
                    Output.error(
                        "job \(id) is still \(summary.state) after \(timeout ?? ""); it keeps running: "
                            + "follow it with `insitu job describe \(id)` or stop it with `insitu job stop \(id)`")
                    throw ExitCode(124)
                }
            }
            try Output.print(summary, format: options.output) {
                "State:  \(summary.state)\n" + (summary.stateReason.map { "Reason: \($0)\n" } ?? "")
            }
            if summary.state != .completed {
                throw CLIFailure("job \(summary.id) \(summary.state): \(summary.stateReason ?? "no reason given")")
            }
        }

        /// The plan for people: where each execution would go, then every node's reason not to.
        static func describe(_ plan: JobPlanResponse) -> String {
            var text = plan.placeable
                ? "The job would be placed now (namespace \(plan.namespace)); nothing was submitted.\n"
                : "No node can run the job now: submitted, it would wait queued (namespace \(plan.namespace)); nothing was submitted.\n"
            if !plan.placements.isEmpty {
                text += "\n" + Output.table(
                    ["PARTITION", "NODE", "NODE ID"], plan.placements.map { ["\($0.partition)", $0.nodeName, $0.nodeID.rawValue] })
            }
            if !plan.unplacedPartitions.isEmpty {
                text += "\nPartitions no node can take: " + plan.unplacedPartitions.map(String.init).joined(separator: ", ") + "\n"
            }
            if !plan.placementFailures.isEmpty {
                text += "\nNodes that would not take it:\n"
                for node in plan.placementFailures.keys.sorted() {
                    for line in plan.placementFailures[node] ?? [] { text += "  \(line)\n" }
                }
            }
            return text
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @Option(help: "At most this many jobs (1 to 10000).") var limit = 100
        @Option(
            name: .customLong("state"),
            help: ArgumentHelp(
                "Only jobs in this state: \(JobState.allCases.map(\.rawValue).joined(separator: ", ")). Repeat the flag or separate states with commas.",
                valueName: "state"))
        var states: [String] = []
        @Option(help: "Only jobs whose name contains this text (case-sensitive).") var name: String?
        @Option(help: "Only jobs of this namespace (default: every namespace your token may read).") var namespace: String?
        @Option(help: "Show the page after a previous one: the token its `more jobs` hint printed.") var nextToken: String?
        @Flag(help: "Leave out the header row.") var noHeaders = false
        @OptionGroup var options: ClientOptions

        func validate() throws {
            try ListFlags.limit(limit)
            _ = try ListFlags.jobStates(states)
        }

        func run() async throws {
            let filter = JobListFilter(
                limit: limit, states: try ListFlags.jobStates(states), name: name, namespace: namespace, nextToken: nextToken)
            let page = try await options.client.jobs(filter)
            let jobs = page.items
            let now = Output.now()
            let wide = options.output == .wide
            try Output.print(jobs, format: options.output) {
                var header = ["ID", "NAME", "TYPE", "STATE", "EXECUTIONS", "AGE"]
                if wide { header += ["NAMESPACE", "NODES", "DURATION"] }
                return Output.table(
                    header,
                    jobs.map { job in
                        var row = [
                            job.id.rawValue, job.name, job.type.rawValue, job.state.rawValue,
                            job.executionCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                            Output.age(job.createdAt, now: now),
                        ]
                        if wide {
                            // A finished job's duration stops at its last change; a live one's runs on.
                            let end = job.state.isTerminal ? job.updatedAt : now
                            row += [
                                job.namespace ?? "default", (job.nodes ?? []).isEmpty ? "-" : (job.nodes ?? []).joined(separator: ","),
                                HumanDuration.text(milliseconds: end.milliseconds - job.createdAt.milliseconds),
                            ]
                        }
                        return row
                    }, headers: !noHeaders)
            }
            if let next = page.nextToken, options.output.isTable {
                FileHandle.standardError.write(Data("more jobs: --next-token \(next)\n".utf8))
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a job, its executions and why it is not placed.")
        @Argument(help: "Job ID, or enough of its start to name one job.") var id: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try options.client
            let detail = try await client.job(try await JobIDPrefix.resolve(id, client: client))
            try Output.print(detail, format: options.output) {
                var text = """
                    ID:      \(detail.job.id)
                    Name:    \(detail.job.spec.name)
                    Namespace: \(detail.job.spec.namespace)
                    Type:    \(detail.job.spec.type.rawValue)
                    State:   \(detail.job.state)\(detail.job.stateReason.map { " (\($0))" } ?? "")
                    Engine:  \(detail.job.spec.engine.kind.rawValue)
                    Timeout: \(detail.job.spec.timeoutMillis.map(Output.duration) ?? "cluster default")
                    Retry:   \(Output.describe(detail.job.spec.effectiveRetry))
                    Node loss: \(detail.job.spec.effectiveNodeLoss.action.rawValue) after \(Output.duration(detail.job.spec.effectiveNodeLoss.graceMillis))

                    """
                if !detail.placementFailures.isEmpty {
                    text += "\nPlacement failures (why nodes were rejected):\n"
                    for node in detail.placementFailures.keys.sorted() {
                        for line in detail.placementFailures[node] ?? [] { text += "  \(line)\n" }
                    }
                }
                text += "\nExecutions\n"
                let now = Output.now()
                text += Output.table(
                    ["ID", "PARTITION", "ATTEMPT", "NODE", "STATE", "EXIT", "DURATION", "REASON"],
                    detail.executions.map {
                        // How long it ran: to its last change once it ended, to now while it runs.
                        let end = $0.state.isTerminal ? $0.updatedAt : now
                        let (elapsed, overflow) = end.milliseconds.subtractingReportingOverflow($0.createdAt.milliseconds)
                        return [
                            $0.id.rawValue, "\($0.partition)", "\($0.attempt)", detail.nodeNames?[$0.nodeID.rawValue] ?? $0.nodeID.rawValue,
                            $0.state.rawValue, $0.exitCode.map { "\($0)" } ?? "-", overflow ? "-" : HumanDuration.text(milliseconds: elapsed),
                            $0.stateReason ?? "",
                        ]
                    })
                return text
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a job's stdout/stderr.",
            discussion: """
                When the job runs more than one execution (every ops job, batch jobs of several partitions, retried jobs), \
                each line starts with the node's name and the partition, `lyon-1/0 | `, and `#N` for the Nth attempt; \
                --no-prefix leaves that out. Lines of stderr go to stderr.
                """)
        @Argument(help: "Job ID, or enough of its start to name one job.") var id: String
        @Flag(name: [.short, .long], help: "Keep printing new output until the job finishes.") var follow = false
        @Flag(help: "Prefix each chunk with its execution and stream.") var verbose = false
        @Option(help: "Only the last N lines of the job (all its executions together, as they arrived); with -f, then follow.")
        var tail: Int?
        @Option(help: ArgumentHelp("Only lines written in the last DURATION before now, e.g. 90s, 10m, 2h.", valueName: "duration"))
        var since: String?
        @Flag(help: "Start each line with the time it arrived at the orchestrator (RFC 3339, UTC).") var timestamps = false
        @Flag(help: "Never start lines with their node and partition.") var noPrefix = false
        @Option(
            name: [.short, .long],
            help: ArgumentHelp(
                "text, or json: one JSON object per line (time, execution, node, nodeID, partition, attempt, stream, text), "
                    + "also with -f."))
        var output: LogOutputFormat = .text
        @Option(name: .long, help: "Orchestrator API address (default: $INSITU_API or http://127.0.0.1:4646).") var api: String?
        @Option(name: .long, help: "API token (default: $INSITU_TOKEN).") var token: String?
        @Option(name: .long, help: "PEM file of the CA to trust for https (default: $INSITU_CA_CERT).") var caCert: String?
        @Option(name: .long, help: "Use this context of `insitu login` instead of the current one (default: $INSITU_CONTEXT).")
        var context: String?

        static let maxTail = 1_000_000

        func validate() throws {
            if let tail, !(0...Self.maxTail).contains(tail) {
                throw ValidationError("--tail \(tail) is out of range: give 0 to \(Self.maxTail) lines")
            }
            if let since, (SpecValues.parseDuration(since) ?? 0) <= 0 {
                throw ValidationError("--since \(since) is not a duration such as 90s, 10m or 2h")
            }
        }

        func run() async throws {
            let client = try makeClient(api: api, token: token, caCert: caCert, context: context)
            let id = try await JobIDPrefix.resolve(id, client: client)
            var sources = LogSources(try await client.job(id))
            let prefixed = !noPrefix && output == .text && sources.prefixes
            let byLine = prefixed || timestamps || output == .json || tail != nil || since != nil
            let cutoff = since.flatMap(SpecValues.parseDuration).map { Output.now().milliseconds - $0 }
            var splitter = LogLineSplitter()
            // With --tail, the lines already stored are held back until all of them are read.
            var held: [LogLineSplitter.Line]? = tail == nil ? nil : []
            var after: Int64 = 0
            func emit(_ line: LogLineSplitter.Line) {
                if let cutoff, line.at.milliseconds < cutoff { return }
                if held != nil, let tail {
                    held!.append(line)
                    if held!.count > 2 * tail + 64 { held!.removeFirst(held!.count - tail) }
                    return
                }
                show(line, sources: sources, prefixed: prefixed)
            }
            while true {
                let page = try await client.logs(id, after: after)
                for entry in page.entries {
                    after = entry.sequence
                    guard byLine else {
                        // As the node sent it, byte for byte. The prefix goes to the stream its
                        // text goes to, so `2>/dev/null` drops both.
                        let prefix = verbose ? "[\(entry.executionID) \(entry.stream)] " : ""
                        if entry.stream == "stderr" {
                            FileHandle.standardError.write(Data((prefix + entry.text).utf8))
                        } else {
                            print(prefix + entry.text, terminator: "")
                        }
                        continue
                    }
                    if !sources.knows(entry.executionID) { sources = LogSources(try await client.job(id)) }
                    splitter.feed(entry).forEach(emit)
                }
                // Pages are bounded in bytes: without --follow, read on until one comes back empty.
                if page.entries.isEmpty {
                    let done = !follow || page.jobState.isTerminal
                    if done { splitter.flush().forEach(emit) }
                    if let lines = held, let tail {
                        held = nil
                        lines.suffix(tail).forEach(emit)
                    }
                    if done { break }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
        }

        private func show(_ line: LogLineSplitter.Line, sources: LogSources, prefixed: Bool) {
            let source = sources.source(of: line.executionID)
            if output == .json {
                let record = LogLineRecord(
                    time: Output.preciseTime(line.at), execution: line.executionID.rawValue, node: source?.nodeName,
                    nodeID: source?.nodeID, partition: source?.partition, attempt: source?.attempt, stream: line.stream, text: line.text,
                    partial: line.terminated ? nil : true)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let data = (try? encoder.encode(record)) ?? Data()
                FileHandle.standardOutput.write(data + Data("\n".utf8))
                return
            }
            var prefix = ""
            if prefixed {
                let label = source?.label ?? line.executionID.rawValue
                prefix += label.padding(toLength: max(sources.labelWidth, label.count), withPad: " ", startingAt: 0) + " | "
            }
            if timestamps { prefix += Output.preciseTime(line.at) + " " }
            if verbose { prefix += "[\(line.executionID) \(line.stream)] " }
            let text = Data((prefix + line.text + (line.terminated ? "\n" : "")).utf8)
            (line.stream == "stderr" ? FileHandle.standardError : FileHandle.standardOutput).write(text)
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a job and cancel its executions.")
        @Argument(help: "Job ID, or enough of its start to name one job.") var id: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try options.client
            let summary = try await client.stop(try await JobIDPrefix.resolve(id, client: client))
            try Output.print(summary, format: options.output) { "Job \(summary.id) \(summary.state)\n" }
        }
    }

    struct Results: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a job's results.",
            discussion: """
                One folder per partition: partition-N for batch jobs, the node's name for ops jobs. A partition whose \
                execution failed gets that execution's stdout and stderr from its logs. Exits non-zero when the job failed.
                """)
        @Argument(help: "Job ID, or enough of its start to name one job.") var id: String
        @Option(help: "Folder to write results into (default: ./<job name>-<first 8 characters of the job ID>).") var dest: String?
        @Flag(name: [.long, .customLong("overwrite")], help: "Write into --dest even if it exists and is not empty.") var force = false
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try options.client
            let id = try await JobIDPrefix.resolve(id, client: client)
            let detail = try await client.job(id)
            let dest = dest ?? ResultFolder.defaultName(jobName: detail.job.spec.name, id: id)
            let results = try await client.results(id)
            let accepted = Dictionary(results.map { ($0.partition, $0) }, uniquingKeysWith: { first, _ in first })
            // Each partition's last attempt, for partitions without a result.
            var latest: [Int: Execution] = [:]
            for execution in detail.executions where execution.attempt >= (latest[execution.partition]?.attempt ?? 0) {
                latest[execution.partition] = execution
            }
            let failed = latest.values.filter { accepted[$0.partition] == nil && ($0.state == .failed || $0.state == .lost) }
                .sorted { $0.partition < $1.partition }
            var nodeOfPartition: [Int: String] = [:]
            for (partition, execution) in latest { nodeOfPartition[partition] = execution.nodeID.rawValue }
            for result in results { nodeOfPartition[result.partition] = result.nodeID.rawValue }
            let folders = ResultFolder.partitionFolders(
                type: detail.job.spec.type, nodeNames: nodeOfPartition.mapValues { detail.nodeNames?[$0] ?? $0 })

            let folder = try ResultFolder(path: dest, force: force)
            defer { folder.finish() }
            var written = 0
            var refused: [String] = []
            for result in results.sorted(by: { $0.partition < $1.partition }) {
                let partitionFolder = folders[result.partition] ?? "partition-\(result.partition)"
                for file in result.files {
                    // The orchestrator refuses such paths since issue 5; older state may hold them.
                    if let problem = ResultPath.problem(file.path) {
                        refused.append("partition \(result.partition): \(file.path.debugDescription): \(problem)")
                        continue
                    }
                    try folder.store(try await client.resultFile(job: id, digest: file.digest), at: partitionFolder + "/" + file.path)
                    written += 1
                }
            }
            if !failed.isEmpty {
                // What the failed executions printed: they left no result, but their logs say why.
                var output: [ExecutionID: [String: Data]] = [:]
                let wanted = Set(failed.map(\.id))
                var after: Int64 = 0
                while true {
                    let page = try await client.logs(id, after: after)
                    if page.entries.isEmpty { break }
                    for entry in page.entries {
                        after = entry.sequence
                        guard wanted.contains(entry.executionID) else { continue }
                        output[entry.executionID, default: [:]][entry.stream, default: Data()].append(Data(entry.text.utf8))
                    }
                }
                for execution in failed {
                    let partitionFolder = folders[execution.partition] ?? "partition-\(execution.partition)"
                    for stream in ["stdout", "stderr"] {
                        try folder.store(output[execution.id]?[stream] ?? Data(), at: partitionFolder + "/" + stream)
                        written += 1
                    }
                }
            }
            try Output.print(results, format: options.output) {
                var rows = results.sorted { $0.partition < $1.partition }.map { result in
                    [
                        "\(result.partition)", detail.nodeNames?[result.nodeID.rawValue] ?? result.nodeID.rawValue,
                        (folders[result.partition] ?? "") + "/", "\(result.files.count)", "result",
                    ]
                }
                rows += failed.map { execution in
                    [
                        "\(execution.partition)", detail.nodeNames?[execution.nodeID.rawValue] ?? execution.nodeID.rawValue,
                        (folders[execution.partition] ?? "") + "/", "2", "\(execution.state): stdout and stderr from its logs",
                    ]
                }
                return Output.table(["PARTITION", "NODE", "FOLDER", "FILES", "WHAT"], rows) + "Wrote \(written) file(s) under \(dest)\n"
            }
            guard refused.isEmpty else {
                throw CLIFailure("refused \(refused.count) result path(s) that would leave \(dest):\n  " + refused.joined(separator: "\n  "))
            }
            if detail.job.state == .failed {
                let reason = detail.job.stateReason.map { " (\($0))" } ?? ""
                let location = failed.isEmpty
                    ? "none of its executions left output to keep"
                    : "the stdout and stderr of its \(failed.count) failed execution(s) are in "
                        + failed.map { "\(dest)/\(folders[$0.partition] ?? "partition-\($0.partition)")/" }.joined(separator: ", ")
                throw CLIFailure("job \(id) failed\(reason); \(location)")
            }
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every state change of a job, in order.")
        @Argument(help: "Job ID, or enough of its start to name one job.") var id: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try options.client
            let events = try await client.history(try await JobIDPrefix.resolve(id, client: client))
            try Output.print(events, format: options.output) {
                Output.table(
                    ["SEQ", "TIME", "KIND", "MESSAGE"],
                    events.map { ["\($0.sequence)", Output.time($0.at), $0.kind.rawValue, $0.message] })
            }
        }
    }
}

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Inspect compute nodes and manage who may join.",
        subcommands: [
            List.self, Describe.self, NodeDrainCommand.self, NodeDeleteCommand.self, JoinTokenCommand.self, NodeIdentitiesCommand.self, NodeApproveCommand.self, NodeRejectCommand.self,
            NodeRevokeCommand.self,
        ])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List known nodes, by name.")
        @Option(
            name: .customLong("status"),
            help: ArgumentHelp(
                "Only nodes with this status: \(NodeLiveness.allCases.map(\.rawValue).joined(separator: ", ")). Repeat the flag or separate them with commas.",
                valueName: "status"))
        var statuses: [String] = []
        @Option(help: "Only nodes whose name contains this text (case-sensitive).") var name: String?
        @Option(
            name: .customLong("label"),
            help: ArgumentHelp(
                "Only nodes with this label, as key=value. Repeatable: a node must carry every one.", valueName: "key=value"))
        var labels: [String] = []
        @Option(help: "At most this many nodes (1 to 10000; default: all).") var limit: Int?
        @Option(help: "Show the page after a previous one: the token its `more nodes` hint printed.") var nextToken: String?
        @Flag(help: "Leave out the header row.") var noHeaders = false
        @OptionGroup var options: ClientOptions

        func validate() throws {
            if let limit { try ListFlags.limit(limit) }
            _ = try ListFlags.nodeStatuses(statuses)
            _ = try ListFlags.labels(labels)
        }

        func run() async throws {
            let filter = NodeListFilter(
                statuses: try ListFlags.nodeStatuses(statuses), name: name, labels: try ListFlags.labels(labels), limit: limit,
                nextToken: nextToken)
            let page = try await options.client.nodes(filter)
            let nodes = page.items
            let now = Output.now()
            let wide = options.output == .wide
            try Output.print(nodes, format: options.output) {
                var header = ["ID", "NAME", "STATUS", "DATASETS", "ENGINES", "ALLOCATED", "LABELS"]
                if wide { header += ["VERSION", "WASM RUNTIME", "ACTIVE", "LAST SEEN", "AUDIT HEAD"] }
                return Output.table(
                    header,
                    nodes.map { node in
                        var row = [
                            node.id.rawValue, node.name, node.liveness.rawValue + (node.draining == true ? ",draining" : ""),
                            node.datasets.map(\.name).joined(separator: ","),
                            node.engines.map(\.rawValue).joined(separator: ","),
                            "\(node.allocated.cpuMillis)m/\(node.resources.cpuMillis)m",
                            node.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                        ]
                        if wide {
                            row += [
                                node.version, node.wasmRuntime ?? "-", "\(node.activeExecutions)", Output.age(node.lastSeen, now: now),
                                node.auditHead.map { "\($0.seq)/\($0.hash.prefix(12))" } ?? "-",
                            ]
                        }
                        return row
                    }, headers: !noHeaders)
            }
            if let next = page.nextToken, options.output.isTable {
                FileHandle.standardError.write(Data("more nodes: --next-token \(next)\n".utf8))
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one node.")
        @Argument(help: "Node ID or name.") var id: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let node = try await options.client.node(id)
            try Output.print(node, format: options.output) {
                """
                ID:        \(node.id)
                Name:      \(node.name)
                Status:    \(node.liveness.rawValue)\(node.draining == true ? ", draining (no new work: insitu node drain --disable lifts it)" : "")
                Version:   \(node.version)
                Resources: \(node.resources) (allocated \(node.allocated), \(node.activeExecutions) active executions)
                Engines:   \(node.engines.map { $0 == .wasm ? "wasm" + (node.wasmRuntime.map { " (\($0))" } ?? "") : $0.rawValue }.joined(separator: ", "))
                Labels:    \(node.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
                Policy:    \(node.policyDigest ?? "none advertised")
                Audit:     \(node.auditHead.map { "head entry \($0.seq), sha256 \($0.hash)" } ?? "no head reported")\(node.auditAlert.map { "\n  ALERT: \($0)" } ?? "")
                Datasets:
                \(node.datasets.map { "  \($0.name)\($0.description.map { ": \($0)" } ?? "")" }.joined(separator: "\n"))

                """
            }
        }
    }
}
