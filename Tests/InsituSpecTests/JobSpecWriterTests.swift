import Foundation
import InsituModel
import InsituSimulation
import InsituSpec
import Testing

/// Issue 9, problem 4: a stored spec written back as a document parses to the same spec, so
/// `job describe -o yaml` output can be submitted again.
struct JobSpecWriterTests {
    /// Specs that between them set every field of every engine, with the notations' corners
    /// (sub-second durations, odd sizes, millicores, URL modules, mapping-form constraints).
    static let corpus: [String] = [
        minimal(),
        """
        version: v1
        name: full-wasm
        namespace: research
        count: 12
        constraints: ["region in (eu, us)", "gpu", "!spot", "tier != cold", {key: zone, operator: "=", value: "a b"}]
        inputs: [{dataset: patients, target: /data}, {inline: "a,b\\n1,2\\n", target: /job/in.csv}]
        engine: {type: wasm, module: ./count.wasm, entrypoint: run, memory: 1536Ki, fuel: 9223372036854775807,
                 signature: "ed25519:\(String(repeating: "A", count: 86))=="}
        args: [--by, "condition", 1, true]
        env: {LANG: C.UTF-8, EMPTY: "", QUOTE: "say \\"hi\\"\\ttab"}
        resources: {cpu: 1.25, memory: 100M}
        timeout: 1h30m15s250ms
        queueTimeout: 720h
        outputs: [{name: counts, path: /out}, {name: log_2, path: /outputs/log}]
        retry: {attempts: 5, delay: 1500ms, backoff: 1.5, maxDelay: 10m}
        nodeLoss: {action: wait, grace: 7m}
        """,
        """
        version: v1
        name: url-module
        type: ops
        engine: {type: wasm, module: "https://modules.example/count.wasm", sha256: "\(String(repeating: "c", count: 64))"}
        retry: {attempts: 1, delay: 0s}
        """,
        "version: v1\nname: proc\nengine: {type: process, command: /usr/bin/env}\nargs: [\"-0\"]\nresources: {cpu: 2, memory: 3Gi}\n",
        "version: v1\nname: box\nengine: {type: container, image: \"python:3.12\", command: [python3, -c, \"print('ü')\"]}\n",
        "version: v1\nname: box2\nengine: {type: container, image: \"docker.io/library/busybox@sha256:\(String(repeating: "d", count: 64))\"}\n",
        """
        version: v1
        name: conditions
        inputs: [{dataset: patients, target: /data}]
        engine: {type: sql, query: "SELECT condition, count(*) FROM patients GROUP BY 1", maxRows: 1000, memory: 8Mi}
        """,
    ]

    @Test(arguments: corpus) func aWrittenSpecParsesToTheSameSpec(_ text: String) throws {
        let spec = try parse(text).get()
        let document = JobSpecWriter.document(spec)
        let again = try parse(document).get()
        #expect(again == spec, "\(document)")
        #expect(!document.contains("Millis") && !document.contains("\"kind\""), "model names leaked: \(document)")
    }

    @Test func theShippedExampleRoundTrips() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/jobs/count-conditions.yaml")
        let text = try String(contentsOf: example, encoding: .utf8)
        let spec = try JobSpecParser.parse(text) { _ in ModuleReference(digest: digestA) }.get()
        let again = try parse(JobSpecWriter.document(spec)).get()
        #expect(again == spec)
    }

    /// Strings with quotes, backslashes, control characters (NUL aside: no spec may hold one), line separators and non-ASCII text
    /// survive the trip through JSON escaping and YAML's reader.
    @Test func awkwardTextSurvives() throws {
        var generator = SeededRandom(seed: 9)
        let alphabet: [Unicode.Scalar] = ["\"", "\\", "\n", "\r", "\t", "\u{1B}", "\u{7F}", "\u{85}", "\u{2028}", "é", "中", "🙂", " ", "#", ":", "-", "{", "}", "a"]
        for _ in 0..<200 {
            var content = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...24, using: &generator) { content.append(alphabet.randomElement(using: &generator)!) }
            let text = String(content)
            var spec = try parse(minimal()).get()
            spec.inputs = [InputSpec(source: .inline(content: text), target: "/in")]
            spec.args = [text]
            spec.env = ["V": text]
            let document = JobSpecWriter.document(spec)
            switch parse(document) {
            case .success(let again): #expect(again == spec, "\(text.debugDescription) → \(document)")
            case .failure(let error): Issue.record("\(text.debugDescription) → \(document): \(error)")
            }
        }
    }
}
