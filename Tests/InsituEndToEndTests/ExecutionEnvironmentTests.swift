import Foundation
import InsituAPI
import InsituLocalCluster
import InsituModel
import Testing

/// What a job learns from the node it runs on, and what it must not learn, on real processes.
@Suite struct ExecutionEnvironmentTests {
    /// The demo module names its site from `INSITU_LABEL_SITE`, which each node sets from its own
    /// `site` label: two nodes, two different names, without the job saying which.
    @Test func eachNodeTellsTheJobItsSiteLabel() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        for (index, site) in ["north", "south"].enumerated() {
            let data = "\(e2e.root)/\(site)/patients"
            _ = try SyntheticPatients(site: site, rows: 20, seed: UInt64(index + 1)).write(to: data)
            try e2e.cluster.startAgent(name: "node-\(site)", labels: ["site": site], datasets: ["patients": data])
        }
        try await e2e.cluster.waitForNodes(2)
        let spec = try e2e.specFile(
            "sites",
            """
            version: v1
            name: sites
            type: ops
            inputs: [{dataset: patients, target: /data}]
            engine: {type: wasm, module: \(E2E.demoModule)}
            outputs: [{name: counts, path: /outputs}]
            """)
        let id = try e2e.submit(spec)
        let detail = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(detail.job.state == .completed, "\(detail.job.stateReason ?? "")")

        var sites: [String: String] = [:]
        for result in try await e2e.cluster.client.results(id) {
            let file = try #require(result.files.first { $0.path == "outputs/counts/counts.json" })
            let report = try JSONDecoder().decode([String: AnyDecodable].self, from: try await e2e.cluster.client.blob(file.digest))
            sites[result.nodeID.rawValue] = report["site"]?.text
        }
        #expect(sites[try await e2e.nodeID(named: "node-north").rawValue] == "north")
        #expect(sites[try await e2e.nodeID(named: "node-south").rawValue] == "south")
    }

    /// A dataset whose directory went missing after the agent started fails the execution with the mount and the
    /// dataset's name, never the directory's path on the node (which the wasm runtime's own
    /// error used to carry to the orchestrator).
    @Test func aMissingDatasetDirectoryIsNamedByItsMountNotItsPath() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let secret = "\(e2e.root)/hidden-volume/patients"
        try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
        try e2e.cluster.startAgent(name: "site", datasets: ["patients": secret])
        try await e2e.cluster.waitForNodes(1)
        // The agent checks its datasets at start; this one goes missing afterwards (an unmounted
        // volume, a deleted directory).
        try FileManager.default.removeItem(atPath: secret)
        let spec = try e2e.specFile(
            "missing",
            """
            version: v1
            name: missing
            inputs: [{dataset: patients, target: /data}]
            engine: {type: wasm, module: \(E2E.demoModule)}
            retry: {attempts: 1}
            """)
        let id = try e2e.submit(spec)
        let detail = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(detail.job.state == .failed)
        let reason = try #require(detail.executions.first?.stateReason)
        #expect(reason.contains("dataset \"patients\" (for /data) is not available on node site"), "\(reason)")
        #expect(!reason.contains("hidden-volume") && !reason.contains(e2e.root), "\(reason)")
    }
}

/// Just enough JSON to read one string field of a result.
private struct AnyDecodable: Decodable {
    var text: String?
    init(from decoder: any Decoder) throws {
        text = try? decoder.singleValueContainer().decode(String.self)
    }
}
