import GRDB
public import InsituAuth
public import InsituModel
public import InsituStore

extension SQLiteStore: TokenStore {
    public func insertToken(_ record: TokenRecord) async throws {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM api_tokens WHERE id = ?", arguments: [record.id]) != nil {
                throw StoreError("a token with ID \(record.id) exists already", kind: .conflict)
            }
            try db.execute(
                sql: """
                    INSERT INTO api_tokens (id, name, namespace, scopes, created_at, expires_at, revoked_at, secret_hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.id, record.name, record.namespace, Self.encode(record.scopes), record.createdAt.milliseconds,
                    record.expiresAt?.milliseconds, record.revokedAt?.milliseconds, record.secretHash,
                ])
        }
    }

    public func token(id: String) async throws -> TokenRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "\(Self.selectTokens) WHERE id = ?", arguments: [id]).map(Self.decodeToken)
        }
    }

    public func tokens() async throws -> [TokenRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "\(Self.selectTokens) ORDER BY created_at, id").map(Self.decodeToken)
        }
    }

    public func revokeToken(id: String, at time: Timestamp) async throws -> TokenRecord? {
        try await write { db in
            try db.execute(
                sql: "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                arguments: [time.milliseconds, id])
            return try Row.fetchOne(db, sql: "\(Self.selectTokens) WHERE id = ?", arguments: [id]).map(Self.decodeToken)
        }
    }

    /// One durable transaction outside the commit queue, for records that change rarely and on
    /// their own (API tokens, join tokens, node identities).
    func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await writer.write(body)
        } catch let error as DatabaseError {
            throw StoreError("write failed: \(error)", kind: error.resultCode == .SQLITE_FULL ? .storageFull : .other)
        }
    }

    private static let selectTokens =
        "SELECT id, name, namespace, scopes, created_at, expires_at, revoked_at, secret_hash FROM api_tokens"

    private static func encode(_ scopes: Set<Scope>) -> String {
        scopes.sorted().map(\.rawValue).joined(separator: ",")
    }

    private static func decodeToken(_ row: Row) throws -> TokenRecord {
        let id: String = try row.decode(String.self, atIndex: 0)
        let scopeText: String = try row.decode(String.self, atIndex: 3)
        guard case .success(let scopes) = Scope.parseList(scopeText) else {
            throw StoreError("token \(id) has scopes this version does not know: \(scopeText)")
        }
        return TokenRecord(
            id: id, name: try row.decode(String.self, atIndex: 1), namespace: try row.decode(String.self, atIndex: 2),
            scopes: scopes, createdAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 4)),
            expiresAt: try row.decode(Int64?.self, atIndex: 5).map(Timestamp.init(milliseconds:)),
            revokedAt: try row.decode(Int64?.self, atIndex: 6).map(Timestamp.init(milliseconds:)),
            secretHash: try row.decode(String.self, atIndex: 7))
    }
}
