import InsituModel
import InsituSpec
import Testing

@Suite struct DocumentProblemTests {
    @Test(arguments: ["", "   \n", "# only a comment\n", "~"])
    func emptyDocument(_ text: String) {
        let found = problems(text)
        #expect(found.count == 1)
        expectProblem(found, at: "", "empty", hint: "version: v1")
    }

    @Test(arguments: ["just a string", "- a\n- b", "42"])
    func nonMappingDocument(_ text: String) {
        let found = problems(text)
        #expect(found.count == 1)
        expectProblem(found, at: "", "expected a mapping at the top level", hint: "docs/JOBSPEC.md")
    }

    @Test func syntaxErrorReportsLineAndColumn() {
        let found = problems("version: v1\nname: job\nengine: { type: wasm\n")
        #expect(found.count == 1)
        expectProblem(found, at: "", "YAML syntax error at line ")
        #expect(found.first?.message.contains("column") == true)
    }

    @Test func badIndentationReportsItsLine() {
        let found = problems("version: v1\nname: job\n  bad: indent\n")
        expectProblem(found, at: "", "line 3")
    }

    @Test func duplicateKeysAreReported() {
        let found = problems("version: v1\nname: a\nname: b\n")
        expectProblem(found, at: "", "duplicate key \"name\"")
    }

    @Test func missingRequiredFields() {
        let found = problems("type: batch\n")
        expectProblem(found, at: "version", "missing required field", hint: "version: v1")
        expectProblem(found, at: "name", "missing required field")
        expectProblem(found, at: "engine", "missing required field")
        #expect(found.count == 3)
    }

    @Test func unknownKeySuggestsTheClosest() {
        let found = problems(minimal("timout: 30s\nfrobnicate: 1"))
        let typo = expectProblem(found, at: "timout", "unknown key \"timout\"", hint: "did you mean `timeout`?")
        #expect(typo?.hint?.contains("allowed keys: version, name") == true)
        let far = expectProblem(found, at: "frobnicate", "unknown key", hint: "allowed keys:")
        #expect(far?.hint?.contains("did you mean") == false)
    }

    @Test func unknownNestedKeys() {
        let found = problems(minimal("""
            inputs: [{ dataset: d, target: /d, mode: ro }]
            resources: { cpus: 1 }
            outputs: [{ name: o, pth: /o }]
            """))
        expectProblem(found, at: "inputs[0].mode", "unknown key", hint: "allowed keys: dataset, inline, target")
        expectProblem(found, at: "resources.cpus", "unknown key", hint: "did you mean `cpu`?")
        expectProblem(found, at: "outputs[0].pth", "unknown key", hint: "did you mean `path`?")
        expectProblem(found, at: "outputs[0].path", "missing required field")
    }

    @Test func wrongTypes() {
        let found = problems("""
            version: v1
            name: [a]
            constraints: "region = eu"
            inputs: { dataset: d }
            engine: wasm
            args: --verbose
            env: [A]
            resources: 2
            count: "3"
            """)
        expectProblem(found, at: "name", "expected a string, found a list")
        expectProblem(found, at: "constraints", "expected a list, found a string \"region = eu\"", hint: "constraints: [")
        expectProblem(found, at: "inputs", "expected a list, found a mapping")
        expectProblem(found, at: "engine", "expected a mapping, found a string \"wasm\"")
        expectProblem(found, at: "args", "expected a list, found a string \"--verbose\"", hint: "args: [")
        expectProblem(found, at: "env", "expected a mapping, found a list")
        expectProblem(found, at: "resources", "expected a mapping, found an integer 2")
        expectProblem(found, at: "count", "expected an integer, found a string \"3\"")
    }

    @Test func manyProblemsAreAllReported() {
        let found = problems("""
            version: v2
            name: Bad_Name
            type: batch
            count: 0
            constraints: ["region ==", { key: site, operator: within, values: [a] }]
            inputs:
              - { dataset: "../etc", target: data }
              - { inline: x, target: /data }
              - { inline: y, target: /data }
            engine: { type: wasm, module: ./missing.wasm, memory: 8Gi, fuel: 0, command: wc }
            env: { 1BAD: x }
            resources: { cpu: lots, memory: 12 parsecs }
            timeout: 48h
            outputs: [{ name: Results, path: / }]
            """)
        expectProblem(found, at: "version", "unsupported version \"v2\"", hint: "v1")
        expectProblem(found, at: "name", "invalid name \"Bad_Name\"", hint: "lowercase")
        expectProblem(found, at: "count", "count 0 is out of range", hint: "1 to 10000")
        expectProblem(found, at: "constraints[0]", "invalid constraint \"region ==\"", hint: "key in (a, b)")
        expectProblem(found, at: "constraints[1].operator", "unknown operator \"within\"", hint: "notin")
        expectProblem(found, at: "inputs[0].dataset", "invalid dataset name \"../etc\"", hint: "[a-zA-Z0-9]")
        expectProblem(found, at: "inputs[0].target", "not an absolute path", hint: "/data")
        expectProblem(found, at: "inputs[2].target", "already used by inputs[1].target")
        expectProblem(found, at: "engine.module", "local file", hint: "the CLI uploads local modules: submit with `insitu job run FILE`")
        expectProblem(found, at: "engine.memory", "out of range", hint: "64Ki to 4Gi")
        expectProblem(found, at: "engine.fuel", "greater than 0")
        expectProblem(found, at: "engine.command", "only to the process and container engines", hint: "remove it")
        expectProblem(found, at: "env.1BAD", "invalid environment variable name", hint: "[A-Za-z_]")
        expectProblem(found, at: "resources.cpu", "invalid cpu \"lots\"", hint: "500m")
        expectProblem(found, at: "resources.memory", "invalid size \"12 parsecs\"", hint: "Mi")
        expectProblem(found, at: "timeout", "at most 24h")
        expectProblem(found, at: "outputs[0].name", "invalid output name \"Results\"")
        expectProblem(found, at: "outputs[0].path", "sandbox root")
        #expect(found.count == 18)
    }

    @Test func nameRules() {
        expectProblem(problems(minimal().replacingOccurrences("name: job", "name: -job")), at: "name", "invalid name")
        expectProblem(problems(minimal().replacingOccurrences("name: job", "name: job-")), at: "name", "invalid name")
        let long = String(repeating: "a", count: 64)
        expectProblem(problems(minimal().replacingOccurrences("name: job", "name: \(long)")), at: "name", "64 characters")
        #expect((try? parse(minimal().replacingOccurrences("name: job", "name: \(long.dropLast())")).get()) != nil)
        #expect((try? parse(minimal().replacingOccurrences("name: job", "name: 7-up")).get()) != nil)
    }

    @Test func jobTypeAndCount() {
        expectProblem(problems(minimal("type: opps")), at: "type", "unknown job type \"opps\"", hint: "did you mean ops?")
        expectProblem(problems(minimal("type: ops\ncount: 2")), at: "count", "only to batch jobs", hint: "remove it")
        expectProblem(problems(minimal("count: 10001")), at: "count", "out of range")
        expectProblem(problems(minimal("count: 99999999999999999999")), at: "count", "out of range")
        expectProblem(problems(minimal("count: 2.5")), at: "count", "expected an integer, found a number 2.5")
        #expect((try? parse(minimal("count: 10_000")).get())?.count == 10_000)
    }

    @Test func engineProblems() {
        expectProblem(problems(minimal(engine: "engine: { module: ./count.wasm }")), at: "engine.type", "missing required field", hint: "wasm, process")
        expectProblem(problems(minimal(engine: "engine: { type: wsam, module: ./count.wasm }")), at: "engine.type", "unknown engine type", hint: "did you mean wasm?")
        expectProblem(problems(minimal(engine: "engine: { type: wasm }")), at: "engine.module", "missing required field")
        expectProblem(problems(minimal(engine: "engine: { type: process }")), at: "engine.command", "missing required field")
        let found = problems(minimal(engine: "engine: { type: process, command: wc, module: ./count.wasm, memory: 1Gi, entrypoint: main }"))
        expectProblem(found, at: "engine.module", "only to the wasm engine", hint: "engine.type to wasm")
        expectProblem(found, at: "engine.memory", "only to the wasm and sql engines")
        expectProblem(found, at: "engine.entrypoint", "only to the wasm engine")
        #expect(found.count == 3)
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: ./count.wasm, entrypiont: main }")), at: "engine.entrypiont", "unknown key", hint: "did you mean `entrypoint`?")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: ./count.wasm, memory: 32Ki }")), at: "engine.memory", "out of range")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: ./count.wasm, memory: [1] }")), at: "engine.memory", "expected a size such as 64Mi, found a list")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: ./count.wasm, fuel: lots }")), at: "engine.fuel", "expected an integer")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: ./count.wasm, entrypoint: \"\" }")), at: "engine.entrypoint", "empty")
    }

    @Test func moduleProblems() {
        let unknownDigest = problems(minimal(engine: "engine: { type: wasm, module: \"sha256:\(digestB.rawValue)\" }"))
        expectProblem(unknownDigest, at: "engine.module", "not known", hint: "no module with this digest is stored on the orchestrator: upload it first")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: \"sha256:abc\" }")), at: "engine.module", "not a sha256 digest", hint: "64 hex")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: \"https://x/m.wasm\" }")), at: "engine.sha256", "needs its sha256", hint: "sha256: <64 hex digits>")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: \"https://x/m.wasm\", sha256: nope }")), at: "engine.sha256", "not a sha256 digest")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: ./count.wasm, sha256: \(digestA.rawValue) }")), at: "engine.sha256", "only used with a URL module")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: \"ftp://x/m.wasm\" }")), at: "engine.module", "unsupported URL scheme \"ftp\"")
        expectProblem(problems(minimal(engine: "engine: { type: wasm, module: \"\" }")), at: "engine.module", "empty")
    }

    @Test func resolverIsNotCalledForABrokenModuleField() {
        var calls = 0
        _ = JobSpecParser.parse(minimal(engine: "engine: { type: wasm, module: \"https://x/m.wasm\" }")) { _ in
            calls += 1
            return nil
        }
        #expect(calls == 0)
    }

    @Test func inputProblems() {
        let found = problems(minimal("""
            inputs:
              - { dataset: d, inline: x, target: /a }
              - { target: /b }
              - { dataset: d }
              - { inline: x, target: "/a/../etc" }
              - { dataset: "-dash", target: /c }
              - plain-string
            """))
        expectProblem(found, at: "inputs[0]", "either dataset or inline, not both")
        expectProblem(found, at: "inputs[1]", "missing the input source", hint: "dataset: NAME")
        expectProblem(found, at: "inputs[2].target", "missing required field")
        expectProblem(found, at: "inputs[3].target", "contains '..'")
        expectProblem(found, at: "inputs[4].dataset", "invalid dataset name")
        expectProblem(found, at: "inputs[5]", "expected a mapping, found a string")
        #expect(found.count == 6)
    }

    @Test func inputsAndOutputsShareTheirPaths() {
        let found = problems(minimal("inputs: [{ dataset: d, target: /work }]\noutputs: [{ name: a, path: /work/ }, { name: a, path: /b }]"))
        expectProblem(found, at: "outputs[0].path", "already used by inputs[0].target")
        expectProblem(found, at: "outputs[1].name", "already used by outputs[0].name")
    }

    @Test func constraintProblems() {
        let found = problems(minimal("""
            constraints:
              - "region = eu west"
              - { operator: exists }
              - { key: site, operator: in }
              - { key: site, operator: "=", values: [a, b] }
              - { key: gpu, operator: exists, values: [a] }
              - { key: site, operator: in, value: a, values: [b] }
              - [region]
              - { key: "bad key", operator: exists }
            """))
        expectProblem(found, at: "constraints[0]", "invalid constraint", hint: "key = value")
        expectProblem(found, at: "constraints[1].key", "missing required field")
        expectProblem(found, at: "constraints[2].values", "needs at least one value")
        expectProblem(found, at: "constraints[3].values", "needs exactly one value, found 2")
        expectProblem(found, at: "constraints[4].values", "takes no values")
        expectProblem(found, at: "constraints[5].value", "either value or values")
        expectProblem(found, at: "constraints[6]", "expected a constraint string or mapping, found a list")
        expectProblem(found, at: "constraints[7].key", "invalid label key")
        #expect(found.count == 8)
    }

    @Test func envProblems() {
        let found = problems(minimal("env: { GOOD: 1, bad-name: x, EMPTY: , LIST: [a] }"))
        expectProblem(found, at: "env.bad-name", "invalid environment variable name")
        expectProblem(found, at: "env.EMPTY", "found null", hint: "EMPTY: \"\"")
        expectProblem(found, at: "env.LIST", "expected a string, found a list")
        #expect(found.count == 3)
    }

    @Test func timeoutProblems() {
        expectProblem(problems(minimal("timeout: 30")), at: "timeout", "has no unit", hint: "30s")
        expectProblem(problems(minimal("timeout: 0s")), at: "timeout", "greater than 0")
        expectProblem(problems(minimal("timeout: 25h")), at: "timeout", "at most 24h")
        expectProblem(problems(minimal("timeout: soon")), at: "timeout", "invalid duration \"soon\"", hint: "1m30s")
        #expect((try? parse(minimal("timeout: 24h")).get())?.timeoutMillis == 86_400_000)
    }

    @Test func resourceProblems() {
        expectProblem(problems(minimal("resources: { cpu: 0 }")), at: "resources.cpu", "invalid cpu")
        expectProblem(problems(minimal("resources: { cpu: true }")), at: "resources.cpu", "found a boolean true")
        expectProblem(problems(minimal("resources: { memory: 0 }")), at: "resources.memory", "greater than 0")
        expectProblem(problems(minimal("resources: { memory: 1.5Gi }")), at: "resources.memory", "invalid size")
    }

    @Test func argsMustBeScalars() {
        expectProblem(problems(minimal("args: [a, [b], ~]")), at: "args[1]", "expected a string, found a list")
        expectProblem(problems(minimal("args: [a, [b], ~]")), at: "args[2]", "found null")
        #expect((try? parse(minimal("args: [1, true, 2.50]")).get())?.args == ["1", "true", "2.50"])
    }

    @Test func jsonProblemsUseTheSamePaths() {
        let found = problems(#"{"version": "v1", "name": "j", "engine": {"type": "process", "command": "wc", "fuel": 5}, "outputs": [{"name": "o"}]}"#)
        expectProblem(found, at: "engine.fuel", "only to the wasm engine")
        expectProblem(found, at: "outputs[0].path", "missing required field")
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
