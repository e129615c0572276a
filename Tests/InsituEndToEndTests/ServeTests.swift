import Foundation
import InsituAPI
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// `insitu serve`: the embedded default, an orchestrator and one compute node in one process.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ServeTests {
    @Test func servedSingleProcessClusterRunsADatasetJob() async throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let expected = try SyntheticPatients(site: "local", rows: 150, seed: 3).write(to: e2e.root + "/patients")
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: e2e.cluster.executable)
        process.arguments = [
            "serve", "--dev", "--port", "\(port)", "--data-dir", e2e.root + "/state", "--dataset", "patients=\(e2e.root)/patients",
            "--label", "site=local",
        ]
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let client = InsituClient(baseURL: "http://127.0.0.1:\(port)")
        try await waitUntil(timeout: .seconds(30), "the served node to connect") {
            ((try? await client.nodes()) ?? []).contains { $0.liveness == .connected && $0.labels["site"] == "local" }
        }
        let digest = try await client.uploadModule(try Data(contentsOf: URL(fileURLWithPath: E2E.demoModule))).digest
        let submitted = try await client.submit(
            SubmitJobRequest(
                spec: """
                    version: v1
                    name: served
                    inputs: [{dataset: patients, target: /data}]
                    engine: {type: wasm, module: "sha256:\(digest.rawValue)"}
                    outputs: [{name: counts, path: /outputs}]
                    """))
        var summary = try await client.wait(submitted.jobID.rawValue)
        while !summary.state.isTerminal { summary = try await client.wait(submitted.jobID.rawValue) }
        #expect(summary.state == .completed, "\(summary.stateReason ?? "")")
        let results = try await client.results(submitted.jobID.rawValue)
        let file = try #require(results.first?.files.first { $0.path == "outputs/counts/counts.json" })
        let counts = try JSONDecoder().decode(ClusterTests.CountsFile.self, from: try await client.blob(file.digest))
        #expect(counts.counts == expected)
    }

    /// A port nothing listens on right now, found by binding port 0.
    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0, getsockname(fd, raw, &length) == 0 else {
                    throw LocalClusterError("cannot find a free port: errno \(errno)")
                }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
