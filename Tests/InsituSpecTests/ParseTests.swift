import InsituModel
import InsituSpec
import Testing

let fullExample = """
    version: v1                # required, only "v1"
    name: count-conditions
    type: batch
    count: 3
    constraints:
      - "region = eu"
      - { key: site, operator: in, values: [a, b] }
    inputs:
      - dataset: patients
        target: /data
      - inline: "some text"
        target: /config/params.txt
    engine:
      type: wasm
      module: ./count.wasm
      entrypoint: _start
      memory: 64Mi
      fuel: 1000000000
    args: ["--by", "condition"]
    env: { MODE: fast, LEVEL: 3, DEBUG: true }
    resources: { cpu: 500m, memory: 128Mi }
    timeout: 30s
    outputs:
      - name: results
        path: /outputs
    """

let fullExampleJSON = """
    {
      "version": "v1",
      "name": "count-conditions",
      "type": "batch",
      "count": 3,
      "constraints": ["region = eu", {"key": "site", "operator": "in", "values": ["a", "b"]}],
      "inputs": [
        {"dataset": "patients", "target": "/data"},
        {"inline": "some text", "target": "/config/params.txt"}
      ],
      "engine": {"type": "wasm", "module": "./count.wasm", "entrypoint": "_start", "memory": "64Mi", "fuel": 1000000000},
      "args": ["--by", "condition"],
      "env": {"MODE": "fast", "LEVEL": 3, "DEBUG": true},
      "resources": {"cpu": "500m", "memory": "128Mi"},
      "timeout": "30s",
      "outputs": [{"name": "results", "path": "/outputs"}]
    }
    """

let expectedFullSpec = JobSpec(
    version: "v1", name: "count-conditions", type: .batch, count: 3,
    constraints: [
        LabelConstraint(key: "region", operator: .equals, values: ["eu"]),
        LabelConstraint(key: "site", operator: .in, values: ["a", "b"]),
    ],
    inputs: [
        InputSpec(source: .dataset(name: "patients"), target: "/data"),
        InputSpec(source: .inline(content: "some text"), target: "/config/params.txt"),
    ],
    engine: EngineSpec(
        wasm: WasmSettings(module: ModuleReference(digest: digestA), entrypoint: "_start", memoryLimitBytes: 64 << 20, fuel: 1_000_000_000)),
    args: ["--by", "condition"],
    env: ["MODE": "fast", "LEVEL": "3", "DEBUG": "true"],
    resources: Resources(cpuMillis: 500, memoryBytes: 128 << 20),
    timeoutMillis: 30_000,
    outputs: [OutputSpec(name: "results", path: "/outputs")])

@Suite struct ParseTests {
    @Test func fullExampleParses() throws {
        let spec = try parse(fullExample).get()
        #expect(spec == expectedFullSpec)
    }

    @Test func jsonFormParsesToTheSameSpec() throws {
        let spec = try parse(fullExampleJSON).get()
        #expect(spec == expectedFullSpec)
    }

    @Test func minimalDocumentGetsDefaults() throws {
        let spec = try parse(minimal()).get()
        #expect(spec == JobSpec(name: "job", engine: EngineSpec(wasm: WasmSettings(module: ModuleReference(digest: digestA)))))
        #expect(spec.type == .batch && spec.count == 1 && spec.resources == JobSpec.defaultResources)
        #expect(spec.engine.wasm?.entrypoint == "_start" && spec.engine.wasm?.memoryLimitBytes == 64 << 20)
        #expect(spec.timeoutMillis == nil && spec.engine.wasm?.fuel == nil)
    }

    @Test func processEngine() throws {
        let spec = try parse(minimal("type: ops", engine: "engine: { type: process, command: /usr/bin/wc }")).get()
        #expect(spec.type == .ops)
        #expect(spec.engine == EngineSpec(process: ProcessSettings(command: "/usr/bin/wc")))
    }

    @Test func moduleByDigestAndURL() throws {
        let byDigest = try parse(minimal(engine: "engine: { type: wasm, module: \"sha256:\(digestA.rawValue)\" }")).get()
        #expect(byDigest.engine.wasm?.module == ModuleReference(digest: digestA))

        let url = "https://example.org/m.wasm"
        let byURL = try parse(minimal(engine: "engine: { type: wasm, module: \"\(url)\", sha256: \(digestB.rawValue) }")).get()
        #expect(byURL.engine.wasm?.module == ModuleReference(digest: digestB, url: url))
    }

    @Test func resolverSeesTheSourceOnce() {
        var seen: [ModuleSource] = []
        _ = JobSpecParser.parse(minimal()) { source in
            seen.append(source)
            return ModuleReference(digest: digestA)
        }
        #expect(seen == [.localFile("./count.wasm")])
    }

    @Test func nullOptionalFieldsCountAsAbsent() throws {
        let spec = try parse(minimal("constraints:\ninputs:\nargs: ~\ntimeout: null")).get()
        #expect(spec.constraints.isEmpty && spec.inputs.isEmpty && spec.args.isEmpty && spec.timeoutMillis == nil)
    }

    @Test func pathsAreNormalised() throws {
        let spec = try parse(minimal("outputs: [{ name: out, path: \"/outputs//x/./\" }]")).get()
        #expect(spec.outputs == [OutputSpec(name: "out", path: "/outputs/x")])
    }

    @Test func cpuAndMemoryForms() throws {
        let spec = try parse(minimal("resources: { cpu: 0.5, memory: 1048576 }")).get()
        #expect(spec.resources == Resources(cpuMillis: 500, memoryBytes: 1 << 20))
        let whole = try parse(minimal("resources: { cpu: 2 }")).get()
        #expect(whole.resources == Resources(cpuMillis: 2000, memoryBytes: JobSpec.defaultResources.memoryBytes))
    }

    @Test func constraintMappingForms() throws {
        let spec = try parse(minimal("""
            constraints:
              - { key: region, operator: "=", value: eu }
              - { key: tier, operator: "!=", values: [gold] }
              - { key: gpu, operator: exists }
              - { key: tainted, operator: "!exists" }
              - { key: zone, operator: notin, values: [1, 2] }
            """)).get()
        #expect(spec.constraints == [
            LabelConstraint(key: "region", operator: .equals, values: ["eu"]),
            LabelConstraint(key: "tier", operator: .notEquals, values: ["gold"]),
            LabelConstraint(key: "gpu", operator: .exists),
            LabelConstraint(key: "tainted", operator: .doesNotExist),
            LabelConstraint(key: "zone", operator: .notIn, values: ["1", "2"]),
        ])
    }

    @Test func moduleSourceFindsEachForm() {
        #expect(JobSpecParser.moduleSource(in: fullExample) == .localFile("./count.wasm"))
        #expect(JobSpecParser.moduleSource(in: fullExampleJSON) == .localFile("./count.wasm"))
        #expect(
            JobSpecParser.moduleSource(in: "engine: { module: \"sha256:\(digestA.rawValue)\" }") == .digest(digestA))
        #expect(
            JobSpecParser.moduleSource(in: "engine: { module: \"https://x/m.wasm\", sha256: \(digestB.rawValue) }")
                == .url("https://x/m.wasm", digestB))
        #expect(JobSpecParser.moduleSource(in: "engine: { module: \"https://x/m.wasm\" }") == .url("https://x/m.wasm", nil))
        // The rest of the document need not be valid.
        #expect(JobSpecParser.moduleSource(in: "name: BAD NAME\nengine: { module: m.wasm, bogus: 1 }") == .localFile("m.wasm"))
    }

    @Test func moduleSourceIsNilWhenAbsentOrBroken() {
        #expect(JobSpecParser.moduleSource(in: "") == nil)
        #expect(JobSpecParser.moduleSource(in: "version: v1") == nil)
        #expect(JobSpecParser.moduleSource(in: "engine: { type: process, command: wc }") == nil)
        #expect(JobSpecParser.moduleSource(in: "engine: { module: \"sha256:nothex\" }") == nil)
        #expect(JobSpecParser.moduleSource(in: "engine: [") == nil)
        #expect(JobSpecParser.moduleSource(in: "engine: { module: [a] }") == nil)
    }

    @Test func opsExampleFromTheDocs() throws {
        let spec = try parse("""
            version: v1
            name: disk-usage
            type: ops
            constraints: ["region = eu"]
            engine: { type: process, command: /usr/bin/du }
            args: ["-sh", "/data"]
            inputs: [{ dataset: patients, target: /data }]
            """).get()
        #expect(spec.type == .ops && spec.count == 1 && spec.datasetNames == ["patients"])
    }

    @Test func anchorsAndAliasesWork() throws {
        let spec = try parse(minimal("inputs: [{ dataset: d, target: &t /data }]\nargs: [*t]")).get()
        #expect(spec.args == ["/data"])
    }

    @Test func mergeKeysAreUnknownKeys() {
        let found = problems(minimal("base: &b { cpu: 1 }\nresources: { <<: *b }"))
        expectProblem(found, at: "resources.<<", "unknown key")
    }

    @Test func digestsMayBeUpperCase() throws {
        let upper = digestA.rawValue.uppercased()
        let spec = try parse(minimal(engine: "engine: { type: wasm, module: \"SHA256:\(upper)\" }")).get()
        #expect(spec.engine.wasm?.module.digest == digestA)
    }

    @Test func problemDescriptionsListEveryProblem() {
        let error = SpecValidationError(problems: [
            SpecProblem(path: "engine.memory", message: "bad", hint: "fix it"),
            SpecProblem(path: "", message: "empty"),
        ])
        #expect(error.description == "engine.memory: bad (hint: fix it)\n(document): empty")
    }
}
