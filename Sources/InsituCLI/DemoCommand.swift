import ArgumentParser
import InsituOwnExecutable
import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel

/// Brings up a real local cluster (an orchestrator and three compute nodes, each a separate
/// process holding its own synthetic hospital dataset), runs a WebAssembly job on every site
/// that counts patients per condition, and prints each site's counts and the combined total.
/// Raw rows never leave a node: only the per-site counts come back.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run the three-hospital demo on a local cluster of real processes.")
    @Option(help: "Working directory for the demo's state (wiped first).") var dir = "./demo-data"
    @Option(help: "The demo's WebAssembly module.") var module = "examples/count-conditions/count_conditions.wasm"
    @Flag(help: "Leave the cluster running after the demo (stop it with Ctrl-C).") var keepRunning = false

    func run() async throws {
        let root = URL(fileURLWithPath: dir).standardized.path
        let modulePath = URL(fileURLWithPath: module).standardized.path
        guard FileManager.default.fileExists(atPath: modulePath) else {
            throw CLIFailure("demo module not found at \(modulePath): run from the repository root or pass --module")
        }
        try? FileManager.default.removeItem(atPath: root)
        let executable = OwnExecutable.path
        let cluster = try LocalCluster(executable: executable, root: root)
        defer { if !keepRunning { cluster.stopAll() } }
        let stopOnSignal = ChildrenStopper(cluster: cluster)
        defer { withExtendedLifetime(stopOnSignal) {} }

        print("Starting orchestrator...")
        try await cluster.startOrchestrator()
        let sites = [("hospital-a", 1200, "eu"), ("hospital-b", 2500, "eu"), ("hospital-c", 800, "us")]
        var expected: [String: [String: Int]] = [:]
        for (index, (site, rows, region)) in sites.enumerated() {
            let data = "\(root)/sites/\(site)/patients"
            expected[site] = try SyntheticPatients(site: site, rows: rows, seed: UInt64(index + 1)).write(to: data)
            try cluster.startAgent(name: site, labels: ["site": site, "region": region], datasets: ["patients": data])
            print("Started compute node \(site): \(rows) patients in \(data)/patients.csv (never leaves the node)")
        }
        try await cluster.waitForNodes(sites.count)

        let spec = """
            version: v1
            name: count-conditions
            type: ops
            inputs:
              - dataset: patients
                target: /data
            engine:
              type: wasm
              module: \(modulePath)
              memory: 32Mi
            outputs:
              - name: counts
                path: /outputs
            timeout: 60s
            """
        let client = cluster.client
        let digest = try await client.uploadModule(try Data(contentsOf: URL(fileURLWithPath: modulePath))).digest
        let submitted = try await client.submit(SubmitJobRequest(spec: spec, uploadedModules: [modulePath: digest]))
        print("Submitted job \(submitted.jobID) (ops: one execution on every node holding \"patients\")")
        var summary = try await client.wait(submitted.jobID.rawValue, timeoutSeconds: 60)
        while !summary.state.isTerminal { summary = try await client.wait(submitted.jobID.rawValue, timeoutSeconds: 60) }
        guard summary.state == .completed else {
            throw CLIFailure("demo job \(summary.state): \(summary.stateReason ?? "")\nlogs: \(root)/logs")
        }

        let nodes = try await client.nodes()
        let names = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.name) })
        var total: [String: Int] = [:]
        print("\nPer-site counts (computed where the data lives):")
        for result in try await client.results(submitted.jobID.rawValue).sorted(by: { names[$0.nodeID] ?? "" < names[$1.nodeID] ?? "" }) {
            guard let file = result.files.first(where: { $0.path == "outputs/counts/counts.json" }) else {
                throw CLIFailure("execution \(result.executionID) returned no outputs/counts/counts.json")
            }
            let report = try JSONDecoder().decode(SiteCounts.self, from: try await client.blob(file.digest))
            let site = names[result.nodeID] ?? result.nodeID.rawValue
            print("  \(site): \(report.rows) patients  " + report.counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            if report.site != site {
                // The node's `site` label reaches the job as INSITU_LABEL_SITE.
                throw CLIFailure("node \(site) ran the job as site \(report.site ?? "nil"): its site label did not reach the job")
            }
            if report.counts != expected[site] {
                throw CLIFailure("site \(site) reported \(report.counts), but its data holds \(expected[site] ?? [:])")
            }
            for (condition, count) in report.counts { total[condition, default: 0] += count }
        }
        print("\nCombined total across \(sites.count) sites: \(total.values.reduce(0, +)) patients")
        for (condition, count) in total.sorted(by: { $0.key < $1.key }) {
            print("  \(condition.padding(toLength: 14, withPad: " ", startingAt: 0)) \(count)")
        }
        print("\nOnly these aggregates left the nodes. Job history: insitu job history \(submitted.jobID) --api \(cluster.apiURL)")
        if keepRunning {
            print("Cluster still running at \(cluster.apiURL); press Ctrl-C to stop.")
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    }

    struct SiteCounts: Decodable {
        var site: String?
        var rows: Int
        var counts: [String: Int]
    }
}

/// Stops the demo's processes when the demo is asked to stop (SIGTERM, SIGINT), then exits as the
/// signal would have: the default action kills only the demo, and its orchestrator and nodes
/// would run on as orphans. (The children inherit the ignored disposition, as the daemons set it
/// themselves for the same signals, which they handle through ServiceLifecycle.)
final class ChildrenStopper {
    private let sources: [any DispatchSourceSignal]

    init(cluster: LocalCluster) {
        sources = [SIGTERM, SIGINT].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                cluster.stopAll(signal: SIGTERM)
                exit(128 + signalNumber)
            }
            source.resume()
            return source
        }
    }
}
