import Foundation
public import Hummingbird
public import InsituAPI

/// An error meant for API callers: it carries its HTTP status, a stable code and a message that
/// says what was wrong and how to fix it. Anything else thrown by a handler becomes an opaque 500
/// and is logged.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var problems: [APIProblem]?

    public init(_ status: HTTPResponse.Status, code: String, message: String, problems: [APIProblem]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems
    }

    public static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "\(what) does not exist")
    }

    public static func badRequest(_ message: String, problems: [APIProblem]? = nil) -> APIError {
        APIError(.badRequest, code: "bad_request", message: message, problems: problems)
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = APIErrorBody(error: .init(code: code, message: message, problems: problems))
        let data = try JSONEncoder.api.encode(body)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension JSONEncoder {
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
