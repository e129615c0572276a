import InsituModel
import InsituSimulation

/// A large synthetic cluster shaped like a compute-over-data deployment: every dataset lives on a
/// few nodes, nodes carry region/site labels, all run WebAssembly and half also native processes,
/// about 4% are down and most are partly loaded.
struct SyntheticCluster {
    static let regions = ["eu", "us", "ap"]

    let nodes: [NodeStatus]
    let datasetCount: Int

    /// `nodeCount` nodes; each holds `datasetsPerNode` of `nodeCount * datasetsPerNode / holders`
    /// datasets, so each dataset is held by about `holders` nodes.
    init(nodeCount: Int, datasetsPerNode: Int = 2, holders: Int = 4, seed: UInt64 = 1) {
        // Seeded, so every run of the benchmark plans against the same cluster.
        var random = SeededRandom(seed: seed)
        let datasetCount = max(1, nodeCount * datasetsPerNode / holders)
        self.datasetCount = datasetCount
        let gibibyte: Int64 = 1 << 30
        nodes = (0..<nodeCount).map { index in
            let id = NodeID(Self.padded("node", index, width: 5))
            var labels: Labels = [
                "region": Self.regions[index % Self.regions.count],
                "site": "site-\(index % 100)",
            ]
            if index % 10 == 0 { labels["gpu"] = "true" }
            // Node i holds datasets i*k ..< i*k + k (mod the dataset count): distinct on each node,
            // and each dataset on `holders` nodes spread over the whole ID range.
            let datasets = (0..<datasetsPerNode).map { slot in
                DatasetInfo(name: Self.datasetName((index * datasetsPerNode + slot) % datasetCount))
            }
            let cpu = [4000, 8000, 16000].randomElement(using: &random)!
            let memory = [8, 16, 64].randomElement(using: &random)! * gibibyte
            let info = NodeInfo(
                id: id, name: "host-\(index)", labels: labels, resources: Resources(cpuMillis: cpu, memoryBytes: memory),
                datasets: datasets, engines: index % 2 == 0 ? [.wasm, .process] : [.wasm])
            let allocated = Resources(
                cpuMillis: Int.random(in: 0...(cpu / 2), using: &random),
                memoryBytes: Int64.random(in: 0...(memory / 2), using: &random))
            return NodeStatus(
                info: info, liveness: index % 23 == 7 ? .disconnected : .connected, allocated: allocated,
                activeExecutions: Int.random(in: 0...8, using: &random), lastSeen: Timestamp(milliseconds: 0))
        }
    }

    static func datasetName(_ index: Int) -> String { padded("ds", index, width: 5) }

    private static func padded(_ prefix: String, _ number: Int, width: Int) -> String {
        let digits = String(number)
        return prefix + "-" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
