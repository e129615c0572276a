import Foundation
import InsituAPI
import InsituAudit
import InsituClient
import InsituLocalCluster
import InsituModel
import Testing

/// Issue 8, item 3 on real processes: an orchestrator started without `--dev` demands a token on
/// every request, and each way a request can fall short is refused with the right status and a
/// message that says what to do.
@Suite(.serialized) struct APIAuthenticationTests {
    /// The orchestrator's audit entries for refused requests with `code`.
    private func refusals(_ e2e: E2E, code: String) throws -> [AuditEntry] {
        let read = AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/orchestrator/audit.log"))))
        #expect(read.problem == nil)
        return read.entries.filter { $0.event.action == "request.refused" && $0.event.details["code"]?.string == code }
    }

    private func createToken(_ e2e: E2E, _ arguments: [String], token: String? = nil) throws -> CreatedToken {
        let run = try e2e.cli(["token", "create", "-o", "json"] + arguments, token: token)
        #expect(run.status == 0, "token create failed: \(run.stderr)")
        return try JSONDecoder().decode(CreatedToken.self, from: Data(run.stdout.utf8))
    }

    @Test func requestsWithoutAValidTokenAreRefusedWith401() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let admin = try #require(e2e.cluster.adminToken, "the first start prints an administrator token")
        let anonymous = e2e.cluster.client(token: nil)

        // The health probe needs no token; everything else does.
        #expect(try await anonymous.health()["status"] == "ok")
        let missing = await apiFailure { try await anonymous.jobs() }
        #expect(missing?.status == 401 && missing?.code == "token_missing", "\(String(describing: missing))")
        #expect(missing?.message.contains("Authorization: Bearer") == true)

        let malformed = await apiFailure { try await e2e.cluster.client(token: "letmein").nodes() }
        #expect(malformed?.status == 401 && malformed?.code == "token_malformed")

        // A well-formed token the orchestrator never issued, and the real ID with a wrong secret.
        let forged = "insitu_" + admin.dropFirst(7).prefix(16) + "_" + String(repeating: "A", count: 43)
        let wrongSecret = await apiFailure { try await e2e.cluster.client(token: forged).nodes() }
        #expect(wrongSecret?.status == 401 && wrongSecret?.code == "token_invalid")

        // The CLI says the same to a person.
        let cli = try e2e.cli(["job", "list"], token: "")
        #expect(cli.status != 0)
        #expect(cli.stderr.contains("needs a token") && cli.stderr.contains("insitu token create"), "\(cli.stderr)")

        // Each refusal left an audit entry; the presented token's ID, never its secret.
        #expect(try refusals(e2e, code: "token_missing").count >= 2)
        #expect(try refusals(e2e, code: "token_malformed").count == 1)
        let invalid = try refusals(e2e, code: "token_invalid")
        #expect(invalid.count == 1 && invalid.first?.event.details["token"]?.string == String(admin.dropFirst(7).prefix(16)))
        let auditText = try String(contentsOfFile: e2e.root + "/orchestrator/audit.log", encoding: .utf8)
        #expect(!auditText.contains(String(admin.suffix(43))) && !auditText.contains(String(repeating: "A", count: 43)))

        // The administrator token works, and the orchestrator never prints it again.
        #expect(try e2e.cli(["node", "list"]).status == 0)
        e2e.cluster.killOrchestrator(signal: SIGTERM)
        try await e2e.cluster.startOrchestrator()
        #expect(e2e.cluster.adminToken == admin)
        #expect(!e2e.cluster.orchestrator!.log().contains(admin), "the token never reaches the log")
        #expect(try await e2e.cluster.client.whoami().tokenName == "bootstrap-admin")
    }

    @Test func expiredAndRevokedTokensAreRefused() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()

        let revocable = try createToken(e2e, ["--name", "revocable", "--scopes", "job:read"])
        let client = e2e.cluster.client(token: revocable.token)
        #expect(try await client.jobs().isEmpty)
        let revoke = try e2e.cli(["token", "revoke", revocable.info.id])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        let revoked = await apiFailure { try await client.jobs() }
        #expect(revoked?.status == 401 && revoked?.code == "token_revoked", "\(String(describing: revoked))")

        // Expiry follows the orchestrator's clock; wait for it to pass the token's expiry.
        let shortLived = try createToken(e2e, ["--name", "short", "--scopes", "job:read", "--ttl", "1s"])
        let expiring = e2e.cluster.client(token: shortLived.token)
        let expiry = try #require(shortLived.info.expiresAt)
        try await waitUntil(timeout: .seconds(30), "the token to expire") {
            Int64(Date().timeIntervalSince1970 * 1000) > expiry.milliseconds
        }
        let expired = await apiFailure { try await expiring.jobs() }
        #expect(expired?.status == 401 && expired?.code == "token_expired", "\(String(describing: expired))")

        #expect(try refusals(e2e, code: "token_revoked").first?.event.details["token"]?.string == revocable.info.id)
        // Creating and revoking were recorded, with the administrator's token as the actor.
        let trail = AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/orchestrator/audit.log")))).entries
        let adminID = String(e2e.cluster.adminToken!.dropFirst(7).prefix(16))
        #expect(trail.contains { $0.event.action == "token.create" && $0.event.details["token"]?.string == revocable.info.id && $0.event.actor.id == adminID })
        #expect(trail.contains { $0.event.action == "token.revoke" && $0.event.details["token"]?.string == revocable.info.id && $0.event.actor.id == adminID })
        #expect(try refusals(e2e, code: "token_expired").first?.event.details["token"]?.string == shortLived.info.id)

        let listed = try await e2e.cluster.client.tokens()
        #expect(listed.first { $0.id == revocable.info.id }?.state == .revoked)
        #expect(listed.first { $0.id == shortLived.info.id }?.state == .expired)
        let listing = try e2e.cli(["token", "list"]).stdout
        #expect(!listing.contains(revocable.token) && !listing.contains(String(revocable.token.suffix(43))), "secrets are never listed")
    }

    @Test func aTokenWithoutTheScopeIsRefusedWith403() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let reader = try createToken(e2e, ["--name", "reader", "--scopes", "job:read"])
        let spec = try e2e.specFile("hello", "version: v1\nname: hello\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)

        let submit = try e2e.cli(["job", "run", spec], token: reader.token)
        #expect(submit.status != 0)
        #expect(submit.stderr.contains("lacks the scope job:submit"), "\(submit.stderr)")
        let client = e2e.cluster.client(token: reader.token)
        #expect(await apiFailure { try await client.nodes() }?.status == 403)
        #expect(await apiFailure { try await client.tokens() }?.status == 403)
        #expect(await apiFailure { try await client.stop("j-missing") }?.status == 403, "the scope is checked before the job is looked up")
        // The refusals name the token that tried.
        let scopeRefusals = try refusals(e2e, code: "scope_missing")
        #expect(scopeRefusals.count >= 4)
        #expect(scopeRefusals.allSatisfy { $0.event.actor == AuditActor(kind: .token, id: reader.info.id, namespace: "default") })

        // A token administrator cannot hand out more than it holds.
        let tokenAdmin = try createToken(e2e, ["--name", "delegate", "--namespace", "clinical", "--scopes", "token:admin,job:read"])
        let escalate = try e2e.cli(
            ["token", "create", "--name", "wider", "--namespace", "clinical", "--scopes", "job:submit"], token: tokenAdmin.token)
        #expect(escalate.status != 0)
        #expect(escalate.stderr.contains("only scopes its creator holds"), "\(escalate.stderr)")
        let everywhere = try e2e.cli(["token", "create", "--name", "all", "--namespace", "*", "--scopes", "job:read"], token: tokenAdmin.token)
        #expect(everywhere.stderr.contains("cannot create tokens for *"), "\(everywhere.stderr)")
    }

    @Test func aTokenOfAnotherNamespaceCannotSeeAJobItsLogsOrResults() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        try e2e.cluster.startAgent(name: "site")
        try await e2e.cluster.waitForNodes(1)
        let spec = try e2e.specFile(
            "hello", "version: v1\nname: hello\nengine: {type: wasm, module: ./hello.wasm}\n", wat: Modules.hello)
        let id = try e2e.submit(spec)
        let done = try await e2e.waitForState(id) { $0.isTerminal }
        #expect(done.job.state == .completed, "\(done.executions.map { $0.stateReason ?? "" })")
        let file = try #require(try await e2e.cluster.client.results(id).first?.files.first)

        let outsider = e2e.cluster.client(
            token: try createToken(e2e, ["--name", "outsider", "--namespace", "research", "--scopes", "job:read"]).token)
        for (what, status) in [
            ("job", await apiFailure { try await outsider.job(id) }?.status),
            ("history", await apiFailure { try await outsider.history(id) }?.status),
            ("logs", await apiFailure { try await outsider.logs(id, after: 0) }?.status),
            ("results", await apiFailure { try await outsider.results(id) }?.status),
            ("result file", await apiFailure { try await outsider.resultFile(job: id, digest: file.digest) }?.status),
            ("blob", await apiFailure { try await outsider.blob(file.digest) }?.status),
        ] {
            #expect(status == 404, "\(what) of another namespace's job answered \(String(describing: status))")
        }
        #expect(try await outsider.jobs().isEmpty, "the list shows no other namespace's jobs")
        let hidden = try refusals(e2e, code: "not_found").filter { $0.event.actor.namespace == "research" }
        #expect(hidden.count >= 6, "each refused read of another namespace's job is audited")

        // The submission was recorded with the administrator's token.
        let audit = AuditVerifier.entries(Array(try Data(contentsOf: URL(fileURLWithPath: e2e.root + "/orchestrator/audit.log")))).entries
        let submit = try #require(audit.first { $0.event.action == "job.submit" })
        #expect(submit.event.actor.kind == .token && submit.event.actor.id == String(e2e.cluster.adminToken!.dropFirst(7).prefix(16)))
        let described = try e2e.cli(["job", "describe", id], token: try createToken(e2e, ["--name", "o2", "--namespace", "research", "--scopes", "job:read"]).token)
        #expect(described.status != 0 && described.stderr.contains("does not exist in namespace research"), "\(described.stderr)")

        // A reader of the job's own namespace reads it all, result files through the job.
        let insider = e2e.cluster.client(
            token: try createToken(e2e, ["--name", "insider", "--namespace", "default", "--scopes", "job:read"]).token)
        #expect(try await insider.job(id).job.id.rawValue == id)
        #expect(try await insider.resultFile(job: id, digest: file.digest) == (try await e2e.cluster.client.blob(file.digest)))
        #expect(await apiFailure { try await insider.blob(file.digest) }?.status == 404, "the digest route is for every-namespace callers")
        let results = try e2e.cli(["job", "results", id, "--dest", e2e.root + "/fetched"], token: try createToken(e2e, ["--name", "i2", "--scopes", "job:read"]).token)
        #expect(results.status == 0, "\(results.stderr)")
    }

    /// A token confined to a namespace submits into it: a spec without `namespace` lands there,
    /// one naming another namespace is refused; its jobs are invisible to other namespaces.
    @Test func aNamespacedTokenSubmitsIntoItsOwnNamespaceOnly() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let research = try createToken(e2e, ["--name", "research", "--namespace", "research", "--scopes", "job:submit,job:read"])
        let plain = try e2e.specFile("plain", "version: v1\nname: plain\nengine: {type: wasm, module: ./plain.wasm}\n", wat: Modules.hello)
        let run = try e2e.cli(["job", "run", plain, "-o", "json"], token: research.token)
        // Stored, and queued: this cluster has no node (exit 2, as Nomad's placement failures).
        #expect(run.status == 2, "\(run.stderr)")
        let id = try JSONDecoder().decode(SubmitJobResponse.self, from: Data(run.stdout.utf8)).jobID.rawValue
        #expect(try await e2e.cluster.client.job(id).job.spec.namespace == "research")
        #expect(try await e2e.cluster.client(token: research.token).jobs().map(\.id.rawValue) == [id])

        let elsewhere = try e2e.specFile(
            "elsewhere", "version: v1\nname: elsewhere\nnamespace: clinical\nengine: {type: wasm, module: ./elsewhere.wasm}\n",
            wat: Modules.hello)
        let refused = try e2e.cli(["job", "run", elsewhere], token: research.token)
        #expect(refused.status != 0 && refused.stderr.contains("cannot submit into clinical"), "\(refused.stderr)")
        // A dry run is held to the same rule: it would show where another namespace's job runs.
        let planned = try e2e.cli(["job", "run", "--dry-run", elsewhere], token: research.token)
        #expect(planned.status == 1 && planned.stderr.contains("cannot submit into clinical"), "\(planned.stderr)")

        let clinicalReader = e2e.cluster.client(
            token: try createToken(e2e, ["--name", "clinical", "--namespace", "clinical", "--scopes", "job:read"]).token)
        #expect(try await clinicalReader.jobs().isEmpty)
        #expect(await apiFailure { try await clinicalReader.job(id) }?.status == 404)
    }

    /// `insitu login` checks the token, keeps it in a context file only its owner can read, and
    /// later commands use it; a readable file is refused rather than trusted.
    @Test func loginKeepsTheTokenInAContextFileOnlyItsOwnerCanRead() async throws {
        let e2e = try E2E.make(requireTokens: true)
        defer { e2e.tearDown() }
        try await e2e.cluster.startOrchestrator()
        let reader = try createToken(e2e, ["--name", "reader", "--scopes", "job:read,node:read"])
        let bare: [String: String?] = ["INSITU_API": nil, "INSITU_TOKEN": nil, "INSITU_CA_CERT": nil]
        let caPath = try #require(e2e.cluster.caPath)

        let wrong = try e2e.cli(["login", "--api", e2e.cluster.apiURL, "--ca-cert", caPath], environment: bare, stdin: "insitu_0123456789abcdef_" + String(repeating: "x", count: 43) + "\n")
        #expect(wrong.status != 0 && wrong.stderr.contains("not known"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: e2e.root + "/cli-config.yaml"), "a refused token is not stored")

        let login = try e2e.cli(["login", "--api", e2e.cluster.apiURL, "--ca-cert", caPath, "--context", "lab"], environment: bare, stdin: reader.token + "\n")
        #expect(login.status == 0, "\(login.stderr)")
        let path = e2e.root + "/cli-config.yaml"
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("current-context: lab"))

        // Later commands need neither --api nor --token.
        let listed = try e2e.cli(["node", "list"], environment: bare)
        #expect(listed.status == 0, "\(listed.stderr)")
        // The stored token goes only to the address it was stored for: the same server under
        // another name gets no token.
        let otherName = e2e.cluster.apiURL.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        let elsewhere = try e2e.cli(["node", "list", "--api", otherName, "--ca-cert", caPath], environment: bare)
        #expect(elsewhere.status != 0 && elsewhere.stderr.contains("needs a token"), "\(elsewhere.stderr)")

        chmod(path, 0o644)
        let exposed = try e2e.cli(["node", "list"], environment: bare)
        #expect(exposed.status != 0 && exposed.stderr.contains("chmod 600"), "\(exposed.stderr)")
        chmod(path, 0o600)
        #expect(try e2e.cli(["logout"], environment: bare).status == 0)
        let loggedOut = try e2e.cli(["node", "list"], environment: bare)
        #expect(loggedOut.status != 0 && loggedOut.stderr.contains("needs a token"), "\(loggedOut.stderr)")
    }

    @Test func devModeServesLoopbackOnly() throws {
        let e2e = try E2E.make()
        defer { e2e.tearDown() }
        let run = try e2e.cli(["orchestrator", "--dev", "--host", "0.0.0.0", "--port", "0", "--data-dir", e2e.root + "/state"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("loopback only") && run.stderr.contains("0.0.0.0"), "\(run.stderr)")
    }
}
