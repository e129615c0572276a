import Foundation
import InsituModel
import Testing

@Suite struct NodeInfoValidationTests {
    static let valid = NodeInfo(
        id: "node-1", name: "site-a", labels: ["region": "eu"], resources: Resources(cpuMillis: 4000, memoryBytes: 8 << 30),
        datasets: [DatasetInfo(name: "patients", description: "synthetic", labels: ["kind": "csv"])])

    static func with(_ change: (inout NodeInfo) -> Void) -> NodeInfo {
        var info = valid
        change(&info)
        return info
    }

    @Test func anOrdinaryNodeIsAccepted() {
        #expect(Self.valid.validationProblem() == nil)
        #expect(Self.with { $0.resources = .zero }.validationProblem() == nil, "a node may offer nothing")
        #expect(
            Self.with { $0.resources = Resources(cpuMillis: NodeInfoLimits.maxCPUMillis, memoryBytes: NodeInfoLimits.maxMemoryBytes) }
                .validationProblem() == nil, "the limits themselves are allowed")
    }

    @Test(arguments: [
        (Int.min, "resources.cpuMillis"), (-1, "resources.cpuMillis"), (NodeInfoLimits.maxCPUMillis + 1, "resources.cpuMillis"),
        (Int.max, "resources.cpuMillis"),
    ])
    func hostileCPUIsRefusedNamingTheField(cpu: Int, field: String) {
        let problem = Self.with { $0.resources.cpuMillis = cpu }.validationProblem()
        #expect(problem?.field == field)
        #expect(problem?.description.contains("\(cpu)") == true)
    }

    @Test(arguments: [Int64.min, -1, NodeInfoLimits.maxMemoryBytes + 1, Int64.max])
    func hostileMemoryIsRefusedNamingTheField(memory: Int64) {
        #expect(Self.with { $0.resources.memoryBytes = memory }.validationProblem()?.field == "resources.memoryBytes")
    }

    @Test func identifiersMustBeNonEmptyBoundedAndPrintable() {
        #expect(Self.with { $0.id = "" }.validationProblem()?.field == "id")
        #expect(Self.with { $0.id = NodeID(String(repeating: "x", count: 129)) }.validationProblem()?.field == "id")
        #expect(Self.with { $0.name = "" }.validationProblem()?.field == "name")
        #expect(Self.with { $0.name = "evil\u{1B}[2J" }.validationProblem()?.field == "name")
        #expect(Self.with { $0.version = String(repeating: "v", count: 65) }.validationProblem()?.field == "version")
    }

    @Test func labelAndDatasetCountsAndSizesAreBounded() {
        let many = Dictionary(uniqueKeysWithValues: (0...NodeInfoLimits.maxLabels).map { ("k\($0)", "v") })
        #expect(Self.with { $0.labels = many }.validationProblem()?.field == "labels")
        #expect(Self.with { $0.labels = ["region": String(repeating: "x", count: 257)] }.validationProblem()?.field == "labels.region")
        #expect(Self.with { $0.labels = ["": "x"] }.validationProblem()?.field == "labels key")
        let datasets = (0...NodeInfoLimits.maxDatasets).map { DatasetInfo(name: "d\($0)") }
        #expect(Self.with { $0.datasets = datasets }.validationProblem()?.field == "datasets")
        #expect(Self.with { $0.datasets = [DatasetInfo(name: "")] }.validationProblem()?.field == "datasets[0].name")
        #expect(
            Self.with { $0.datasets = [DatasetInfo(name: "a"), DatasetInfo(name: "a")] }.validationProblem()?.field == "datasets[1].name")
        #expect(
            Self.with { $0.datasets = [DatasetInfo(name: "a", description: String(repeating: "x", count: 1025))] }
                .validationProblem()?.field == "datasets[0].description")
        #expect(
            Self.with { $0.datasets = [DatasetInfo(name: "a", labels: ["k": "\u{0}"])] }.validationProblem()?.field
                == "datasets[0].labels.k")
        #expect(Self.with { $0.engines = Array(repeating: .wasm, count: 9) }.validationProblem()?.field == "engines")
    }
}

@Suite struct ResourcesArithmeticTests {
    @Test func sumsAndDifferencesSaturateInsteadOfTrapping() {
        let huge = Resources(cpuMillis: .max, memoryBytes: .max)
        let hostile = Resources(cpuMillis: .min, memoryBytes: .min)
        #expect(huge + huge == huge)
        #expect(hostile + hostile == hostile)
        #expect(hostile - huge == hostile)
        #expect(huge - hostile == huge)
        #expect(Resources.zero - hostile == huge)
        var total = huge
        total += Resources(cpuMillis: 1, memoryBytes: 1)
        #expect(total == huge)
        total -= hostile
        #expect(total == huge)
    }

    @Test func ordinaryArithmeticIsExact() {
        let a = Resources(cpuMillis: 1500, memoryBytes: 3 << 30)
        let b = Resources(cpuMillis: 500, memoryBytes: 1 << 30)
        #expect(a + b == Resources(cpuMillis: 2000, memoryBytes: 4 << 30))
        #expect(a - b == Resources(cpuMillis: 1000, memoryBytes: 2 << 30))
        #expect(b - a == Resources(cpuMillis: -1000, memoryBytes: -(2 << 30)))
    }
}

/// Issue 8, item 4: a node's advertised policy is bounded like the rest of its hello.
extension NodeInfoValidationTests {
    @Test func anOversizedPolicyIsRefused() {
        #expect(Self.with { $0.policy = NodePolicy(datasets: ["patients": .init(namespaces: ["clinical"])]) }.validationProblem() == nil)
        let tooManyModules = (0...NodePolicyLimits.maxModulesPerDataset).map { ContentDigest(rawValue: String(format: "%064x", $0))! }
        #expect(
            Self.with { $0.policy = NodePolicy(datasets: ["patients": .init(modules: tooManyModules)]) }.validationProblem()?.field
                == "policy.datasets.patients.modules")
        #expect(
            Self.with { $0.policy = NodePolicy(datasets: ["patients": .init(namespaces: ["Not A Namespace"])]) }.validationProblem()?.field
                == "policy.datasets.patients.namespaces")
        #expect(
            Self.with { $0.policy = NodePolicy(datasets: ["patients": .init(trustedKeys: [String(repeating: "k", count: 500)])]) }
                .validationProblem()?.field == "policy.datasets.patients.trustedKeys")
        #expect(
            Self.with { $0.policy = NodePolicy(moduleHosts: Array(repeating: "h.example", count: NodePolicyLimits.maxModuleHosts + 1)) }
                .validationProblem()?.field == "policy.moduleHosts")
        let manyRules = Dictionary(uniqueKeysWithValues: (0...NodePolicyLimits.maxDatasetRules).map { ("d\($0)", NodePolicy.DatasetRule()) })
        #expect(Self.with { $0.policy = NodePolicy(datasets: manyRules) }.validationProblem()?.field == "policy.datasets")
        #expect(Self.with { $0.policyDigest = String(repeating: "x", count: 200) }.validationProblem()?.field == "policyDigest")
    }

    /// Older agents send no policy; their hello still decodes.
    @Test func aHelloWithoutAPolicyDecodes() throws {
        let json = #"{"id":"n1","name":"a","labels":{},"resources":{"cpuMillis":1000,"memoryBytes":1024},"datasets":[],"engines":["wasm"],"version":"0.1"}"#
        let info = try JSONDecoder().decode(NodeInfo.self, from: Data(json.utf8))
        #expect(info.policy == nil && info.policyDigest == nil)
    }
}
