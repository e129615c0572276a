import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 9, item 2 on the real binary: what goes wrong while a daemon starts, or while the CLI
/// reaches for one, is reported with the address or path, the cause in words and what to try,
/// never as `bind(descriptor:ptr:bytes:)` or `NSCocoaErrorDomain Code=4`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ActionableErrorTests {
    /// A socket listening on a free loopback port, held until `close`, so the port is taken.
    struct TakenPort {
        let descriptor: Int32
        let port: Int

        init() throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let fd = descriptor
            try withUnsafeMutablePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    guard bind(fd, raw, length) == 0, listen(fd, 1) == 0, getsockname(fd, raw, &length) == 0 else {
                        throw CocoaError(.fileWriteUnknown)
                    }
                }
            }
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        func close() { _ = Glibc.close(descriptor) }
    }

    /// Problem 5: a taken port came out as `bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)`.
    @Test func aTakenPortIsNamedWithWhatToTry() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let taken = try TakenPort()
        defer { taken.close() }
        let result = try e2e.cli(["orchestrator", "--dev", "--port", "\(taken.port)", "--data-dir", e2e.root + "/state"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(taken.port): the port is already in use"), "\(result.stderr)")
        #expect(result.stderr.contains("choose another --port"), "\(result.stderr)")
        #expect(!result.stderr.contains("bind(descriptor"), "\(result.stderr)")
    }

    /// The metrics listener's port is named against its own flag, not `--port`.
    @Test func aTakenMetricsPortIsNamedAgainstItsFlag() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let taken = try TakenPort()
        defer { taken.close() }
        let result = try e2e.cli([
            "orchestrator", "--dev", "--port", "0", "--metrics-listen", "127.0.0.1:\(taken.port)", "--data-dir", e2e.root + "/state",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(taken.port): the port is already in use"), "\(result.stderr)")
        #expect(result.stderr.contains("--metrics-listen"), "\(result.stderr)")
    }

    /// Problem 5: `--port 99999` listened on some other port (the value wrapped around).
    @Test func anOutOfRangePortIsRefusedAtParseTime() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        for port in ["99999", "-1"] {
            let result = try e2e.cli(["orchestrator", "--dev", "--port=\(port)", "--data-dir", e2e.root + "/state"])
            #expect(result.status == 64, "\(port): \(result.stderr)")
            #expect(result.stderr.contains("--port \(port) is out of range: use 1 to 65535, or 0 for any free port"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: e2e.root + "/state"), "nothing started")
    }

    /// Problem 5: a data directory that cannot be made came out as `NSCocoaErrorDomain Code=4`.
    @Test func anUnusableDataDirectoryIsNamedForOrchestratorAndAgent() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        // /proc refuses new directories even to root, so this holds however the tests run.
        let orchestrator = try e2e.cli(["orchestrator", "--dev", "--port", "0", "--data-dir", "/proc/insitu-test/state"])
        #expect(orchestrator.status == 1, "\(orchestrator.stderr)")
        #expect(orchestrator.stderr.contains("cannot create --data-dir /proc/insitu-test/state: No such file or directory"), "\(orchestrator.stderr)")
        #expect(!orchestrator.stderr.contains("NSCocoaErrorDomain") && !orchestrator.stderr.contains("Usage:"), "\(orchestrator.stderr)")

        let file = e2e.root + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let onFile = try e2e.cli(["orchestrator", "--dev", "--port", "0", "--data-dir", file])
        #expect(onFile.stderr.contains("--data-dir \(file) is a file, not a directory"), "\(onFile.stderr)")

        let config = e2e.root + "/node.yaml"
        try Data("name: n1\norchestrators: [\"http://127.0.0.1:1\"]\ndata_dir: /proc/insitu-test/node\n".utf8)
            .write(to: URL(fileURLWithPath: config))
        let agent = try e2e.cli(["agent", "--config", config])
        #expect(agent.status == 1, "\(agent.stderr)")
        #expect(agent.stderr.contains("cannot create data_dir (\(config)) /proc/insitu-test/node: No such file or directory"), "\(agent.stderr)")
        #expect(!agent.stderr.contains("NSCocoaErrorDomain"), "\(agent.stderr)")
    }

    /// A missing `--tls-cert` came out as `failedToLoadCertificate` followed by the usage text.
    @Test func aMissingCertificateFileIsNamed() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let result = try e2e.cli([
            "orchestrator", "--port", "0", "--tls-cert", e2e.root + "/missing.pem", "--tls-key", e2e.root + "/missing.key",
            "--data-dir", e2e.root + "/state",
        ])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("cannot read --tls-cert \(e2e.root)/missing.pem: no such file"), "\(result.stderr)")
        #expect(!result.stderr.contains("Usage:"), "a file that is missing is not a usage mistake: \(result.stderr)")
    }

    /// Problem 6: with nothing listening, the CLI blamed TLS ("closed the connection without
    /// answering ... use https://"), sending the user after the wrong cause.
    @Test func nothingListeningIsNamedAndNotBlamedOnTLS() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let port = try ServeTests().freePort()
        let result = try e2e.cli(["job", "list", "--api", "http://127.0.0.1:\(port)"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("nothing is listening at http://127.0.0.1:\(port) (connection refused)"), "\(result.stderr)")
        #expect(!result.stderr.contains("https://"), "\(result.stderr)")
    }
}
