import Foundation
import Hummingbird
import InsituAPI
import InsituAudit
import InsituAuth
import InsituModel
import InsituStore

/// Join tokens (`/v1/join-tokens`), joining and renewal for nodes (`/v1/node/join`,
/// `/v1/node/renew`), and the administrator's decisions on node identities
/// (`/v1/node-identities`). Every decision is audited with whoever made it.
struct NodeIdentityAPI: Sendable {
    let admission: NodeAdmission
    let orchestrator: Orchestrator
    var audit: AuditTrail? = nil

    static let defaultTTLSeconds: Int64 = 3600
    static let maxTTLSeconds: Int64 = 30 * 24 * 3600
    static let maxUses = 100_000
    static let maxBodyBytes = 64 << 10

    var store: any NodeIdentityStore { admission.store }
    var clock: @Sendable () -> Timestamp { admission.clock }

    func register(on router: Router<APIRequestContext>, random: @escaping @Sendable (Int) -> [UInt8]) {
        router.post("/v1/join-tokens") { request, context in
            try context.authorize(.nodeAdmin)
            let body: CreateJoinTokenRequest = try await Self.decode(request, example: #"{"name": "factory-berlin", "uses": 1, "ttlSeconds": 3600}"#)
            let created = try await create(body, random: random)
            try audit?.log.append(
                AuditEvent(time: clock(), actor: auditActor(request, context: context), action: "join_token.create", details: Self.auditDetails(created.info)))
            return try json(created, status: .created)
        }
        router.get("/v1/join-tokens") { _, context in
            try context.authorize(.nodeAdmin)
            let now = clock()
            return try json(try await store.joinTokens().map { Self.info($0, now: now) })
        }
        router.delete("/v1/join-tokens/{id}") { request, context in
            let id = try context.pathParameter("id")
            try context.authorize(.nodeAdmin)
            guard let revoked = try await store.revokeJoinToken(id: id, at: clock()) else { throw APIError.notFound("join token \(id)") }
            let info = Self.info(revoked, now: clock())
            try audit?.log.append(
                AuditEvent(time: clock(), actor: auditActor(request, context: context), action: "join_token.revoke", details: Self.auditDetails(info)))
            return try json(info)
        }

        // Open routes: a joining node has no API token, only its join token (in the body); a
        // renewing node is known by the certificate it presents.
        router.post(RouterPath(NodeIdentityPaths.join)) { request, context in
            let body: NodeJoinRequest = try await Self.decode(request, example: #"{"token": "insitu_join_...", "certificateRequest": "-----BEGIN CERTIFICATE REQUEST-----...", "name": "edge-1"}"#)
            // A refusal is audited by ErrorMiddleware, with its code (join_token_used, ...).
            switch try await admission.join(body) {
            case .approved(let response, let record):
                audit?.record(.node(record.nodeID), "node.join", .ok, Self.auditDetails(record))
                return try json(response)
            case .pending(let response, let record):
                audit?.record(.node(record.nodeID), "node.join", .ok, Self.auditDetails(record))
                return try json(response, status: .accepted)
            }
        }
        router.post(RouterPath(NodeIdentityPaths.renew)) { request, context in
            guard let channel = context.channel else { throw APIError(.conflict, code: "node_identity_off", message: "no connection to identify") }
            let body: NodeRenewRequest = try await Self.decode(request, example: #"{"certificateRequest": "-----BEGIN CERTIFICATE REQUEST-----..."}"#)
            let (response, record) = try await admission.renew(body, channel: channel)
            audit?.record(.node(record.nodeID), "node.renew", .ok, ["expires_at": .int(record.certificateExpiresAt?.milliseconds ?? 0)])
            return try json(response)
        }
        // Reached only when the WebSocket upgrade was refused (or the request was no upgrade):
        // says why, with the status a client can act on.
        router.get(RouterPath(NodeProtocol.path)) { _, context -> Response in
            guard let channel = context.channel else { throw APIError.badRequest("\(NodeProtocol.path) is the node link: a WebSocket upgrade") }
            if case .failure(let failure) = await admission.authenticate(channel) { throw APIError(failure) }
            throw APIError.badRequest("\(NodeProtocol.path) is the node link: send a WebSocket upgrade request")
        }

        router.get("/v1/node-identities") { _, context in
            try context.authorize(.nodeRead)
            return try json(try await store.nodeIdentities().map(Self.info))
        }
        for (verb, state) in [("approve", NodeIdentityRecord.State.approved), ("reject", .rejected), ("revoke", .revoked)] {
            router.post(RouterPath("/v1/node-identities/{id}/\(verb)")) { request, context in
                let id = NodeID(try context.pathParameter("id"))
                try context.authorize(.nodeAdmin)
                guard let existing = try await store.nodeIdentity(id) else { throw APIError.notFound("node \(id)") }
                let allowed: Set<NodeIdentityRecord.State> =
                    switch state {
                    case .approved, .rejected: [.pending]
                    case .revoked: [.pending, .approved]
                    case .pending: []
                    }
                guard allowed.contains(existing.state) || existing.state == state else {
                    throw APIError(
                        .conflict, code: "node_state",
                        message: "node \(id) is \(existing.state.rawValue); only a \(allowed.map(\.rawValue).sorted().joined(separator: " or ")) node can be \(verb)d")
                }
                guard let decided = try await store.decideNode(id, state: state, at: clock(), certificateExpiresAt: nil) else {
                    throw APIError.notFound("node \(id)")
                }
                try audit?.log.append(
                    AuditEvent(time: clock(), actor: auditActor(request, context: context), action: "node.\(verb)", details: Self.auditDetails(decided)))
                // A revoked node's link is cut now, not at its next reconnect.
                if state == .revoked { await orchestrator.closeConnections(of: id, reason: "node \(id) was revoked") }
                return try json(Self.info(decided))
            }
        }
    }

    private func create(_ request: CreateJoinTokenRequest, random: @Sendable (Int) -> [UInt8]) async throws -> CreatedJoinToken {
        var problems: [APIProblem] = []
        if !(1...64).contains(request.name.utf8.count) || request.name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            problems.append(APIProblem(path: "name", message: "a join token's name is 1 to 64 bytes without control characters", hint: nil))
        }
        let uses = request.uses ?? 1
        if !(1...Self.maxUses).contains(uses) {
            problems.append(APIProblem(path: "uses", message: "a join token admits 1 to \(Self.maxUses) nodes", hint: nil))
        }
        let ttl = request.ttlSeconds ?? Self.defaultTTLSeconds
        if !(1...Self.maxTTLSeconds).contains(ttl) {
            problems.append(APIProblem(path: "ttlSeconds", message: "a join token lives 1 second to 30 days (\(Self.maxTTLSeconds) s); it always expires", hint: nil))
        }
        let labels = request.labels ?? [:]
        let probe = NodeInfo(id: "n-0", name: "probe", labels: labels, resources: Resources(cpuMillis: 1, memoryBytes: 1))
        if let problem = probe.validationProblem() {
            problems.append(APIProblem(path: "labels", message: "\(problem)", hint: nil))
        }
        guard problems.isEmpty else {
            throw APIError(
                .unprocessableContent, code: "invalid_join_token_request",
                message: "the join token request has \(problems.count) problem\(problems.count == 1 ? "" : "s")", problems: problems)
        }
        let now = clock()
        let presented = PresentedToken(idBytes: random(8), secretBytes: random(32), prefix: PresentedToken.joinPrefix)
        let record = JoinTokenRecord(
            id: presented.id, name: request.name, maxUses: uses, labels: labels, manualApproval: request.manualApproval ?? false,
            createdAt: now, expiresAt: Timestamp(milliseconds: now.milliseconds + ttl * 1000), secretHash: presented.secretHash)
        try await store.insertJoinToken(record)
        return CreatedJoinToken(token: presented.text, info: Self.info(record, now: now))
    }

    static func decode<T: Decodable>(_ request: Request, example: String) async throws -> T {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            throw APIError(.contentTooLarge, code: "request_too_large", message: "this request is limited to 64 KiB")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw APIError.badRequest("the body must be JSON such as \(example): \(error)")
        }
    }

    static func info(_ record: JoinTokenRecord, now: Timestamp) -> JoinTokenInfo {
        let state: JoinTokenInfo.State =
            if let revoked = record.revokedAt, revoked <= now { .revoked } else if record.expiresAt <= now { .expired } else if record.uses >= record.maxUses {
                .used
            } else { .active }
        return JoinTokenInfo(
            id: record.id, name: record.name, state: state, maxUses: record.maxUses, uses: record.uses, labels: record.labels,
            manualApproval: record.manualApproval, createdAt: record.createdAt, expiresAt: record.expiresAt, revokedAt: record.revokedAt)
    }

    static func info(_ record: NodeIdentityRecord) -> NodeIdentityInfo {
        NodeIdentityInfo(
            nodeID: record.nodeID, name: record.name, state: record.state.rawValue, joinTokenID: record.joinTokenID, labels: record.labels,
            requestedAt: record.requestedAt, decidedAt: record.decidedAt, certificateExpiresAt: record.certificateExpiresAt)
    }

    /// What the audit log keeps of a join token: never its secret nor the secret's hash.
    static func auditDetails(_ info: JoinTokenInfo) -> [String: AuditValue] {
        [
            "join_token": .string(info.id), "name": .string(info.name), "uses": .int(Int64(info.maxUses)),
            "labels": .list(info.labels.sorted { $0.key < $1.key }.map { .string("\($0.key)=\($0.value)") }),
            "manual_approval": .string(info.manualApproval ? "yes" : "no"), "expires_at": .int(info.expiresAt.milliseconds),
        ]
    }

    static func auditDetails(_ record: NodeIdentityRecord) -> [String: AuditValue] {
        [
            "node": .string(record.nodeID.rawValue), "name": .string(record.name), "state": .string(record.state.rawValue),
            "join_token": .string(record.joinTokenID), "public_key_sha256": .string(record.publicKeyDigest),
        ]
    }
}
