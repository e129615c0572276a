import InsituModel
import InsituSpec
import Testing

/// The documented limits (docs/JOBSPEC.md, "Limits"): a hostile document costs one problem and
/// bounded work, never one problem per repeated entry.
@Suite struct LimitTests {
    @Test func theProblemListIsCappedWithACountOfTheRest() {
        // 150 unknown keys: 150 problems found, 100 listed plus one line that counts the rest.
        let keys = (0..<150).map { "unknown\($0): 1" }.joined(separator: "\n")
        let found = problems(minimal(keys))
        #expect(found.count == 101)
        #expect(found.last?.message == "50 more problems not listed")
        #expect(found.last?.hint?.contains("fix the problems above") == true)
    }

    @Test func aListOverItsLimitIsOneProblemEvenThroughAliases() {
        let entries = Array(repeating: "*i", count: 100_000).joined(separator: ",")
        let found = problems(minimal("x: &i {dataset: d, target: /data}\ninputs: [\(entries)]"))
        expectProblem(found, at: "inputs", "the list has 100000 entries; at most 64 are allowed", hint: "docs/JOBSPEC.md")
        // The unknown key `x` and the list: nothing per entry.
        #expect(found.count == 2)
    }

    @Test(arguments: [
        ("args", 1_025, "args: [" + Array(repeating: "a", count: 1_025).joined(separator: ",") + "]"),
        ("outputs", 65, "outputs: [" + (0..<65).map { "{name: o\($0), path: /o\($0)}" }.joined(separator: ",") + "]"),
        ("constraints", 65, "constraints: [" + Array(repeating: "\"a = b\"", count: 65).joined(separator: ",") + "]"),
    ])
    func listsOverTheirLimitAreRefused(_ field: String, _ count: Int, _ yaml: String) {
        expectProblem(problems(minimal(yaml)), at: field, "the list has \(count) entries")
    }

    @Test func listsAtTheirLimitAreAccepted() throws {
        let args = "args: [" + Array(repeating: "a", count: 1_024).joined(separator: ",") + "]"
        let spec = try parse(minimal(args)).get()
        #expect(spec.args.count == 1_024)
    }

    @Test func envOverItsLimitIsRefused() {
        let env = "env:\n" + (0..<257).map { "  V\($0): x" }.joined(separator: "\n")
        let found = problems(minimal(env))
        expectProblem(found, at: "env", "env has 257 entries; at most 256 are allowed")
        #expect(found.count == 1)
    }

    /// The node sets INSITU_* for every execution and would override the job's value silently.
    @Test func envNamesTheNodeSetsAreRefused() {
        let found = problems(minimal("env: {INSITU_PARTITION: \"3\", MODE: fast}"))
        expectProblem(found, at: "env.INSITU_PARTITION", "is set by the node for every execution")
        #expect(found.count == 1)
    }

    @Test func aNULInAnyStringIsRefusedWhereItWouldCutTheValueShort() {
        let found = problems(minimal("args: [\"a\\0b\"]\nenv: {K: \"v\\0w\"}"))
        expectProblem(found, at: "args[0]", "NUL character")
        expectProblem(found, at: "env.K", "NUL character")
    }

    @Test func controlCharactersInSandboxPathsAreRefused() {
        let found = problems(minimal("outputs: [{name: out, path: \"/out\\nput\"}]"))
        expectProblem(found, at: "outputs[0].path", "contains a control character")
    }
}
