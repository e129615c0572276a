import Foundation
import InsituModel
@testable import InsituOrchestrator
import InsituTestKit
import Logging
import Testing

/// docs/openapi.json stays true: it names exactly the routes the orchestrator registers, and the
/// checked-in file is the document the orchestrator serves. (`APIProblemTests` checks real
/// answers against its schemas; scripts/fuzz-api.sh fuzzes every operation in it.)
@Suite struct OpenAPIDocumentTests {
    static let checkedIn = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.json")

    /// Walks the routes Hummingbird's router holds after the orchestrator registered its API.
    @Test func documentNamesExactlyTheRegisteredRoutes() async throws {
        let harness = try await Harness()
        let router = OrchestratorServer.apiRouter(
            orchestrator: harness.orchestrator, store: harness.store, blobs: try BlobStore(root: harness.directory + "/blobs"),
            tokens: harness.store,
            admission: NodeAdmission(store: harness.store, ca: nil, clock: { Timestamp(milliseconds: 0) }, newNodeID: { NodeID("n-0") }),
            authentication: .development, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
            audit: nil)
        let registered = Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })
        let check = try OpenAPISchemaCheck(documentJSON: OpenAPIDocument.json)
        let documented = Set(check.operations.map { "\($0.method.uppercased()) \($0.path)" })
        #expect(registered.count >= 20, "\(registered.sorted())")
        #expect(registered.subtracting(documented).isEmpty, "registered but not in docs/openapi.json: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented but not registered: \(documented.subtracting(registered).sorted())")
        // 405 takes its Allow from the document: the methods registered for that path.
        for route in router.routes {
            let concrete = route.path.description.replacingOccurrences(of: "{id}", with: "x").replacingOccurrences(of: "{digest}", with: "y")
            let allowed = RouteFallback.allowedMethods(for: concrete) ?? []
            let expected = Set(router.routes.filter { $0.path.description == route.path.description }.map(\.method.rawValue))
            #expect(Set(allowed) == expected, "\(route.path): Allow \(allowed), registered \(expected.sorted())")
        }
        #expect(RouteFallback.allowedMethods(for: "/v1/no-such-thing") == nil)
    }

    /// Set `INSITU_UPDATE_OPENAPI=1` to rewrite docs/openapi.json after changing the document.
    @Test func checkedInDocumentIsTheServedOne() throws {
        if ProcessInfo.processInfo.environment["INSITU_UPDATE_OPENAPI"] == "1" {
            try OpenAPIDocument.json.write(to: Self.checkedIn)
        }
        let file = try Data(contentsOf: Self.checkedIn)
        #expect(
            file == OpenAPIDocument.json,
            "docs/openapi.json differs from the served document: rerun this test with INSITU_UPDATE_OPENAPI=1 and commit the file")
    }

    /// Every operation has an ID, every `$ref` resolves, and every operation answers problem
    /// details for what it does not document otherwise.
    @Test func everyOperationIsCompleteAndEveryReferenceResolves() throws {
        let check = try OpenAPISchemaCheck(documentJSON: OpenAPIDocument.json)
        #expect(check.document["openapi"] as? String == "3.1.0")
        let paths = try #require(check.document["paths"] as? [String: [String: [String: Any]]])
        var operationIDs: [String] = []
        for (path, item) in paths {
            for (method, operation) in item {
                operationIDs.append(operation["operationId"] as? String ?? "")
                let responses = operation["responses"] as? [String: Any] ?? [:]
                #expect(responses["default"] != nil, "\(method) \(path) has no default (problem) answer")
                // A WebSocket upgrade (the node link) succeeds with 101.
                #expect(responses.keys.contains { $0.hasPrefix("2") || $0 == "101" }, "\(method) \(path) documents no success")
                let templated = path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
                let parameters = (operation["parameters"] as? [[String: Any]] ?? []).filter { $0["in"] as? String == "path" }
                #expect(Set(parameters.compactMap { $0["name"] as? String }) == Set(templated), "\(method) \(path)")
            }
        }
        #expect(Set(operationIDs).count == operationIDs.count && !operationIDs.contains(""), "\(operationIDs.sorted())")
        var unresolved: [String] = []
        func walk(_ node: Any) {
            if let object = node as? [String: Any] {
                if let reference = object["$ref"] as? String, check.resolve(reference) == nil { unresolved.append(reference) }
                object.values.forEach(walk)
            } else if let array = node as? [Any] {
                array.forEach(walk)
            }
        }
        walk(check.document)
        #expect(unresolved.isEmpty, "\(unresolved)")
        let schemes = (check.document["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: String]]
        #expect(schemes?["bearerAuth"]?["scheme"] == "bearer")
    }
}
