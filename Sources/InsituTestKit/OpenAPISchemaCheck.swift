public import Foundation

/// Checks JSON answers against the response schemas of an OpenAPI 3.1 document, for the subset
/// of JSON Schema that docs/openapi.json uses: `$ref`, `type`, `required`, `properties`,
/// `additionalProperties`, `items`, `enum`, `const`, `pattern`, `minimum`, `maximum`,
/// `minLength`, `maxLength`, `minItems`. A keyword outside that subset is reported, so the check
/// never passes by ignoring what it cannot read.
public struct OpenAPISchemaCheck {
    public let document: [String: Any]

    public init(documentJSON: Data) throws {
        guard let document = try JSONSerialization.jsonObject(with: documentJSON) as? [String: Any] else {
            throw SchemaCheckError("the OpenAPI document is not a JSON object")
        }
        self.document = document
    }

    /// `(method, template)` of every documented operation, methods lowercase, as in the document.
    public var operations: [(method: String, path: String)] {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        return paths.flatMap { path, item in item.keys.map { (method: $0, path: path) } }
    }

    /// The documented template a concrete path matches (`/v1/jobs/j-1` → `/v1/jobs/{id}`). As
    /// OpenAPI says, a path with more literal segments wins: `/v1/jobs/plan` over `/v1/jobs/{id}`.
    public func template(matching path: String) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        let matches = Set(operations.map(\.path)).filter { template in
            let parts = template.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == segments.count && zip(parts, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
        func literals(_ template: String) -> Int { template.split(separator: "/").filter { !$0.hasPrefix("{") }.count }
        return matches.max { literals($0) < literals($1) }
    }

    /// The problems with `body` as the answer `status` with `contentType` to `method path`;
    /// empty when it conforms.
    public func problems(method: String, path: String, status: Int, contentType: String, body: Data) -> [String] {
        guard let template = template(matching: path) else { return ["\(path) matches no documented path"] }
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        guard let operation = paths[template]?[method.lowercased()] as? [String: Any] else {
            return ["\(method) \(template) is not documented"]
        }
        let responses = operation["responses"] as? [String: Any] ?? [:]
        guard var response = (responses[String(status)] ?? responses["default"]) as? [String: Any] else {
            return ["\(method) \(template) documents no answer \(status)"]
        }
        if let reference = response["$ref"] as? String {
            guard let resolved = resolve(reference) else { return ["unresolvable \(reference)"] }
            response = resolved
        }
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let content = (response["content"] as? [String: Any])?[mediaType] as? [String: Any] else {
            return ["\(method) \(template) \(status) documents no content \(mediaType)"]
        }
        guard let schema = content["schema"] as? [String: Any] else { return [] }
        if mediaType != "application/json" && mediaType != "application/problem+json" { return [] }
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            return ["the body is not JSON: \(error)"]
        }
        return check(value, against: schema, at: "$")
    }

    public func resolve(_ reference: String) -> [String: Any]? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: Any = document
        for part in reference.dropFirst(2).split(separator: "/") {
            guard let next = (node as? [String: Any])?[String(part)] else { return nil }
            node = next
        }
        return node as? [String: Any]
    }

    static let understood: Set<String> = [
        "$ref", "type", "required", "properties", "additionalProperties", "items", "enum", "const", "pattern", "minimum", "maximum",
        "minLength", "maxLength", "minItems", "maxItems", "description", "examples", "format", "contentMediaType",
    ]

    public func check(_ value: Any, against schema: [String: Any], at location: String) -> [String] {
        if let reference = schema["$ref"] as? String {
            guard let resolved = resolve(reference) else { return ["\(location): unresolvable \(reference)"] }
            return check(value, against: resolved, at: location)
        }
        var problems = schema.keys.filter { !Self.understood.contains($0) }.map { "\(location): the check does not know keyword \($0)" }
        let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map { [$0] }
        if let types, !types.contains(where: { Self.matches(value, type: $0) }) {
            return problems + ["\(location): \(Self.describe(value)) is not of type \(types.joined(separator: " or "))"]
        }
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { Self.equal($0, value) }) {
            problems.append("\(location): \(Self.describe(value)) is not one of \(allowed)")
        }
        if let constant = schema["const"], !Self.equal(constant, value) { problems.append("\(location): \(Self.describe(value)) is not \(constant)") }
        if let text = value as? String {
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(location): \(text.prefix(80)) does not match \(pattern)")
            }
            if let minimum = schema["minLength"] as? Int, text.count < minimum { problems.append("\(location): shorter than \(minimum)") }
            if let maximum = schema["maxLength"] as? Int, text.count > maximum { problems.append("\(location): longer than \(maximum)") }
        }
        if let number = (value as? NSNumber).flatMap({ Self.isBool($0) ? nil : $0.doubleValue }) {
            if let minimum = (schema["minimum"] as? NSNumber)?.doubleValue, number < minimum { problems.append("\(location): \(number) < \(minimum)") }
            if let maximum = (schema["maximum"] as? NSNumber)?.doubleValue, number > maximum { problems.append("\(location): \(number) > \(maximum)") }
        }
        if let object = value as? [String: Any] {
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                problems.append("\(location): the required member \(name) is missing")
            }
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for (name, member) in object {
                if let property = properties[name] {
                    problems += check(member, against: property, at: "\(location).\(name)")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    problems += check(member, against: additional, at: "\(location).\(name)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(location): the member \(name) is not allowed")
                }
            }
        }
        if let array = value as? [Any] {
            if let minimum = schema["minItems"] as? Int, array.count < minimum { problems.append("\(location): fewer than \(minimum) items") }
            if let maximum = schema["maxItems"] as? Int, array.count > maximum { problems.append("\(location): more than \(maximum) items") }
            if let items = schema["items"] as? [String: Any] {
                for (index, element) in array.enumerated() { problems += check(element, against: items, at: "\(location)[\(index)]") }
            }
        }
        return problems
    }

    /// JSONSerialization gives booleans as NSNumbers of Objective-C type `c` (char).
    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    static func matches(_ value: Any, type: String) -> Bool {
        switch type {
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "boolean": return (value as? NSNumber).map(isBool) ?? false
        case "integer":
            guard let number = value as? NSNumber, !isBool(number) else { return false }
            return number.doubleValue.rounded() == number.doubleValue
        case "number": return (value as? NSNumber).map { !isBool($0) } ?? false
        case "null": return value is NSNull
        default: return false
        }
    }

    static func equal(_ lhs: Any, _ rhs: Any) -> Bool {
        switch (lhs, rhs) {
        case let (a as String, b as String): return a == b
        case let (a as NSNumber, b as NSNumber): return a == b
        default: return false
        }
    }

    static func describe(_ value: Any) -> String { String(String(describing: value).prefix(80)) }
}

public struct SchemaCheckError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
