import Foundation
import InsituAPI
import InsituModel
import Testing

/// Issue 9, problem 4: `job describe -o yaml` output went back into `job run` with 9 problems
/// (`timeoutMillis`, `engine.kind`, ...), and JSON times were epoch milliseconds.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DescribeRoundTripTests {
    @Test func describeOutputRunsAgainAsTheSameSpec() async throws {
        let e2e = try await E2E.withOneNode("trip-node")
        defer { e2e.tearDown() }
        let spec = try e2e.specFile(
            "trip",
            """
            version: v1
            name: trip
            engine: {type: wasm, module: ./trip.wasm, memory: 32Mi}
            args: [one, "two words"]
            env: {GREETING: "hello: world"}
            timeout: 90s
            retry: {attempts: 2, delay: 250ms}
            resources: {cpu: 250m, memory: 16Mi}
            """,
            wat: Modules.hello)
        let id = try e2e.submit(spec)
        let first = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(first.job.state == .completed)

        for format in ["yaml", "json"] {
            let described = try e2e.cli(["job", "describe", id, "-o", format])
            #expect(described.status == 0, "\(described.stderr)")
            let run = try e2e.cli(["job", "run", "-", "-o", "json"], stdin: described.stdout)
            #expect(run.status == 0, "\(format): \(run.stderr)")
            #expect(run.stderr.contains("submitting the spec of job \(id)"), "\(run.stderr)")
            let again = try JSONDecoder().decode(SubmitJobResponse.self, from: Data(run.stdout.utf8)).jobID
            #expect(again.rawValue != id)
            #expect(try await e2e.cluster.client.job(again.rawValue).job.spec == first.job.spec, "\(format): the same spec runs again")
        }

        // The table names each execution's node and how long it ran.
        let table = try e2e.cli(["job", "describe", id])
        let header = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("ID ") && $0.contains("PARTITION") })
        #expect(header.contains("DURATION"), "\(table.stdout)")
        let row = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("\(id)-p0-a1") })
        #expect(row.contains("trip-node") && row.contains("succeeded") && row.range(of: #" \d+s "#, options: .regularExpression) != nil, "\(row)")

        // Times are RFC 3339 text in the API and in the CLI's JSON.
        let json = try e2e.cli(["job", "describe", id, "-o", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let job = try #require(object["job"] as? [String: Any])
        let created = try #require(job["createdAt"] as? String, "createdAt is text: \(job["createdAt"] ?? "nil")")
        #expect(Timestamp(rfc3339: created) == first.job.createdAt, "\(created)")
        let raw = try await e2e.cluster.client.exchange("GET", "/v1/jobs/\(id)")
        let apiJob = try #require((try JSONSerialization.jsonObject(with: raw.body) as? [String: Any])?["job"] as? [String: Any])
        #expect((apiJob["updatedAt"] as? String).flatMap(Timestamp.init(rfc3339:)) == first.job.updatedAt)
    }
}
