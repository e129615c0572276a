import InsituModel
import InsituSpec
import Testing

/// `engine: {type: sql, ...}` in job specs.
@Suite("SQL engine spec")
struct SQLEngineSpecTests {
    @Test func aQueryAloneGetsTheDefaults() throws {
        let spec = try parse(minimal("", engine: "engine: { type: sql, query: \"SELECT 1\" }")).get()
        #expect(spec.engine.kind == .sql)
        #expect(spec.engine.sql == SQLSettings(query: "SELECT 1", memoryLimitBytes: JobSpec.defaultResources.memoryBytes, maxRows: nil))
        #expect(spec.outputs == [OutputSpec(name: "result", path: "/result")], "the default output receives the result")
    }

    @Test func memoryDefaultsToTheJobsResourcesAndCanBeSet() throws {
        let reserved = try parse(minimal("resources: { memory: 512Mi }", engine: "engine: { type: sql, query: \"SELECT 1\" }")).get()
        #expect(reserved.engine.sql?.memoryLimitBytes == 512 << 20)
        let tiny = try parse(minimal("resources: { memory: 1Mi }", engine: "engine: { type: sql, query: \"SELECT 1\" }")).get()
        #expect(tiny.engine.sql?.memoryLimitBytes == 8 << 20, "SQLite needs a few MiB: the default is at least 8Mi")
        let explicit = try parse(minimal("", engine: "engine: { type: sql, query: \"SELECT 1\", memory: 1Gi, maxRows: 500 }")).get()
        #expect(explicit.engine.sql == SQLSettings(query: "SELECT 1", memoryLimitBytes: 1 << 30, maxRows: 500))
    }

    @Test func aDeclaredOutputReceivesTheResult() throws {
        let spec = try parse(minimal("outputs: [{ name: counts, path: /out }]", engine: "engine: { type: sql, query: \"SELECT 1\" }")).get()
        #expect(spec.outputs == [OutputSpec(name: "counts", path: "/out")])
    }

    @Test func problemsHaveFieldPathsAndHints() {
        let found = problems(
            minimal(
                "args: [x]\noutputs: [{ name: a, path: /a }, { name: b, path: /b }]",
                engine: "engine: { type: sql, query: \"SELECT 1\", memory: 1Mi, maxRows: 0, entrypoint: main }"))
        expectProblem(found, at: "engine.memory", "out of range", hint: "8Mi to 64Gi")
        expectProblem(found, at: "engine.maxRows", "out of range", hint: "engines.sql.max_rows")
        expectProblem(found, at: "engine.entrypoint", "applies only to the wasm engine", hint: "engine.type to wasm")
        expectProblem(found, at: "args", "not used by the sql engine")
        expectProblem(found, at: "outputs", "exactly one output, found 2")
    }

    @Test func aMissingQueryIsNamed() {
        expectProblem(problems(minimal("", engine: "engine: { type: sql, query: \"  \" }")), at: "engine.query", "query is empty", hint: "SELECT")
        expectProblem(problems(minimal("", engine: "engine: { type: sql }")), at: "engine.query", "missing", hint: "SELECT")
    }

    @Test func sqlKeysOnOtherEnginesSayWhichEngineTheyBelongTo() {
        let found = problems(minimal("", engine: "engine: { type: process, command: wc, query: \"SELECT 1\", memory: 1Gi }"))
        expectProblem(found, at: "engine.query", "applies only to the sql engine", hint: "engine.type to sql")
        expectProblem(found, at: "engine.memory", "applies only to the wasm and sql engines")
    }

    @Test func unknownEngineTypesListSQL() {
        expectProblem(problems(minimal("", engine: "engine: { type: sqll, query: x }")), at: "engine.type", "unknown engine type", hint: "did you mean sql?")
    }
}
