import InsituModel
import Testing

@Suite struct ResultPathTests {
    @Test(arguments: ["stdout", "stderr", "outputs/counts/counts.json", "outputs/o/a/b/c.txt", "outputs/o/.hidden", "outputs/o/a..b"])
    func pathsAnAgentProducesAreAccepted(path: String) {
        #expect(ResultPath.problem(path) == nil)
    }

    /// Item 16 of issue 5: these were stored verbatim and handed to the CLI.
    @Test(arguments: [
        ("", "empty"), ("../../x", ".."), ("/etc/cron.d/pwn", "absolute"), ("outputs/o/../../../x", ".."),
        ("outputs/o/./x", "."), ("outputs//x", "empty component"), ("outputs/o/x/", "empty component"),
        ("outputs/o/a\u{0}b", "control"), ("outputs/o/a\nb", "control"), ("outputs/o/a\\..\\b", "backslash"),
        ("stdout/x", "neither"), ("outputs/o", "neither"), ("outputs", "neither"), ("secrets/x", "neither"), ("STDOUT", "neither"),
    ])
    func hostilePathsAreRefusedWithAReason(path: String, reason: String) {
        let problem = ResultPath.problem(path)
        #expect(problem?.contains(reason) == true, "\(path.debugDescription): \(problem ?? "accepted")")
    }

    @Test func lengthsAreBounded() {
        let longComponent = "outputs/o/" + String(repeating: "x", count: ResultLimits.maxComponentBytes + 1)
        #expect(ResultPath.problem(longComponent)?.contains("longer") == true)
        let longPath = "outputs/o/" + Array(repeating: "abcdefgh", count: 130).joined(separator: "/")
        #expect(ResultPath.problem(longPath)?.contains("longer than \(ResultLimits.maxPathBytes)") == true)
        #expect(ResultPath.problem("outputs/o/" + String(repeating: "x", count: ResultLimits.maxComponentBytes)) == nil)
    }
}
