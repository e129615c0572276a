import Crypto
import Foundation
import InsituAPI
import InsituModel
import Testing

/// Issue 9, item 1: `job run --dry-run` checks a spec and shows where it would run without
/// storing or uploading anything, and a job no node can run exits 2 (Nomad's convention), so a
/// script can tell "valid but unplaceable" from "refused".
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DryRunTests {
    @Test func aDryRunShowsThePlacementAndStoresNothing() async throws {
        let e2e = try await E2E.withOneNode("dry-node")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile("dry", "version: v1\nname: dry\nengine: {type: wasm, module: ./dry.wasm}\n", wat: Modules.hello)

        let table = try e2e.cli(["job", "run", "--dry-run", spec])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("would be placed now"), "\(table.stdout)")
        #expect(table.stdout.contains("dry-node"), "\(table.stdout)")

        let json = try e2e.cli(["job", "run", "--dry-run", spec, "-o", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let plan = try JSONDecoder().decode(JobPlanResponse.self, from: Data(json.stdout.utf8))
        #expect(plan.placeable && plan.placements.map(\.nodeName) == ["dry-node"] && plan.namespace == "default")

        #expect(try await e2e.cluster.client.jobs().isEmpty, "a dry run stores no job")
        let module = try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/specs/dry.wasm"))
        let digest = SHA256.hash(data: module).map { String(format: "%02x", $0) }.joined()
        let blob = try await e2e.cluster.client.exchange("GET", "/v1/blobs/\(digest)")
        #expect(blob.status == 404, "a dry run uploads no module")
    }

    @Test func aJobNoNodeCanRunExitsTwoWithTheReasons() async throws {
        let e2e = try await E2E.withOneNode("lonely-node")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile(
            "nowhere", "version: v1\nname: nowhere\ninputs: [{dataset: patients, target: /data}]\nengine: {type: wasm, module: ./nowhere.wasm}\n",
            wat: Modules.hello)

        let dry = try e2e.cli(["job", "run", "--dry-run", spec])
        #expect(dry.status == 2, "\(dry.stdout) \(dry.stderr)")
        #expect(dry.stdout.contains("No node can run the job now"), "\(dry.stdout)")
        #expect(dry.stdout.contains("lonely-node") && dry.stdout.contains("dataset \"patients\" not present"), "\(dry.stdout)")
        #expect(try await e2e.cluster.client.jobs().isEmpty)

        // Submitted for real, the job is stored and queued: exit 2 again, the reasons on stderr.
        let run = try e2e.cli(["job", "run", spec])
        #expect(run.status == 2, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("State:  queued"), "\(run.stdout)")
        #expect(run.stderr.contains("is queued") && run.stderr.contains("dataset \"patients\" not present"), "\(run.stderr)")
        #expect(try await e2e.cluster.client.jobs().map(\.state) == [.queued])

        // A spec with a mistake is refused (1), not reported as unplaceable.
        let broken = try e2e.specFile("broken", "version: v1\nname: broken\nengine: {type: wasm}\n")
        let refused = try e2e.cli(["job", "run", "--dry-run", broken])
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("engine.module"), "\(refused.stderr)")
    }

    @Test func dryRunRefusesFlagsThatOnlyMeanSomethingForASubmission() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let result = try e2e.cli(["job", "run", "--dry-run", "--wait", "spec.yaml"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("--dry-run submits nothing"), "\(result.stderr)")
    }
}
