import Foundation
import InsituModel
import Testing

/// Specs stored, and assignments sent, before namespaces existed carry none: they must still
/// decode, as jobs of `default`.
@Suite struct JobSpecNamespaceTests {
    @Test func aSpecWithoutANamespaceDecodesIntoDefault() throws {
        let spec = JobSpec(name: "job", namespace: "clinical", engine: EngineSpec(process: ProcessSettings(command: "true")))
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(spec)) as? [String: Any])
        #expect(object["namespace"] as? String == "clinical")
        #expect(try JSONDecoder().decode(JobSpec.self, from: JSONEncoder().encode(spec)) == spec)
        object["namespace"] = nil
        let old = try JSONDecoder().decode(JobSpec.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.namespace == "default")
        var expected = spec
        expected.namespace = "default"
        #expect(old == expected)
    }

    @Test func namespacesAreDNSLabels() {
        for good in ["default", "clinical", "a", "team-7", String(repeating: "a", count: 63)] {
            #expect(Namespace.problem(in: good) == nil, "\(good)")
        }
        for bad in ["", "Clinical", "-a", "a-", "a_b", "a.b", String(repeating: "a", count: 64), "ä"] {
            #expect(Namespace.problem(in: bad) != nil, "\(bad)")
        }
    }
}
