import InsituAuth
import InsituModel
import Testing

@Suite struct PresentedTokenTests {
    private let token = PresentedToken(idBytes: Array(0..<8), secretBytes: Array(100..<132))

    @Test func aNewTokenRoundTripsThroughItsText() throws {
        #expect(token.text.hasPrefix("insitu_0001020304050607_"))
        #expect(token.text.utf8.count == 7 + 16 + 1 + 43)
        let parsed = try #require(PresentedToken(token.text))
        #expect(parsed == token)
        #expect(parsed.secretHash == token.secretHash)
        #expect(token.secretHash.utf8.count == 64)
    }

    @Test(arguments: [
        "", "insitu_", "Bearer x", "insitu_0001020304050607-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "insitu_000102030405060G_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "insitu_0001020304050607_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "insitu_0001020304050607_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "insitu_0001020304050607_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé",
        "INSITU_0001020304050607_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ])
    func malformedTextIsNoToken(_ text: String) {
        #expect(PresentedToken(text) == nil)
    }

    @Test func hashesAreComparedWholeAndOnlyWhole() {
        let hash = token.secretHash
        #expect(PresentedToken.constantTimeEqual(hash, hash))
        #expect(!PresentedToken.constantTimeEqual(hash, String(hash.dropLast()) + (hash.last == "0" ? "1" : "0")))
        #expect(!PresentedToken.constantTimeEqual(hash, String(hash.dropLast())))
        #expect(!PresentedToken.constantTimeEqual(hash, ""))
    }
}

@Suite struct AuthenticationTests {
    private let presented = PresentedToken(idBytes: [1, 2, 3, 4, 5, 6, 7, 8], secretBytes: Array(repeating: 7, count: 32))
    private let now = Timestamp(milliseconds: 1_000_000)

    private func record(expiresAt: Timestamp? = nil, revokedAt: Timestamp? = nil) -> TokenRecord {
        TokenRecord(
            id: presented.id, name: "ci", namespace: "clinical", scopes: [.jobRead], createdAt: Timestamp(milliseconds: 0),
            expiresAt: expiresAt, revokedAt: revokedAt, secretHash: presented.secretHash)
    }

    private func authenticate(_ header: String?, _ stored: TokenRecord?) -> Result<Caller, AuthFailure> {
        Authorization.authenticate(header: header, record: { $0 == stored?.id ? stored : nil }, now: now)
    }

    private func code(_ result: Result<Caller, AuthFailure>) -> String? {
        if case .failure(let failure) = result { return failure.code }
        return nil
    }

    @Test func aValidTokenEstablishesItsCaller() throws {
        let caller = try authenticate("Bearer \(presented.text)", record()).get()
        #expect(caller.kind == .token)
        #expect(caller.tokenID == presented.id)
        #expect(caller.namespace == "clinical")
        #expect(caller.scopes == [.jobRead])
        #expect((try? authenticate("bearer \(presented.text)", record()).get()) != nil, "the scheme is case-insensitive")
    }

    @Test func eachRefusalSaysWhy() {
        #expect(code(authenticate(nil, record())) == "token_missing")
        #expect(code(authenticate("", record())) == "token_missing")
        #expect(code(authenticate("Basic dXNlcjpwYXNz", record())) == "token_malformed")
        #expect(code(authenticate("Bearer nonsense", record())) == "token_malformed")
        #expect(code(authenticate("Bearer \(presented.text)", nil)) == "token_invalid")
        let other = PresentedToken(idBytes: [1, 2, 3, 4, 5, 6, 7, 8], secretBytes: Array(repeating: 8, count: 32))
        #expect(code(authenticate("Bearer \(other.text)", record())) == "token_invalid", "same ID, wrong secret")
    }

    @Test func aTokenExpiresAtItsExpiryAndNotBefore() {
        #expect(code(authenticate("Bearer \(presented.text)", record(expiresAt: Timestamp(milliseconds: now.milliseconds + 1)))) == nil)
        #expect(code(authenticate("Bearer \(presented.text)", record(expiresAt: now))) == "token_expired")
    }

    @Test func aRevokedTokenIsRefusedEvenBeforeItExpires() {
        let revoked = record(expiresAt: Timestamp(milliseconds: now.milliseconds + 3_600_000), revokedAt: Timestamp(milliseconds: 5))
        #expect(code(authenticate("Bearer \(presented.text)", revoked)) == "token_revoked")
    }
}

@Suite struct AuthorizationDecisionTests {
    private let reader = Caller(kind: .token, tokenID: "t1", tokenName: "r", namespace: "clinical", scopes: [.jobRead])

    @Test func theScopeMustBeHeld() {
        #expect(Authorization.authorize(reader, .jobRead) == nil)
        let failure = Authorization.authorize(reader, .jobSubmit)
        #expect(failure?.kind == .forbidden)
        #expect(failure?.message.contains("job:submit") == true)
    }

    @Test func anotherNamespacesThingsLookAbsent() {
        #expect(Authorization.authorize(reader, .jobRead, namespace: "clinical") == nil)
        let failure = Authorization.authorize(reader, .jobRead, namespace: "research", what: "job j-1")
        #expect(failure?.kind == .notInNamespace)
        #expect(failure?.message == "job j-1 does not exist in namespace clinical")
    }

    /// Without the scope the answer is the same whether or not the namespace matches, so it
    /// reveals nothing about what exists elsewhere.
    @Test func aMissingScopeIsReportedBeforeTheNamespace() {
        #expect(Authorization.authorize(reader, .jobSubmit, namespace: "research")?.kind == .forbidden)
    }

    @Test func developmentAndAllNamespaceCallersSeeEverything() {
        #expect(Authorization.authorize(.development, .tokenAdmin, namespace: "anything") == nil)
        #expect(Caller.development.visibleNamespace == nil)
        #expect(reader.visibleNamespace == "clinical")
    }
}

@Suite struct ScopeAndNamespaceTests {
    @Test func scopeListsParseAndUnknownNamesAreNamed() throws {
        #expect(try Scope.parseList("job:read, job:submit").get() == [.jobRead, .jobSubmit])
        #expect(try Scope.parseList("*").get() == Set(Scope.allCases))
        guard case .failure(let unknown) = Scope.parseList("job:read,jobs:write") else {
            Issue.record("an unknown scope was accepted")
            return
        }
        #expect(unknown.names == ["jobs:write"])
        #expect(unknown.description.contains("known: job:submit"))
    }

    @Test(arguments: ["default", "clinical-2", "a", String(repeating: "a", count: 63)])
    func validNamespaces(_ name: String) {
        #expect(Namespace.problem(with: name) == nil)
    }

    @Test(arguments: ["", "-lead", "Upper", "with space", "dot.ted", "*", String(repeating: "a", count: 64), "é"])
    func invalidNamespaces(_ name: String) {
        #expect(Namespace.problem(with: name) != nil)
    }
}
