public import Hummingbird
import InsituAPI
import InsituAudit
import InsituAuditFile
import InsituAuth
import InsituModel

/// An operator's hold on nodes (Nomad's `node drain`, kubectl's `drain`/`delete node`):
/// `POST /v1/nodes/{id}/drain` stops new work on a node, `DELETE /v1/nodes/{id}/drain` lifts that,
/// and `DELETE /v1/nodes/{id}` forgets a node that is away for good. `node:admin`; audited.
struct NodeAdminAPI: Sendable {
    let orchestrator: Orchestrator

    func register(on router: Router<APIRequestContext>) {
        router.post("/v1/nodes/{id}/drain") { request, context in try await drain(request, context, true) }
        router.delete("/v1/nodes/{id}/drain") { request, context in try await drain(request, context, false) }
        router.delete("/v1/nodes/{id}") { request, context in
            try context.authorize(.nodeAdmin)
            let id = try await nodeID(context)
            let lost = try await orchestrator.forget(id)
            try orchestrator.audit?.log.append(
                AuditEvent(
                    time: SystemClock.now(), actor: auditActor(request, context: context), action: "node.delete",
                    details: ["node": .string(id.rawValue), "lost_executions": .int(Int64(lost))]))
            return try json(DeleteNodeResponse(nodeID: id, lostExecutions: lost))
        }
    }

    private func drain(_ request: Request, _ context: APIRequestContext, _ draining: Bool) async throws -> Response {
        try context.authorize(.nodeAdmin)
        let id = try await nodeID(context)
        let summary = try await orchestrator.drain(id, draining)
        try orchestrator.audit?.log.append(
            AuditEvent(
                time: SystemClock.now(), actor: auditActor(request, context: context), action: draining ? "node.drain" : "node.undrain",
                details: ["node": .string(id.rawValue)]))
        return try json(summary)
    }

    /// The node a path names, by ID or by name (as `GET /v1/nodes/{id}` reads it).
    private func nodeID(_ context: APIRequestContext) async throws -> NodeID {
        let given = try context.pathParameter("id")
        let nodes = await orchestrator.nodeSummaries()
        if let node = nodes.first(where: { $0.id.rawValue == given }) ?? nodes.first(where: { $0.name == given }) { return node.id }
        throw APIError.notFound("node \(given)")
    }
}
