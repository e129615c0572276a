import Crypto
import InsituModel
import InsituPolicy
import Testing

/// The node policy's evaluation and digest, as pure functions: the node and the scheduler both
/// decide with these.
struct NodePolicyTests {
    static let moduleA = ContentDigest(rawValue: String(repeating: "a", count: 64))!
    static let moduleB = ContentDigest(rawValue: String(repeating: "b", count: 64))!

    static func facts(
        engine: EngineKind = .wasm, module: ContentDigest? = moduleA, signature: String? = nil, url: String? = nil,
        datasets: [String] = ["patients"], namespace: String = "clinical"
    ) -> ExecutionFacts {
        ExecutionFacts(
            engine: engine, module: engine == .wasm ? module : nil, signature: signature, moduleHost: url.map { ExecutionFacts.host(ofURL: $0)! },
            datasets: datasets, namespace: namespace)
    }

    @Test func anOpenPolicyAdmitsEverything() {
        #expect(NodePolicy().admit(Self.facts()) == .allow)
        #expect(NodePolicy().admit(Self.facts(engine: .sql, namespace: "anyone")) == .allow)
    }

    @Test func aNamespaceNotAllowedOnADatasetIsRefusedWithTheAllowedOnes() throws {
        let policy = NodePolicy(datasets: ["patients": .init(namespaces: ["clinical", "audit"])])
        #expect(policy.admit(Self.facts(namespace: "clinical")) == .allow)
        let refusal = try #require(policy.admit(Self.facts(namespace: "research")).refusal)
        #expect(refusal.message.hasPrefix("node policy: namespace \"research\" may not use dataset \"patients\" (allowed: clinical, audit)"))
        #expect(refusal.message.contains("submit the job in one of those namespaces"))
        // Another dataset without a rule is open to every namespace.
        #expect(policy.admit(Self.facts(datasets: ["weather"], namespace: "research")) == .allow)
    }

    @Test func aModuleNotAllowedOnADatasetIsRefused() throws {
        let policy = NodePolicy(datasets: ["patients": .init(modules: [Self.moduleA])])
        #expect(policy.admit(Self.facts(module: Self.moduleA)) == .allow)
        let refusal = try #require(policy.admit(Self.facts(module: Self.moduleB)).refusal)
        #expect(refusal.message.contains("module \(Self.moduleB) may not read dataset \"patients\""))
        #expect(refusal.message.contains("approve this module's sha256"))
        // Engines without a module cannot be approved modules.
        let sql = try #require(policy.admit(Self.facts(engine: .sql)).refusal)
        #expect(sql.message.contains("may be read only by approved WebAssembly modules, and a sql job has none"))
    }

    @Test func aModuleSignedByATrustedKeyIsAdmittedAndAnyOtherSignatureIsNot() throws {
        let trusted = Curve25519.Signing.PrivateKey()
        let stranger = Curve25519.Signing.PrivateKey()
        let policy = NodePolicy(datasets: ["patients": .init(trustedKeys: [ModuleSignature.text(of: trusted.publicKey)])])

        let good = try ModuleSignature.sign(Self.moduleB, with: trusted)
        #expect(policy.admit(Self.facts(module: Self.moduleB, signature: good)) == .allow)
        // The same signature does not cover another module.
        let reused = try #require(policy.admit(Self.facts(module: Self.moduleA, signature: good)).refusal)
        #expect(reused.message.contains("its signature does not verify with a key the node trusts"))
        let foreign = try ModuleSignature.sign(Self.moduleB, with: stranger)
        #expect(policy.admit(Self.facts(module: Self.moduleB, signature: foreign)).refusal != nil)
        #expect(policy.admit(Self.facts(module: Self.moduleB, signature: "ed25519:garbage")).refusal != nil)
        #expect(policy.admit(Self.facts(module: Self.moduleB)).refusal != nil)
    }

    @Test func anEngineNotAllowedIsRefused() throws {
        let policy = NodePolicy(engines: [.wasm, .sql])
        #expect(policy.admit(Self.facts(engine: .sql)) == .allow)
        let refusal = try #require(policy.admit(Self.facts(engine: .process)).refusal)
        #expect(refusal.message == "node policy: engine process may not run on this node (allowed: wasm, sql); use one of those engines, or another node")
    }

    @Test func moduleURLHostsAreCheckedByHostAndByHostAndPort() throws {
        let policy = NodePolicy(moduleHosts: ["modules.example.org", "10.0.0.5:8080"])
        #expect(policy.admit(Self.facts(url: "https://modules.example.org/m.wasm")) == .allow)
        #expect(policy.admit(Self.facts(url: "http://10.0.0.5:8080/m.wasm")) == .allow)
        #expect(policy.admit(Self.facts(url: "http://10.0.0.5:9090/m.wasm")).refusal != nil)
        // User info before the host does not smuggle another host in.
        let smuggled = try #require(policy.admit(Self.facts(url: "https://modules.example.org@evil.test/m.wasm")).refusal)
        #expect(smuggled.message.contains("host \"evil.test\""))
        // A module from an orchestrator (no URL) is not subject to the rule.
        #expect(policy.admit(Self.facts()) == .allow)
    }

    @Test func refusalsBoundWhatTheOrchestratorSent() throws {
        let policy = NodePolicy(datasets: ["patients": .init(namespaces: ["clinical"])])
        let refusal = try #require(policy.admit(Self.facts(namespace: "\u{1B}[2J" + String(repeating: "x", count: 500))).refusal)
        #expect(refusal.message.count < 400)
        #expect(!refusal.message.contains("\u{1B}"))
    }

    @Test func theDigestIsStableAcrossOrderAndChangesWithThePolicy() {
        let keyA = ModuleSignature.text(of: Curve25519.Signing.PrivateKey().publicKey)
        let keyB = ModuleSignature.text(of: Curve25519.Signing.PrivateKey().publicKey)
        var first = NodePolicy(
            engines: [.wasm, .sql], moduleHosts: ["b.example", "a.example"], output: .init(maxBytes: 1 << 20, stdout: false))
        first.datasets["patients"] = .init(namespaces: ["clinical", "audit"], modules: [Self.moduleA, Self.moduleB], trustedKeys: [keyA, keyB])
        first.datasets["weather"] = .init(namespaces: ["public"])
        var second = NodePolicy(
            engines: [.sql, .wasm, .sql], moduleHosts: ["a.example", "B.example"], output: .init(maxBytes: 1 << 20, stdout: false))
        second.datasets["weather"] = .init(namespaces: ["public"])
        second.datasets["patients"] = .init(namespaces: ["audit", "clinical"], modules: [Self.moduleB, Self.moduleA], trustedKeys: [keyB, keyA])
        #expect(first.digest == second.digest)
        #expect(first.digest.hasPrefix("sha256:") && first.digest.count == 71)

        var changes: [NodePolicy] = []
        var policy = first
        policy.datasets["patients"]?.namespaces = ["clinical"]
        changes.append(policy)
        policy = first
        policy.output.stdout = true
        changes.append(policy)
        policy = first
        policy.output.maxBytes = nil
        changes.append(policy)
        policy = first
        policy.engines = nil
        changes.append(policy)
        policy = first
        policy.datasets["patients"]?.trustedKeys = nil
        changes.append(policy)
        // An empty allow-list (nothing may) is not the absent one (anything may).
        policy = first
        policy.datasets["weather"]?.namespaces = []
        changes.append(policy)
        policy = first
        policy.datasets["weather"]?.namespaces = nil
        changes.append(policy)
        let digests = Set(changes.map(\.digest))
        #expect(digests.count == changes.count)
        #expect(!digests.contains(first.digest))
    }

    @Test func hostsAreReadFromURLsTheWayAURLParserReadsThem() {
        #expect(ExecutionFacts.host(ofURL: "https://Example.ORG/x") == .init(host: "example.org", port: 443))
        #expect(ExecutionFacts.host(ofURL: "http://a:b@host.test:81/x?y#z") == .init(host: "host.test", port: 81))
        #expect(ExecutionFacts.host(ofURL: "http://[::1]:8080/x") == .init(host: "[::1]", port: 8080))
        #expect(ExecutionFacts.host(ofURL: "http://host.test\\@evil.test/") == .init(host: "host.test", port: 80))
        #expect(ExecutionFacts.host(ofURL: "ftp://host.test/") == nil)
        #expect(ExecutionFacts.host(ofURL: "http://host.test:99999/") == nil)
        #expect(ExecutionFacts.host(ofURL: "http:///x") == nil)
    }
}
