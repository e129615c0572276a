import Foundation
import Hummingbird
import InsituAPI
import InsituAudit
import InsituAuth
import InsituModel
import InsituStore

/// `/v1/tokens` and `/v1/whoami`. A token administrator confined to a namespace manages only that
/// namespace's tokens and can hand out only scopes it holds itself, so `token:admin` never
/// becomes a way to widen one's own rights.
struct TokenAPI: Sendable {
    let tokens: any TokenStore
    let clock: @Sendable () -> Timestamp
    let random: @Sendable (Int) -> [UInt8]
    var audit: AuditTrail? = nil

    static let defaultTTLSeconds: Int64 = 30 * 24 * 3600
    static let maxTTLSeconds: Int64 = 10 * 365 * 24 * 3600
    static let maxNameBytes = 64
    static let maxCreateBytes = 64 << 10

    func register(on router: Router<APIRequestContext>) {
        router.get("/v1/whoami") { _, context in
            guard let caller = context.caller else { throw APIError(.unauthorized, code: "token_missing", message: "this API needs a token") }
            return try json(
                WhoAmI(
                    kind: caller.kind.rawValue, tokenID: caller.tokenID, tokenName: caller.tokenName, namespace: caller.namespace,
                    scopes: caller.scopes.sorted().map(\.rawValue)))
        }
        router.post("/v1/tokens") { httpRequest, context in
            let caller = try context.authorize(.tokenAdmin)
            let body: ByteBuffer
            do {
                body = try await httpRequest.body.collect(upTo: Self.maxCreateBytes)
            } catch {
                throw APIError(.contentTooLarge, code: "request_too_large", message: "a token request is limited to 64 KiB")
            }
            let request: CreateTokenRequest
            do {
                request = try JSONDecoder().decode(CreateTokenRequest.self, from: Data(body.readableBytesView))
            } catch {
                throw APIError.badRequest(
                    "the body must be JSON {\"name\": \"...\", \"namespace\": \"...\", \"scopes\": [\"job:read\"], \"ttlSeconds\": 86400}: \(error)")
            }
            let created = try await create(request, by: caller)
            // Recorded before the secret is handed out; if the entry cannot be written, the request fails.
            try audit?.log.append(
                AuditEvent(
                    time: clock(), actor: auditActor(httpRequest, context: context), action: "token.create",
                    details: Self.auditDetails(created.info)))
            return try json(created, status: .created)
        }
        router.get("/v1/tokens") { _, context in
            let caller = try context.authorize(.tokenAdmin)
            let now = clock()
            return try json(try await tokens.tokens().filter { caller.canAccess(namespace: $0.namespace) }.map { Self.info($0, now: now) })
        }
        router.delete("/v1/tokens/{id}") { httpRequest, context in
            let id = try context.pathParameter("id")
            // The scope first: without it, the answer must not tell whether the token exists.
            try context.authorize(.tokenAdmin)
            guard let existing = try await tokens.token(id: id) else { throw APIError.notFound("token \(id)") }
            try context.authorize(.tokenAdmin, namespace: existing.namespace, what: "token \(id)")
            guard let revoked = try await tokens.revokeToken(id: id, at: clock()) else { throw APIError.notFound("token \(id)") }
            try audit?.log.append(
                AuditEvent(time: clock(), actor: auditActor(httpRequest, context: context), action: "token.revoke", details: Self.auditDetails(revoked)))
            return try json(Self.info(revoked, now: clock()))
        }
    }

    private func create(_ request: CreateTokenRequest, by caller: Caller) async throws -> CreatedToken {
        var problems: [APIProblem] = []
        let nameBytes = request.name.utf8.count
        if !(1...Self.maxNameBytes).contains(nameBytes) || request.name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            problems.append(APIProblem(path: "name", message: "a token name is 1 to \(Self.maxNameBytes) bytes without control characters", hint: nil))
        }
        if request.namespace != Namespace.all, let problem = Namespace.problem(with: request.namespace) {
            problems.append(APIProblem(path: "namespace", message: problem, hint: "or * for every namespace (administrators only)"))
        } else if !caller.canAccess(namespace: request.namespace) || (request.namespace == Namespace.all && caller.namespace != Namespace.all) {
            problems.append(APIProblem(
                path: "namespace", message: "your token acts in namespace \(caller.namespace) and cannot create tokens for \(request.namespace)",
                hint: nil))
        }
        var scopes: Set<Scope> = []
        if request.scopes.isEmpty || request.scopes.count > Scope.allCases.count * 2 {
            problems.append(APIProblem(path: "scopes", message: "name 1 to \(Scope.allCases.count) scopes", hint: Scope.allCases.map(\.rawValue).joined(separator: ", ")))
        } else {
            switch Scope.parseList(request.scopes.joined(separator: ",")) {
            case .success(let parsed): scopes = parsed
            case .failure(let unknown): problems.append(APIProblem(path: "scopes", message: unknown.description, hint: nil))
            }
        }
        let beyond = scopes.subtracting(caller.scopes)
        if !beyond.isEmpty {
            problems.append(APIProblem(
                path: "scopes", message: "a token can grant only scopes its creator holds; yours lacks \(beyond.sorted().map(\.rawValue).joined(separator: ", "))",
                hint: nil))
        }
        let ttl = request.ttlSeconds ?? Self.defaultTTLSeconds
        if !(0...Self.maxTTLSeconds).contains(ttl) {
            problems.append(APIProblem(
                path: "ttlSeconds", message: "the lifetime is 0 (never expires) or 1 to \(Self.maxTTLSeconds) seconds (10 years)", hint: nil))
        }
        guard problems.isEmpty else {
            throw APIError(.unprocessableContent, code: "invalid_token_request", message: "the token request has \(problems.count) problem\(problems.count == 1 ? "" : "s")", problems: problems)
        }
        let now = clock()
        let presented = PresentedToken(idBytes: random(8), secretBytes: random(32))
        let record = TokenRecord(
            id: presented.id, name: request.name, namespace: request.namespace, scopes: scopes, createdAt: now,
            expiresAt: ttl == 0 ? nil : Timestamp(milliseconds: now.milliseconds + ttl * 1000), secretHash: presented.secretHash)
        try await tokens.insertToken(record)
        return CreatedToken(token: presented.text, info: Self.info(record, now: now))
    }

    /// What the audit log keeps of a token: never its secret nor the secret's hash.
    static func auditDetails(_ info: TokenInfo) -> [String: AuditValue] {
        var details: [String: AuditValue] = [
            "token": .string(info.id), "name": .string(info.name), "namespace": .string(info.namespace),
            "scopes": .list(info.scopes.map { .string($0) }),
        ]
        if let expires = info.expiresAt { details["expires_at"] = .int(expires.milliseconds) }
        return details
    }

    static func auditDetails(_ record: TokenRecord) -> [String: AuditValue] {
        auditDetails(info(record, now: record.createdAt))
    }

    static func info(_ record: TokenRecord, now: Timestamp) -> TokenInfo {
        let state: TokenInfo.State =
            if let revoked = record.revokedAt, revoked <= now { .revoked } else if let expires = record.expiresAt, expires <= now { .expired } else { .active }
        return TokenInfo(
            id: record.id, name: record.name, namespace: record.namespace, scopes: record.scopes.sorted().map(\.rawValue), state: state,
            createdAt: record.createdAt, expiresAt: record.expiresAt, revokedAt: record.revokedAt)
    }

    /// The first administrator token of a new cluster: every scope in every namespace, with the
    /// default lifetime. Created only when the store holds no token at all.
    static func bootstrap(tokens: any TokenStore, now: Timestamp, random: (Int) -> [UInt8]) async throws -> (token: String, info: TokenInfo)? {
        guard try await tokens.tokens().isEmpty else { return nil }
        let presented = PresentedToken(idBytes: random(8), secretBytes: random(32))
        let record = TokenRecord(
            id: presented.id, name: "bootstrap-admin", namespace: Namespace.all, scopes: Set(Scope.allCases), createdAt: now,
            expiresAt: Timestamp(milliseconds: now.milliseconds + defaultTTLSeconds * 1000), secretHash: presented.secretHash)
        try await tokens.insertToken(record)
        return (presented.text, info(record, now: now))
    }
}

/// Random bytes from the system's generator, for token IDs and secrets.
enum SystemRandom {
    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
