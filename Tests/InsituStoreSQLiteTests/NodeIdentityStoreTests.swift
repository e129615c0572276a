import Foundation
import InsituAuth
import InsituModel
import InsituStore
import InsituStoreSQLite
import Testing

@Suite struct NodeIdentityStoreTests {
    private func token(_ id: String, uses: Int = 1, expiresAt: Int64 = 10_000) -> JoinTokenRecord {
        JoinTokenRecord(
            id: id, name: "site-\(id)", maxUses: uses, labels: ["site": "berlin"], manualApproval: false,
            createdAt: Timestamp(milliseconds: 10), expiresAt: Timestamp(milliseconds: expiresAt), secretHash: String(repeating: "a", count: 64))
    }

    private func request(_ node: String, token: String, key: String) -> NodeIdentityRecord {
        NodeIdentityRecord(
            nodeID: NodeID(node), name: "edge", state: .approved, joinTokenID: token, publicKeyDigest: key, requestPEM: "PEM",
            labels: ["site": "berlin"], requestedAt: Timestamp(milliseconds: 20), decidedAt: Timestamp(milliseconds: 20))
    }

    @Test func joiningConsumesOneUseAndAskingAgainWithTheSameKeyDoesNot() async throws {
        let store = try SQLiteStore.inMemory()
        try await store.insertJoinToken(token("0000000000000001", uses: 2))
        let first = try await store.join(request("n-01", token: "0000000000000001", key: "k1"), now: Timestamp(milliseconds: 30))
        #expect(first.nodeID == "n-01")
        // The same key again: the same node, under its first ID, no use consumed.
        let again = try await store.join(request("n-99", token: "0000000000000001", key: "k1"), now: Timestamp(milliseconds: 31))
        #expect(again.nodeID == "n-01")
        #expect(try await store.joinToken(id: "0000000000000001")?.uses == 1)
        _ = try await store.join(request("n-02", token: "0000000000000001", key: "k2"), now: Timestamp(milliseconds: 32))
        #expect(try await store.joinToken(id: "0000000000000001")?.uses == 2)

        // The token is spent: a third key is refused, and nothing is stored for it.
        await #expect(throws: AuthFailure.self) {
            try await store.join(self.request("n-03", token: "0000000000000001", key: "k3"), now: Timestamp(milliseconds: 33))
        }
        #expect(try await store.nodeIdentities().map(\.nodeID) == ["n-01", "n-02"])
        #expect(try await store.nodeIdentity("n-03") == nil)
    }

    @Test func racingNodesCannotBothTakeTheLastUse() async throws {
        let store = try SQLiteStore.inMemory()
        try await store.insertJoinToken(token("0000000000000001", uses: 1))
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask {
                    (try? await store.join(
                        self.request("n-\(index)", token: "0000000000000001", key: "k\(index)"), now: Timestamp(milliseconds: 30))) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await store.nodeIdentities().count == 1)
        #expect(try await store.joinToken(id: "0000000000000001")?.uses == 1)
    }

    @Test func expiredAndRevokedTokensAdmitNobody() async throws {
        let store = try SQLiteStore.inMemory()
        try await store.insertJoinToken(token("0000000000000001", expiresAt: 100))
        let expired = await #expect(throws: AuthFailure.self) {
            try await store.join(self.request("n-01", token: "0000000000000001", key: "k1"), now: Timestamp(milliseconds: 100))
        }
        #expect(expired?.code == "join_token_expired")
        try await store.insertJoinToken(token("0000000000000002"))
        #expect(try await store.revokeJoinToken(id: "0000000000000002", at: Timestamp(milliseconds: 50))?.revokedAt == Timestamp(milliseconds: 50))
        let revoked = await #expect(throws: AuthFailure.self) {
            try await store.join(self.request("n-02", token: "0000000000000002", key: "k2"), now: Timestamp(milliseconds: 60))
        }
        #expect(revoked?.code == "join_token_revoked")
        #expect(try await store.revokeJoinToken(id: "ffffffffffffffff", at: Timestamp(milliseconds: 50)) == nil)
    }

    @Test func decisionsAreStoredAndSurviveReopening() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("identity-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try SQLiteStore(path: directory + "/state.sqlite")
            try await store.insertJoinToken(token("0000000000000001"))
            var pending = request("n-01", token: "0000000000000001", key: "k1")
            pending.state = .pending
            pending.decidedAt = nil
            _ = try await store.join(pending, now: Timestamp(milliseconds: 30))
            let approved = try await store.decideNode(
                "n-01", state: .approved, at: Timestamp(milliseconds: 40), certificateExpiresAt: Timestamp(milliseconds: 9_000))
            #expect(approved?.state == .approved && approved?.decidedAt == Timestamp(milliseconds: 40))
            let revoked = try await store.decideNode("n-01", state: .revoked, at: Timestamp(milliseconds: 50), certificateExpiresAt: nil)
            #expect(revoked?.certificateExpiresAt == Timestamp(milliseconds: 9_000), "a decision without a certificate keeps the expiry")
            #expect(try await store.decideNode("n-77", state: .revoked, at: Timestamp(milliseconds: 50), certificateExpiresAt: nil) == nil)
        }
        let reopened = try SQLiteStore(path: directory + "/state.sqlite")
        let node = try #require(try await reopened.nodeIdentity("n-01"))
        #expect(node.state == .revoked && node.labels == ["site": "berlin"] && node.publicKeyDigest == "k1")
        #expect(try await reopened.joinTokens().map(\.labels) == [["site": "berlin"]])
    }
}
