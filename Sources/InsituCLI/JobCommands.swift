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
            let live = options.output == .table
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
        @Option(help: "At most this many jobs.") var limit = 100
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let jobs = try await options.client.jobs(limit: limit)
            try Output.print(jobs, format: options.output) {
                Output.table(
                    ["ID", "NAME", "TYPE", "STATE", "EXECUTIONS", "SUBMITTED"],
                    jobs.map { job in
                        [
                            job.id.rawValue, job.name, job.type.rawValue, job.state.rawValue,
                            job.executionCounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                            Output.time(job.createdAt),
                        ]
                    })
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
                text += Output.table(
                    ["ID", "PARTITION", "ATTEMPT", "NODE", "STATE", "EXIT", "REASON"],
                    detail.executions.map {
                        [
                            $0.id.rawValue, "\($0.partition)", "\($0.attempt)", $0.nodeID.rawValue, $0.state.rawValue,
                            $0.exitCode.map { "\($0)" } ?? "-", $0.stateReason ?? "",
                        ]
                    })
                return text
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a job's stdout/stderr.")
        @Argument(help: "Job ID, or enough of its start to name one job.") var id: String
        @Flag(name: [.short, .long], help: "Keep printing new output until the job finishes.") var follow = false
        @Flag(help: "Prefix each chunk with its execution and stream.") var verbose = false
        @Option(name: .long, help: "Orchestrator API address (default: $INSITU_API or http://127.0.0.1:4646).") var api: String?
        @Option(name: .long, help: "API token (default: $INSITU_TOKEN).") var token: String?
        @Option(name: .long, help: "PEM file of the CA to trust for https (default: $INSITU_CA_CERT).") var caCert: String?

        func run() async throws {
            let client = try makeClient(api: api, token: token, caCert: caCert)
            let id = try await JobIDPrefix.resolve(id, client: client)
            var after: Int64 = 0
            while true {
                let page = try await client.logs(id, after: after)
                for entry in page.entries {
                    // The prefix goes to the stream its text goes to, so `2>/dev/null` drops both.
                    let prefix = verbose ? "[\(entry.executionID) \(entry.stream)] " : ""
                    if entry.stream == "stderr" {
                        FileHandle.standardError.write(Data((prefix + entry.text).utf8))
                    } else {
                        print(prefix + entry.text, terminator: "")
                    }
                    after = entry.sequence
                }
                // Pages are bounded in bytes: without --follow, read on until one comes back empty.
                if page.entries.isEmpty {
                    if !follow || page.jobState.isTerminal { break }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
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
        static let configuration = CommandConfiguration(abstract: "Download a job's results.")
        @Argument(help: "Job ID, or enough of its start to name one job.") var id: String
        @Option(help: "Directory to write results into (one folder per partition).") var dest: String
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let client = try options.client
            let id = try await JobIDPrefix.resolve(id, client: client)
            let results = try await client.results(id)
            var written: [String] = []
            var refused: [String] = []
            for result in results.sorted(by: { $0.partition < $1.partition }) {
                for file in result.files {
                    let path = "\(dest)/partition-\(result.partition)/\(file.path)"
                    // The orchestrator refuses such paths since issue 5; older state may hold them.
                    if let problem = ResultPath.problem(file.path) {
                        refused.append("partition \(result.partition): \(file.path.debugDescription): \(problem)")
                        continue
                    }
                    let bytes = try await client.resultFile(job: id, digest: file.digest)
                    try FileManager.default.createDirectory(
                        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try bytes.write(to: URL(fileURLWithPath: path))
                    written.append(path)
                }
            }
            try Output.print(results, format: options.output) {
                Output.table(
                    ["PARTITION", "NODE", "FILES"],
                    results.map { ["\($0.partition)", $0.nodeID.rawValue, "\($0.files.count)"] })
                    + "Wrote \(written.count) file(s) under \(dest)\n"
            }
            guard refused.isEmpty else {
                throw CLIFailure("refused \(refused.count) result path(s) that would leave \(dest):\n  " + refused.joined(separator: "\n  "))
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
        static let configuration = CommandConfiguration(abstract: "List known nodes.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let nodes = try await options.client.nodes()
            try Output.print(nodes, format: options.output) {
                Output.table(
                    ["ID", "NAME", "STATUS", "DATASETS", "ENGINES", "ALLOCATED", "LABELS"],
                    nodes.map { node in
                        [
                            node.id.rawValue, node.name, node.liveness.rawValue + (node.draining == true ? ",draining" : ""),
                            node.datasets.map(\.name).joined(separator: ","),
                            node.engines.map(\.rawValue).joined(separator: ","),
                            "\(node.allocated.cpuMillis)m/\(node.resources.cpuMillis)m",
                            node.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                        ]
                    })
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
