import Foundation
import InsituTLS
import Testing
import X509

@Suite struct ClusterCATests {
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    private func validate(_ leaf: Certificate, roots: [Certificate], hostname: String?, ip: String? = nil, at time: Date) async -> Bool {
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(validationTime: time)
            ServerIdentityPolicy(serverHostname: hostname, serverIP: ip)
        }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore()) {
        case .validCertificate: return true
        case .couldNotValidate: return false
        }
    }

    @Test func theServerCertificateChainsToTheClusterCAForItsNamesOnly() async throws {
        let ca = try ClusterCA.create(now: now)
        let server = try ca.issueServerCertificate(names: ["localhost", "orchestrator.example", "127.0.0.1", "::1"], now: now)
        #expect(await validate(server.certificate, roots: [ca.certificate], hostname: "localhost", at: now))
        #expect(await validate(server.certificate, roots: [ca.certificate], hostname: "orchestrator.example", at: now))
        #expect(await validate(server.certificate, roots: [ca.certificate], hostname: nil, ip: "127.0.0.1", at: now))
        #expect(!(await validate(server.certificate, roots: [ca.certificate], hostname: "other.example", at: now)))
        // Another cluster's CA does not vouch for it, and it expires.
        let stranger = try ClusterCA.create(now: now)
        #expect(!(await validate(server.certificate, roots: [stranger.certificate], hostname: "localhost", at: now)))
        #expect(!(await validate(server.certificate, roots: [ca.certificate], hostname: "localhost", at: now.addingTimeInterval(ClusterCA.serverValidity + 3600))))
        #expect(Set(OrchestratorTLSMaterial.coveredNames(server.certificate)) == ["localhost", "orchestrator.example", "127.0.0.1", "::1"])
    }

    @Test func theFingerprintIsTheSHA256OfTheCertificate() throws {
        let ca = try ClusterCA.create(now: now)
        #expect(ca.fingerprint.hasPrefix("sha256:") && ca.fingerprint.utf8.count == 7 + 64)
        #expect(ca.fingerprint != (try ClusterCA.create(now: now)).fingerprint)
    }
}

@Suite struct OrchestratorTLSMaterialTests {
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func theFirstStartCreatesTheMaterialAndLaterStartsKeepIt() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/tls"
        let first = try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost", "127.0.0.1"], now: now)
        #expect(try mode(directory + "/ca.key") == 0o600)
        #expect(try mode(directory + "/server.key") == 0o600)
        #expect(try mode(directory) == 0o700)

        let again = try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["127.0.0.1", "localhost"], now: now.addingTimeInterval(60))
        #expect(again.ca.fingerprint == first.ca.fingerprint)
        #expect(again.serverCertificate == first.serverCertificate, "same names, far from expiry: the certificate is kept")

        // New names, or an expiry within 30 days, issue a new server certificate under the same CA.
        let renamed = try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost", "127.0.0.1", "node.example"], now: now)
        #expect(renamed.ca.fingerprint == first.ca.fingerprint)
        #expect(renamed.serverCertificate != first.serverCertificate)
        let late = now.addingTimeInterval(ClusterCA.serverValidity - 10 * 24 * 3600)
        let renewed = try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost", "127.0.0.1", "node.example"], now: late)
        #expect(renewed.serverCertificate != renamed.serverCertificate)
        #expect(renewed.serverCertificate.notValidAfter > late.addingTimeInterval(300 * 24 * 3600))
    }

    @Test func aReadableOrLinkedPrivateKeyIsRefused() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/tls"
        _ = try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost"], now: now)
        chmod(directory + "/ca.key", 0o644)
        #expect {
            try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost"], now: now)
        } throws: { "\($0)".contains("chmod 600") }

        chmod(directory + "/ca.key", 0o600)
        try FileManager.default.moveItem(atPath: directory + "/ca.key", toPath: root + "/elsewhere.key")
        try FileManager.default.createSymbolicLink(atPath: directory + "/ca.key", withDestinationPath: root + "/elsewhere.key")
        #expect {
            try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost"], now: now)
        } throws: { "\($0)".contains("symbolic link") }
    }

    @Test func aCAWhoseKeyIsMissingIsNotSilentlyReplaced() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/tls"
        _ = try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost"], now: now)
        try FileManager.default.removeItem(atPath: directory + "/ca.key")
        #expect {
            try OrchestratorTLSMaterial.loadOrCreate(directory: directory, names: ["localhost"], now: now)
        } throws: { "\($0)".contains("restore ca.crt and ca.key") }
    }
}
