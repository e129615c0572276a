import Foundation
import Hummingbird
import InsituAPI
import InsituAuth
import InsituModel

/// The OpenAPI 3.1 description of the REST API, served at `GET /v1/openapi.json` and checked in
/// as docs/openapi.json.
///
/// Written by hand and held true by tests rather than generated code: `OpenAPIDocumentTests`
/// fails when a registered route is missing here or a documented one does not exist, when
/// docs/openapi.json differs from this, and when representative answers do not match the
/// schemas; `scripts/fuzz-api.sh` (schemathesis) checks every operation against a running
/// orchestrator. To add a route: add its operation to `paths` below, rerun the tests with
/// `INSITU_UPDATE_OPENAPI=1` to rewrite docs/openapi.json, and commit both.
enum OpenAPIDocument {
    static let path = "/v1/openapi.json"

    static func register(on router: Router<APIRequestContext>) {
        let body = ByteBuffer(bytes: json)
        router.get(RouterPath(stringLiteral: path)) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
    }

    /// The document as served: pretty-printed with sorted keys, so it diffs well in docs/.
    static let json: Data = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Encoding literals of strings, numbers and booleans cannot fail.
        return (try? encoder.encode(document)).map { $0 + Data("\n".utf8) } ?? Data()
    }()

    static var document: JSONValue {
        [
            "openapi": "3.1.0",
            "info": [
                "title": "Insitu orchestrator API",
                "version": "1",
                "description": .string(
                    "The REST API of an Insitu orchestrator. Every request but those marked open carries "
                        + "`Authorization: Bearer <token>` (an orchestrator started with `--dev` takes none). Every error is "
                        + "RFC 9457 problem details (`application/problem+json`) with a stable `code`; a refused job spec or "
                        + "token request lists its `problems` by field path. A path the API has under other methods answers "
                        + "405 with `Allow`; any other unknown path 404 (401 first without a valid token). Nodes connect "
                        + "over a WebSocket at `\(NodeProtocol.path)`, which is not part of this REST API."),
            ],
            "servers": [["url": "/"]],
            "security": [["bearerAuth": []]],
            "paths": paths,
            "components": [
                "securitySchemes": [
                    "bearerAuth": [
                        "type": "http", "scheme": "bearer", "bearerFormat": "insitu token",
                        "description": "A token from `insitu token create` or the bootstrap administrator token the orchestrator prints on first start.",
                    ]
                ],
                "schemas": schemas,
                "responses": [
                    "Problem": [
                        "description": "The request was refused or failed; `detail` says why and what to do.",
                        "content": [ProblemDetails.mediaType: ["schema": ref("Problem")]],
                    ]
                ],
            ],
        ]
    }

    /// Every documented path with its methods (lowercase, as in the document).
    static var operations: [(path: String, methods: [String])] {
        guard case .object(let items) = paths else { return [] }
        return items.map { path, item in
            guard case .object(let operations) = item else { return (path, []) }
            return (path, Array(operations.keys))
        }
    }

    // MARK: Paths

    static var paths: JSONValue {
        [
            "/v1/health": [
                "get": operation(
                    "health", "Whether the orchestrator answers", open: true,
                    responses: ["200": ok(object(required: ["status"], ["status": ["type": "string", "const": "ok"], "version": string]))], errors: [])
            ],
            "/v1/health/live": [
                "get": operation(
                    "live", "Whether the process serves requests", open: true,
                    responses: ["200": ok(object(required: ["status"], ["status": ["type": "string", "const": "live"]]))], errors: [])
            ],
            "/v1/health/ready": [
                "get": operation(
                    "ready", "Whether the state is recovered and the store answers (503 until then)", open: true,
                    responses: ["200": ok(object(required: ["status"], ["status": ["type": "string", "const": "ready"]]))], errors: [503])
            ],
            "/v1/join-tokens": [
                "post": operation(
                    "createJoinToken", "Create a join token for nodes (its secret is shown only in this answer)",
                    requestBody: ["required": true, "content": ["application/json": ["schema": ref("CreateJoinTokenRequest")]]],
                    responses: ["201": ok(ref("CreatedJoinToken"), "Created")], errors: [400, 401, 403, 413, 422, 503]),
                "get": operation(
                    "listJoinTokens", "Every join token (never their secrets)", responses: ["200": ok(arrayOf(ref("JoinTokenInfo")))],
                    errors: [401, 403]),
            ],
            "/v1/join-tokens/{id}": [
                "delete": operation(
                    "revokeJoinToken", "Revoke a join token: no further node joins with it", parameters: [pathParameter("id", "The join token's ID")],
                    responses: ["200": ok(ref("JoinTokenInfo"))], errors: [400, 401, 403, 404, 503])
            ],
            "/v1/node/join": [
                "post": operation(
                    "joinNode", "A node asks to join with a join token and a certificate request (200 with its certificate, 202 while it waits for approval)",
                    open: true,
                    requestBody: ["required": true, "content": ["application/json": ["schema": ref("NodeJoinRequest")]]],
                    responses: ["200": ok(ref("NodeJoinResponse")), "202": ok(ref("NodeJoinResponse"), "Waiting for approval")],
                    errors: [400, 401, 403, 409, 413, 422, 503])
            ],
            "/v1/node/renew": [
                "post": operation(
                    "renewNode", "A joined node asks for a new certificate, presenting its current one (mutual TLS)", open: true,
                    requestBody: ["required": true, "content": ["application/json": ["schema": ref("NodeRenewRequest")]]],
                    responses: ["200": ok(ref("NodeJoinResponse"))], errors: [400, 401, 403, 404, 409, 413, 422, 503])
            ],
            "/v1/node/connect": [
                "get": operation(
                    "connectNode", "The node link: a WebSocket upgrade, for a node presenting its certificate (mutual TLS); anything else is refused with the reason",
                    open: true, responses: ["101": ["description": "Switching to the node protocol (WebSocket)"]], errors: [400, 401, 403])
            ],
            "/v1/node-identities": [
                "get": operation(
                    "listNodeIdentities", "Every node identity: pending, approved, rejected and revoked",
                    responses: ["200": ok(arrayOf(ref("NodeIdentityInfo")))], errors: [401, 403])
            ],
            "/v1/node-identities/{id}/approve": [
                "post": operation(
                    "approveNode", "Approve a node waiting to join", parameters: [pathParameter("id", "The node's ID")],
                    responses: ["200": ok(ref("NodeIdentityInfo"))], errors: [400, 401, 403, 404, 409, 503])
            ],
            "/v1/node-identities/{id}/reject": [
                "post": operation(
                    "rejectNode", "Reject a node waiting to join", parameters: [pathParameter("id", "The node's ID")],
                    responses: ["200": ok(ref("NodeIdentityInfo"))], errors: [400, 401, 403, 404, 409, 503])
            ],
            "/v1/node-identities/{id}/revoke": [
                "post": operation(
                    "revokeNode", "Revoke a node: its link is cut now and its certificate refused from then on",
                    parameters: [pathParameter("id", "The node's ID")], responses: ["200": ok(ref("NodeIdentityInfo"))],
                    errors: [400, 401, 403, 404, 409, 503])
            ],
            "/v1/openapi.json": [
                "get": operation(
                    "openAPIDocument", "This document", open: true,
                    responses: ["200": ok(["type": "object", "required": ["openapi", "paths"]])], errors: [])
            ],
            "/v1/modules": [
                "post": operation(
                    "uploadModule", "Upload a WebAssembly module (at most 256 MiB), stored by its SHA-256",
                    requestBody: [
                        "required": true,
                        "description": "The module's bytes, whatever the Content-Type (the CLI sends application/wasm)",
                        "content": ["application/octet-stream": ["schema": ["type": "string", "contentMediaType": "application/octet-stream"]]],
                    ],
                    responses: [
                        "201": ok(ref("UploadModuleResponse"), "Stored")
                            .merging(["links": ["getModule": ["operationId": "getModule", "parameters": ["digest": "$response.body#/digest"]]]])
                    ],
                    errors: [400, 401, 403, 413, 503])
            ],
            "/v1/modules/{digest}": [
                "get": operation(
                    "getModule", "A module by digest: with any valid API token, or with an admitted node's client certificate (mutual TLS)",
                    parameters: [digestParameter], responses: ["200": binary], errors: [400, 401, 403, 404])
            ],
            "/v1/blobs/{digest}": [
                "get": operation(
                    "getBlob", "Any stored blob by digest (tokens of every namespace only)", parameters: [digestParameter],
                    responses: ["200": binary], errors: [400, 401, 403, 404])
            ],
            "/v1/jobs": [
                "post": operation(
                    "submitJob", "Submit a job spec (YAML or JSON, docs/JOBSPEC.md)",
                    parameters: [
                        [
                            "name": "Idempotency-Key", "in": "header", "required": false,
                            "description": "Retrying a submission with the same key returns the job the first one created (200).",
                            "schema": ["type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"],
                        ]
                    ],
                    requestBody: ["required": true, "content": ["application/json": ["schema": ref("SubmitJobRequest")]]],
                    responses: [
                        "201": ok(ref("SubmitJobResponse"), "Created").merging(["links": jobLinks]),
                        "200": ok(ref("SubmitJobResponse"), "Created before, by a submission with the same Idempotency-Key")
                            .merging(["links": jobLinks]),
                    ],
                    errors: [400, 401, 403, 413, 422, 503]),
                "get": operation(
                    "listJobs", "The newest jobs the caller may read",
                    parameters: [
                        query("limit", "How many jobs (default 100)", minimum: 1, maximum: 10_000),
                        listParameter("state", "Only jobs in one of these states (repeated or comma-separated)", JobState.allCases.map(\.rawValue)),
                        textParameter("name", "Only jobs whose name contains this text (case-sensitive)"),
                        [
                            "name": "namespace", "in": "query", "required": false,
                            "description": "Only jobs of this namespace (a token confined to another namespace gets 403)",
                            "schema": ["type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"],
                        ],
                        nextTokenParameter,
                    ],
                    responses: ["200": paged(ok(arrayOf(ref("JobSummary"))))], errors: [400, 401, 403]),
            ],
            "/v1/jobs/plan": [
                "post": operation(
                    "planJob",
                    "Check a submission as POST /v1/jobs does and show where it would run now, storing nothing (insitu job run --dry-run). "
                        + "A module named by its local path is taken on the digest in uploadedModules without being uploaded.",
                    requestBody: ["required": true, "content": ["application/json": ["schema": ref("SubmitJobRequest")]]],
                    responses: ["200": ok(ref("JobPlanResponse"))],
                    errors: [400, 401, 403, 413, 422, 503])
            ],
            "/v1/jobs/{id}": [
                "get": operation(
                    "getJob", "A job, its executions, results and why it is not placed yet", parameters: [jobIDParameter],
                    responses: ["200": ok(ref("JobDetail"))], errors: [400, 401, 403, 404])
            ],
            "/v1/jobs/{id}/history": [
                "get": operation(
                    "getJobHistory", "A job's events, oldest first", parameters: [jobIDParameter],
                    responses: ["200": ok(arrayOf(ref("JobEvent")))], errors: [400, 401, 403, 404])
            ],
            "/v1/jobs/{id}/logs": [
                "get": operation(
                    "getJobLogs", "A page of a job's log entries after a sequence number",
                    parameters: [jobIDParameter, query("after", "Entries after this sequence number (default 0)", minimum: 0, maximum: Int64.max)],
                    responses: ["200": ok(ref("LogsPage"))], errors: [400, 401, 403, 404])
            ],
            "/v1/jobs/{id}/stop": [
                "post": operation(
                    "stopJob", "Stop a job", parameters: [jobIDParameter],
                    responses: ["200": ok(ref("JobSummary"))], errors: [400, 401, 403, 404, 503])
            ],
            "/v1/jobs/{id}/results": [
                "get": operation(
                    "getJobResults", "The result files of a job's partitions", parameters: [jobIDParameter],
                    responses: ["200": ok(arrayOf(ref("ResultRecord")))], errors: [400, 401, 403, 404])
            ],
            "/v1/jobs/{id}/files/{digest}": [
                "get": operation(
                    "getJobFile", "One result file of a job, by digest", parameters: [jobIDParameter, digestParameter],
                    responses: ["200": binary], errors: [400, 401, 403, 404])
            ],
            "/v1/jobs/{id}/wait": [
                "get": operation(
                    "waitForJob", "Wait until a job is finished or the timeout passes, then return it",
                    parameters: [
                        jobIDParameter,
                        [
                            "name": "timeout", "in": "query", "required": false,
                            "description": "Seconds to wait, fractions allowed (default 30)",
                            "schema": ["type": "number", "minimum": 0, "maximum": 600],
                        ],
                    ],
                    responses: ["200": ok(ref("JobSummary"))], errors: [400, 401, 403, 404])
            ],
            "/v1/audit": [
                "get": operation(
                    "readAudit", "Audit log entries after a sequence number, as the log's own lines (NDJSON, docs/AUDIT.md)",
                    parameters: [
                        query("after", "Entries after this sequence number (default 0)", minimum: 0, maximum: Int64.max),
                        query("limit", "How many entries (default 100)", minimum: 1, maximum: 1000),
                    ],
                    responses: [
                        "200": [
                            "description": "One audit entry per line",
                            "content": ["application/x-ndjson": ["schema": ["type": "string"]]],
                        ]
                    ],
                    errors: [400, 401, 403, 404, 500])
            ],
            "/v1/nodes": [
                "get": operation(
                    "listNodes", "The nodes the orchestrator knows, by name",
                    parameters: [
                        listParameter("status", "Only nodes with one of these statuses (repeated or comma-separated)", NodeLiveness.allCases.map(\.rawValue)),
                        textParameter("name", "Only nodes whose name contains this text (case-sensitive)"),
                        [
                            "name": "label", "in": "query", "required": false, "style": "form", "explode": true,
                            "description": "key=value; repeated, a node must carry every one",
                            "schema": ["type": "array", "maxItems": .integer(Int64(ListQueries.maxLabels)), "items": ["type": "string", "pattern": "^[^=]+=.*$"]],
                        ],
                        query("limit", "How many nodes (default: all)", minimum: 1, maximum: 10_000),
                        nextTokenParameter,
                    ],
                    responses: ["200": paged(ok(arrayOf(ref("NodeSummary"))))], errors: [400, 401, 403])
            ],
            "/v1/nodes/{id}": [
                "get": operation(
                    "getNode", "A node, by ID or name",
                    parameters: [pathParameter("id", "The node's ID or name")],
                    responses: ["200": ok(ref("NodeSummary"))], errors: [400, 401, 403, 404]),
                "delete": operation(
                    "deleteNode",
                    "Forget a node that is away for good (node:admin): its unfinished executions are lost now and retried elsewhere per their jobs' policies; a connected node answers 409",
                    parameters: [pathParameter("id", "The node's ID or name")],
                    responses: ["200": ok(ref("DeleteNodeResponse"))], errors: [400, 401, 403, 404, 409, 503]),
            ],
            "/v1/nodes/{id}/drain": [
                "post": operation(
                    "drainNode", "Stop placing new work on a node (node:admin); what it runs finishes. Kept across restarts.",
                    parameters: [pathParameter("id", "The node's ID or name")],
                    responses: ["200": ok(ref("NodeSummary"))], errors: [400, 401, 403, 404, 503]),
                "delete": operation(
                    "undrainNode", "Lift a node's drain (node:admin): it takes new work again",
                    parameters: [pathParameter("id", "The node's ID or name")],
                    responses: ["200": ok(ref("NodeSummary"))], errors: [400, 401, 403, 404, 503]),
            ],
            "/v1/whoami": [
                "get": operation("whoami", "The caller as the orchestrator sees it", responses: ["200": ok(ref("WhoAmI"))], errors: [401])
            ],
            "/v1/tokens": [
                "post": operation(
                    "createToken", "Create an API token (its secret is shown only in this answer)",
                    requestBody: ["required": true, "content": ["application/json": ["schema": ref("CreateTokenRequest")]]],
                    responses: [
                        "201": ok(ref("CreatedToken"), "Created")
                            .merging(["links": ["revokeToken": ["operationId": "revokeToken", "parameters": ["id": "$response.body#/info/id"]]]])
                    ],
                    errors: [400, 401, 403, 413, 422, 503]),
                "get": operation(
                    "listTokens", "The tokens the caller administers (never their secrets)",
                    responses: ["200": ok(arrayOf(ref("TokenInfo")))], errors: [401, 403]),
            ],
            "/v1/tokens/{id}": [
                "delete": operation(
                    "revokeToken", "Revoke a token", parameters: [pathParameter("id", "The token's ID")],
                    responses: ["200": ok(ref("TokenInfo"))], errors: [400, 401, 403, 404, 503])
            ],
        ]
    }

    /// Where a submission's answer leads: every route of the job it names.
    static var jobLinks: JSONValue {
        let operations = ["getJob", "getJobHistory", "getJobLogs", "getJobResults", "waitForJob", "stopJob"]
        return .object(
            Dictionary(uniqueKeysWithValues: operations.map { ($0, ["operationId": .string($0), "parameters": ["id": "$response.body#/jobID"]]) }))
    }

    static let jobIDParameter = pathParameter("id", "The job's ID")
    static let digestParameter: JSONValue = [
        "name": "digest", "in": "path", "required": true, "description": "Lowercase hex SHA-256 of the content",
        "schema": ["type": "string", "pattern": "^[0-9a-f]{64}$"],
    ]
    static let binary: JSONValue = [
        "description": "The content",
        "content": ["application/octet-stream": ["schema": ["type": "string", "contentMediaType": "application/octet-stream"]]],
    ]

    static func pathParameter(_ name: String, _ description: String) -> JSONValue {
        [
            "name": .string(name), "in": "path", "required": true,
            "description": .string(description + "; percent-encode it, it is one path segment"),
            "schema": ["type": "string", "minLength": 1],
        ]
    }

    static func query(_ name: String, _ description: String, minimum: Int64, maximum: Int64? = nil) -> JSONValue {
        var schema: JSONValue = ["type": "integer", "minimum": .integer(minimum)]
        if let maximum { schema = schema.merging(["maximum": .integer(maximum)]) }
        return ["name": .string(name), "in": "query", "required": false, "description": .string(description), "schema": schema]
    }

    /// A list parameter: repeated (`?state=a&state=b`) or comma-separated (`?state=a,b`).
    static func listParameter(_ name: String, _ description: String, _ values: [String]) -> JSONValue {
        [
            "name": .string(name), "in": "query", "required": false, "style": "form", "explode": true,
            "description": .string(description + "; allowed: " + values.joined(separator: ", ")),
            "schema": ["type": "array", "items": enumeration(values)],
        ]
    }

    static func textParameter(_ name: String, _ description: String) -> JSONValue {
        [
            "name": .string(name), "in": "query", "required": false, "description": .string(description),
            "schema": ["type": "string", "minLength": 1, "maxLength": .integer(Int64(ListQueries.maxNameFilterLength))],
        ]
    }

    static let nextTokenParameter: JSONValue = [
        "name": .string(PageToken.parameter), "in": "query", "required": false,
        "description": .string("The \(PageToken.header) header of the previous page: the page after it"),
        "schema": ["type": "string", "minLength": 1, "maxLength": .integer(Int64(PageToken.maxLength))],
    ]

    /// A list answer: the body is the page, the next page's token (when there is one) is a header.
    static func paged(_ response: JSONValue) -> JSONValue {
        response.merging([
            "headers": [
                PageToken.header: [
                    "description": "Present when more items follow: pass it as next_token for the next page",
                    "schema": ["type": "string"],
                ]
            ]
        ])
    }

    static func ok(_ schema: JSONValue, _ description: String = "OK") -> JSONValue {
        ["description": .string(description), "content": ["application/json": ["schema": schema]]]
    }

    /// An operation; `errors` are the statuses it answers with problem details besides the ones
    /// every route can give (405, 408, 414, 431, 500), which `default` covers.
    static func operation(
        _ id: String, _ summary: String, open: Bool = false, parameters: [JSONValue] = [], requestBody: JSONValue? = nil,
        responses: [String: JSONValue], errors: [Int]
    ) -> JSONValue {
        var all = responses
        for status in errors { all[String(status)] = ["$ref": "#/components/responses/Problem"] }
        all["default"] = ["$ref": "#/components/responses/Problem"]
        var result: JSONValue = ["operationId": .string(id), "summary": .string(summary), "responses": .object(all)]
        if open { result = result.merging(["security": []]) }
        if !parameters.isEmpty { result = result.merging(["parameters": .array(parameters)]) }
        if let requestBody { result = result.merging(["requestBody": requestBody]) }
        return result
    }

    // MARK: Schemas

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func arrayOf(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items] }
    static func object(required: [String], _ properties: [String: JSONValue]) -> JSONValue {
        ["type": "object", "required": .array(required.map { .string($0) }), "properties": .object(properties)]
    }
    static func enumeration(_ values: [String]) -> JSONValue { ["type": "string", "enum": .array(values.map { .string($0) })] }

    static let string: JSONValue = ["type": "string"]
    static let integer: JSONValue = ["type": "integer"]
    static let stringMap: JSONValue = ["type": "object", "additionalProperties": ["type": "string"]]

    static var schemas: JSONValue {
        [
            "Problem": [
                "type": "object",
                "description": "RFC 9457 problem details. `code` is stable; `type` is https://insitu.dev/problems/<code>.",
                "required": ["type", "title", "status", "detail", "code"],
                "properties": [
                    "type": ["type": "string", "format": "uri"],
                    "title": string,
                    "status": ["type": "integer", "minimum": 400, "maximum": 599],
                    "detail": string,
                    "code": ["type": "string", "pattern": "^[a-z0-9_]+$"],
                    "problems": arrayOf(ref("FieldProblem")),
                ],
            ],
            "FieldProblem": object(
                required: ["path", "message"],
                ["path": ["type": "string", "description": "Field path in the request, such as engine.module"], "message": string, "hint": string]),
            "Timestamp": ["type": "string", "format": "date-time", "description": "An RFC 3339 time in UTC, e.g. 2026-12-01T09:30:00.250Z"],
            "Digest": ["type": "string", "pattern": "^[0-9a-f]{64}$"],
            "JobState": enumeration(JobState.allCases.map(\.rawValue)),
            "ExecutionState": enumeration(ExecutionState.allCases.map(\.rawValue)),
            "JobType": enumeration(JobType.allCases.map(\.rawValue)),
            "EngineKind": enumeration(EngineKind.allCases.map(\.rawValue)),
            "Resources": object(required: ["cpuMillis", "memoryBytes"], ["cpuMillis": integer, "memoryBytes": integer]),
            "SubmitJobRequest": object(
                required: ["spec"],
                [
                    "spec": [
                        "type": "string", "description": "The job spec as written, YAML or JSON",
                        "examples": [
                            .string(
                                "version: v1\nname: example\nqueueTimeout: 1s\nengine: {type: wasm, module: \"https://modules.example/hello.wasm\", sha256: "
                                    + String(repeating: "0", count: 64) + "}\n")
                        ],
                    ],
                    "uploadedModules": [
                        "type": ["object", "null"],
                        "description": "Local module paths in the spec, mapped to the digests of their uploads (absent or null: none)",
                        "additionalProperties": ref("Digest"),
                    ],
                ]),
            "SubmitJobResponse": object(required: ["jobID", "state"], ["jobID": string, "state": ref("JobState")]),
            "JobPlanResponse": object(
                required: ["namespace", "placeable", "placements", "unplacedPartitions", "placementFailures"],
                [
                    "namespace": string, "placeable": ["type": "boolean"],
                    "placements": arrayOf(
                        object(required: ["partition", "nodeID", "nodeName"], ["partition": integer, "nodeID": string, "nodeName": string])),
                    "unplacedPartitions": arrayOf(integer),
                    "placementFailures": [
                        "type": "object", "description": "Per node, why it would not take (more of) the job",
                        "additionalProperties": arrayOf(string),
                    ],
                ]),
            "DeleteNodeResponse": object(required: ["nodeID", "lostExecutions"], ["nodeID": string, "lostExecutions": integer]),
            "UploadModuleResponse": object(required: ["digest", "size"], ["digest": ref("Digest"), "size": integer]),
            "JobSummary": object(
                required: ["id", "name", "type", "state", "createdAt", "updatedAt", "executionCounts"],
                [
                    "id": string, "name": string, "namespace": string, "type": ref("JobType"), "state": ref("JobState"),
                    "stateReason": string, "createdAt": ref("Timestamp"), "updatedAt": ref("Timestamp"),
                    "executionCounts": ["type": "object", "additionalProperties": integer],
                    "nodes": ["type": "array", "items": string, "description": "Names of the nodes its executions were placed on (job list only)"],
                ]),
            "Job": object(
                required: ["id", "spec", "state", "createdAt", "updatedAt", "version"],
                [
                    "id": string, "spec": ["type": "object", "description": "The validated job spec (docs/JOBSPEC.md)"],
                    "state": ref("JobState"), "stateReason": string, "createdAt": ref("Timestamp"), "updatedAt": ref("Timestamp"),
                    "version": integer,
                ]),
            "Execution": object(
                required: ["id", "jobID", "partition", "attempt", "nodeID", "state", "desiredState", "createdAt", "updatedAt", "version"],
                [
                    "id": string, "jobID": string, "partition": integer, "attempt": integer, "nodeID": string,
                    "state": ref("ExecutionState"), "desiredState": enumeration(["run", "stop"]), "stateReason": string,
                    "exitCode": integer, "createdAt": ref("Timestamp"), "updatedAt": ref("Timestamp"), "version": integer,
                ]),
            "JobDetail": object(
                required: ["job", "executions", "placementFailures", "results"],
                [
                    "job": ref("Job"), "executions": arrayOf(ref("Execution")),
                    "placementFailures": [
                        "type": "object", "description": "Per node, why (more of) the job could not be placed there",
                        "additionalProperties": arrayOf(string),
                    ],
                    "results": arrayOf(ref("ResultRecord")),
                    "nodeNames": [
                        "type": "object", "description": "The name of each node the job's executions were placed on, by node ID",
                        "additionalProperties": string,
                    ],
                ]),
            "JobEvent": object(
                required: ["jobID", "sequence", "at", "kind", "message"],
                [
                    "jobID": string, "sequence": integer, "at": ref("Timestamp"),
                    "kind": enumeration(["submitted", "jobStateChanged", "executionStateChanged", "placement", "queued", "note"]),
                    "executionID": string, "message": string,
                ]),
            "ResultFile": object(required: ["path", "digest", "size"], ["path": string, "digest": ref("Digest"), "size": integer]),
            "ResultRecord": object(
                required: ["jobID", "partition", "executionID", "nodeID", "files", "acceptedAt"],
                [
                    "jobID": string, "partition": integer, "executionID": string, "nodeID": string, "files": arrayOf(ref("ResultFile")),
                    "acceptedAt": ref("Timestamp"),
                ]),
            "LogRecord": object(
                required: ["jobID", "executionID", "sequence", "stream", "text", "at"],
                ["jobID": string, "executionID": string, "sequence": integer, "stream": string, "text": string, "at": ref("Timestamp")]),
            "LogsPage": object(required: ["entries", "jobState"], ["entries": arrayOf(ref("LogRecord")), "jobState": ref("JobState")]),
            "NodeSummary": object(
                required: [
                    "id", "name", "liveness", "labels", "resources", "allocated", "activeExecutions", "datasets", "engines", "version",
                    "lastSeen",
                ],
                [
                    "draining": ["type": "boolean"], "id": string, "name": string, "liveness": enumeration(NodeLiveness.allCases.map(\.rawValue)), "labels": stringMap,
                    "resources": ref("Resources"), "allocated": ref("Resources"), "activeExecutions": integer,
                    "datasets": arrayOf(
                        object(required: ["name", "labels"], ["name": string, "description": string, "labels": stringMap])),
                    "engines": arrayOf(ref("EngineKind")), "wasmRuntime": string, "version": string, "lastSeen": ref("Timestamp"),
                    "policy": ["type": "object", "description": "The node's policy as it advertised it (docs/POLICY.md)"],
                    "policyDigest": string,
                    "auditHead": object(required: ["seq", "hash"], ["seq": integer, "hash": string]),
                    "auditAlert": string,
                ]),
            "WhoAmI": object(
                required: ["kind", "namespace", "scopes"],
                [
                    "kind": enumeration(["token", "development"]), "tokenID": string, "tokenName": string, "namespace": string,
                    "scopes": arrayOf(string),
                ]),
            "CreateTokenRequest": object(
                required: ["name", "namespace", "scopes"],
                [
                    "name": ["type": "string", "minLength": 1, "maxLength": 64, "description": "1 to 64 bytes of UTF-8, no control characters"],
                    "namespace": [
                        "type": "string", "pattern": "^([*]|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$",
                        "description": "A namespace (a DNS label), or * for every namespace (administrators only)",
                    ],
                    "scopes": [
                        "type": "array", "minItems": 1, "maxItems": .integer(Int64(Scope.allCases.count * 2)),
                        "items": enumeration(Scope.allCases.map(\.rawValue) + ["*"]),
                        "description": "Only scopes the caller holds itself; * is every scope",
                    ],
                    "ttlSeconds": [
                        "type": ["integer", "null"], "minimum": 0, "maximum": .integer(TokenAPI.maxTTLSeconds),
                        "description": "0 never expires; absent or null takes 30 days",
                    ],
                ]),
            "TokenInfo": object(
                required: ["id", "name", "namespace", "scopes", "state", "createdAt"],
                [
                    "id": string, "name": string, "namespace": string, "scopes": arrayOf(string),
                    "state": enumeration(["active", "expired", "revoked"]), "createdAt": ref("Timestamp"),
                    "expiresAt": ref("Timestamp"), "revokedAt": ref("Timestamp"),
                ]),
            "CreatedToken": object(required: ["token", "info"], ["token": string, "info": ref("TokenInfo")]),
            "CreateJoinTokenRequest": object(
                required: ["name"],
                [
                    "name": ["type": "string", "minLength": 1, "maxLength": 64, "description": "1 to 64 bytes of UTF-8, no control characters"],
                    "uses": ["type": ["integer", "null"], "minimum": 1, "maximum": .integer(Int64(NodeIdentityAPI.maxUses)), "description": "Nodes it admits (default 1)"],
                    "ttlSeconds": [
                        "type": ["integer", "null"], "minimum": 1, "maximum": .integer(NodeIdentityAPI.maxTTLSeconds),
                        "description": "How long it may be used (default one hour); join tokens always expire",
                    ],
                    "labels": ["type": ["object", "null"], "additionalProperties": ["type": "string"], "description": "Labels pinned on every node that joins with it"],
                    "manualApproval": ["type": ["boolean", "null"], "description": "Each node waits for approval before it gets a certificate"],
                ]),
            "JoinTokenInfo": object(
                required: ["id", "name", "state", "maxUses", "uses", "labels", "manualApproval", "createdAt", "expiresAt"],
                [
                    "id": string, "name": string, "state": enumeration(["active", "used", "expired", "revoked"]), "maxUses": integer,
                    "uses": integer, "labels": stringMap, "manualApproval": ["type": "boolean"], "createdAt": ref("Timestamp"),
                    "expiresAt": ref("Timestamp"), "revokedAt": ref("Timestamp"),
                ]),
            "CreatedJoinToken": object(required: ["token", "info"], ["token": string, "info": ref("JoinTokenInfo")]),
            "NodeJoinRequest": object(
                required: ["token", "certificateRequest", "name"],
                [
                    "token": string, "certificateRequest": ["type": "string", "description": "PEM CERTIFICATE REQUEST for a P-256 key"],
                    "name": [
                        "type": "string", "minLength": 1, "maxLength": .integer(Int64(NodeInfoLimits.maxIdentifierBytes)),
                        "description": "The node config's name: 1 to 128 bytes of UTF-8, no control characters",
                    ],
                ]),
            "NodeRenewRequest": object(
                required: ["certificateRequest"], ["certificateRequest": ["type": "string", "description": "PEM CERTIFICATE REQUEST for a new P-256 key"]]),
            "NodeJoinResponse": object(
                required: ["nodeID", "state"],
                [
                    "nodeID": string, "state": enumeration(["pending", "approved"]), "certificate": ["type": "string", "description": "PEM"],
                    "caCertificate": ["type": "string", "description": "PEM of the cluster CA"],
                ]),
            "NodeIdentityInfo": object(
                required: ["nodeID", "name", "state", "joinTokenID", "labels", "requestedAt"],
                [
                    "nodeID": string, "name": string, "state": enumeration(["pending", "approved", "rejected", "revoked"]), "joinTokenID": string,
                    "labels": stringMap, "requestedAt": ref("Timestamp"), "decidedAt": ref("Timestamp"), "certificateExpiresAt": ref("Timestamp"),
                ]),
        ]
    }
}
