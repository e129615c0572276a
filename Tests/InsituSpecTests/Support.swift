import InsituModel
import InsituSpec
import Testing

let digestA = ContentDigest(rawValue: String(repeating: "a", count: 64))!
let digestB = ContentDigest(rawValue: String(repeating: "b", count: 64))!

/// Knows `./count.wasm` (uploaded as digestA) and the stored module digestA; pins any URL to its
/// declared digest.
func testResolver(_ source: ModuleSource) -> ModuleReference? {
    switch source {
    case .localFile("./count.wasm"): return ModuleReference(digest: digestA)
    case .localFile: return nil
    case .digest(let digest): return digest == digestA ? ModuleReference(digest: digest) : nil
    case .url(let url, let digest?): return ModuleReference(digest: digest, url: url)
    case .url(_, nil): return nil
    }
}

func parse(_ text: String) -> Result<JobSpec, SpecValidationError> {
    JobSpecParser.parse(text, resolveModule: testResolver)
}

/// The problems found in `text`; records an issue if it parsed.
func problems(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [SpecProblem] {
    switch parse(text) {
    case .success(let spec):
        Issue.record("expected problems, but parsed: \(spec)", sourceLocation: sourceLocation)
        return []
    case .failure(let error):
        return error.problems
    }
}

/// Asserts that some problem sits at `path` with `message` in its text (and a hint containing
/// `hint`, when given), and returns it.
@discardableResult
func expectProblem(
    _ problems: [SpecProblem], at path: String, _ message: String, hint: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> SpecProblem? {
    let match = problems.first { $0.path == path && $0.message.contains(message) }
    guard let match else {
        Issue.record(
            "no problem at \"\(path)\" containing \"\(message)\"; got:\n\(problems.map(\.description).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
        return nil
    }
    if let hint {
        #expect(match.hint?.contains(hint) == true, "hint of \(match) lacks \"\(hint)\"", sourceLocation: sourceLocation)
    }
    return match
}

/// A minimal valid document with `extra` lines appended at the top level.
func minimal(_ extra: String = "", engine: String = "engine: { type: wasm, module: ./count.wasm }") -> String {
    "version: v1\nname: job\n\(engine)\n\(extra)"
}
