import Foundation
import GRDB
public import InsituAuth
public import InsituModel
public import InsituStore

extension SQLiteStore: NodeIdentityStore {
    public func insertJoinToken(_ record: JoinTokenRecord) async throws {
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM join_tokens WHERE id = ?", arguments: [record.id]) != nil {
                throw StoreError("a join token with ID \(record.id) exists already", kind: .conflict)
            }
            try db.execute(
                sql: """
                    INSERT INTO join_tokens (id, name, max_uses, uses, labels, manual_approval, created_at, expires_at, revoked_at, secret_hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.id, record.name, record.maxUses, record.uses, try Self.encodeLabels(record.labels), record.manualApproval,
                    record.createdAt.milliseconds, record.expiresAt.milliseconds, record.revokedAt?.milliseconds, record.secretHash,
                ])
        }
    }

    public func joinToken(id: String) async throws -> JoinTokenRecord? {
        try await read { db in try Self.fetchJoinToken(db, id: id) }
    }

    public func joinTokens() async throws -> [JoinTokenRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "\(Self.selectJoinTokens) ORDER BY created_at, id").map(Self.decodeJoinToken)
        }
    }

    public func revokeJoinToken(id: String, at time: Timestamp) async throws -> JoinTokenRecord? {
        try await write { db in
            try db.execute(
                sql: "UPDATE join_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", arguments: [time.milliseconds, id])
            return try Self.fetchJoinToken(db, id: id)
        }
    }

    public func join(_ request: NodeIdentityRecord, now: Timestamp) async throws -> NodeIdentityRecord {
        try await write { db in
            if let earlier = try Row.fetchOne(
                db, sql: "\(Self.selectIdentities) WHERE join_token_id = ? AND public_key_digest = ?",
                arguments: [request.joinTokenID, request.publicKeyDigest]
            ).map(Self.decodeIdentity) {
                return earlier
            }
            // Checked and consumed in this transaction: of two nodes racing for a token's last
            // use, the second sees it used.
            guard let token = try Self.fetchJoinToken(db, id: request.joinTokenID) else {
                throw AuthFailure(.unauthenticated, code: "join_token_invalid", message: "join token \(request.joinTokenID) does not exist")
            }
            if let failure = NodeJoining.usable(token, now: now) { throw failure }
            try db.execute(sql: "UPDATE join_tokens SET uses = uses + 1 WHERE id = ?", arguments: [token.id])
            try db.execute(
                sql: """
                    INSERT INTO node_identities (node_id, name, state, join_token_id, public_key_digest, request_pem, labels,
                        requested_at, decided_at, certificate_expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    request.nodeID.rawValue, request.name, request.state.rawValue, request.joinTokenID, request.publicKeyDigest,
                    request.requestPEM, try Self.encodeLabels(request.labels), request.requestedAt.milliseconds,
                    request.decidedAt?.milliseconds, request.certificateExpiresAt?.milliseconds,
                ])
            return request
        }
    }

    public func nodeIdentity(_ id: NodeID) async throws -> NodeIdentityRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "\(Self.selectIdentities) WHERE node_id = ?", arguments: [id.rawValue]).map(Self.decodeIdentity)
        }
    }

    public func nodeIdentities() async throws -> [NodeIdentityRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "\(Self.selectIdentities) ORDER BY requested_at, node_id").map(Self.decodeIdentity)
        }
    }

    public func recordCertificate(_ id: NodeID, expiresAt: Timestamp) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE node_identities SET certificate_expires_at = ? WHERE node_id = ?", arguments: [expiresAt.milliseconds, id.rawValue])
        }
    }

    public func decideNode(
        _ id: NodeID, state: NodeIdentityRecord.State, at time: Timestamp, certificateExpiresAt: Timestamp?
    ) async throws -> NodeIdentityRecord? {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE node_identities SET state = ?, decided_at = ?,
                        certificate_expires_at = coalesce(?, certificate_expires_at) WHERE node_id = ?
                    """,
                arguments: [state.rawValue, time.milliseconds, certificateExpiresAt?.milliseconds, id.rawValue])
            return try Row.fetchOne(db, sql: "\(Self.selectIdentities) WHERE node_id = ?", arguments: [id.rawValue]).map(Self.decodeIdentity)
        }
    }

    private static let selectJoinTokens =
        "SELECT id, name, max_uses, uses, labels, manual_approval, created_at, expires_at, revoked_at, secret_hash FROM join_tokens"
    private static let selectIdentities = """
        SELECT node_id, name, state, join_token_id, public_key_digest, request_pem, labels, requested_at, decided_at,
            certificate_expires_at FROM node_identities
        """

    private static func fetchJoinToken(_ db: Database, id: String) throws -> JoinTokenRecord? {
        try Row.fetchOne(db, sql: "\(selectJoinTokens) WHERE id = ?", arguments: [id]).map(decodeJoinToken)
    }

    private static func encodeLabels(_ labels: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(labels), as: UTF8.self)
    }

    private static func decodeLabels(_ text: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
    }

    private static func decodeJoinToken(_ row: Row) throws -> JoinTokenRecord {
        JoinTokenRecord(
            id: try row.decode(String.self, atIndex: 0), name: try row.decode(String.self, atIndex: 1),
            maxUses: try row.decode(Int.self, atIndex: 2), uses: try row.decode(Int.self, atIndex: 3),
            labels: try decodeLabels(try row.decode(String.self, atIndex: 4)), manualApproval: try row.decode(Bool.self, atIndex: 5),
            createdAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 6)),
            expiresAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 7)),
            revokedAt: try row.decode(Int64?.self, atIndex: 8).map(Timestamp.init(milliseconds:)),
            secretHash: try row.decode(String.self, atIndex: 9))
    }

    private static func decodeIdentity(_ row: Row) throws -> NodeIdentityRecord {
        let stateText: String = try row.decode(String.self, atIndex: 2)
        guard let state = NodeIdentityRecord.State(rawValue: stateText) else {
            throw StoreError("node identity has a state this version does not know: \(stateText)")
        }
        return NodeIdentityRecord(
            nodeID: NodeID(try row.decode(String.self, atIndex: 0)), name: try row.decode(String.self, atIndex: 1), state: state,
            joinTokenID: try row.decode(String.self, atIndex: 3), publicKeyDigest: try row.decode(String.self, atIndex: 4),
            requestPEM: try row.decode(String.self, atIndex: 5), labels: try decodeLabels(try row.decode(String.self, atIndex: 6)),
            requestedAt: Timestamp(milliseconds: try row.decode(Int64.self, atIndex: 7)),
            decidedAt: try row.decode(Int64?.self, atIndex: 8).map(Timestamp.init(milliseconds:)),
            certificateExpiresAt: try row.decode(Int64?.self, atIndex: 9).map(Timestamp.init(milliseconds:)))
    }
}
