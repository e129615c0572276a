import Foundation
import InsituAuth
import InsituModel
import InsituStore
import InsituStoreSQLite
import Testing

@Suite struct TokenStoreTests {
    private func record(_ id: String, scopes: Set<Scope> = [.jobRead, .jobSubmit]) -> TokenRecord {
        TokenRecord(
            id: id, name: "name-\(id)", namespace: "clinical", scopes: scopes, createdAt: Timestamp(milliseconds: 10),
            expiresAt: Timestamp(milliseconds: 1_000), secretHash: String(repeating: "a", count: 64))
    }

    @Test func tokensAreStoredReadAndRevokedOnce() async throws {
        let store = try SQLiteStore.inMemory()
        try await store.insertToken(record("0000000000000001"))
        try await store.insertToken(record("0000000000000002", scopes: Set(Scope.allCases)))
        #expect(try await store.token(id: "0000000000000001") == record("0000000000000001"))
        #expect(try await store.token(id: "0000000000000002")?.scopes == Set(Scope.allCases))
        #expect(try await store.token(id: "ffffffffffffffff") == nil)
        #expect(try await store.tokens().map(\.id) == ["0000000000000001", "0000000000000002"])

        let revoked = try await store.revokeToken(id: "0000000000000001", at: Timestamp(milliseconds: 50))
        #expect(revoked?.revokedAt == Timestamp(milliseconds: 50))
        let again = try await store.revokeToken(id: "0000000000000001", at: Timestamp(milliseconds: 90))
        #expect(again?.revokedAt == Timestamp(milliseconds: 50), "a second revocation keeps the first time")
        #expect(try await store.revokeToken(id: "ffffffffffffffff", at: Timestamp(milliseconds: 90)) == nil)
    }

    @Test func aSecondTokenWithTheSameIDIsAConflictAndChangesNothing() async throws {
        let store = try SQLiteStore.inMemory()
        try await store.insertToken(record("0000000000000001"))
        var other = record("0000000000000001")
        other.secretHash = String(repeating: "b", count: 64)
        await #expect(throws: StoreError.self) { try await store.insertToken(other) }
        #expect(try await store.token(id: "0000000000000001")?.secretHash == String(repeating: "a", count: 64))
    }

    @Test func tokensSurviveReopening() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-tokens-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try SQLiteStore(path: directory + "/state.sqlite")
            try await store.insertToken(record("0000000000000001"))
        }
        let reopened = try SQLiteStore(path: directory + "/state.sqlite")
        #expect(try await reopened.token(id: "0000000000000001") == record("0000000000000001"))
    }
}
