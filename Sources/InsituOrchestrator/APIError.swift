import Foundation
import InsituModel
public import Hummingbird
public import InsituAPI

/// An error meant for API callers: it carries its HTTP status, a stable code and a message that
/// says what was wrong and how to fix it, and answers as RFC 9457 problem details
/// (`ProblemDetails`). Anything else thrown by a handler becomes an opaque 500 and is logged.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var problems: [APIProblem]?
    /// Extra response headers, such as `Allow` on a 405.
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, problems: [APIProblem]? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems
        self.headers = headers
    }

    public static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "\(what) does not exist")
    }

    public static func badRequest(_ message: String, problems: [APIProblem]? = nil) -> APIError {
        APIError(.badRequest, code: "bad_request", message: message, problems: problems)
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder.api.encode(details)
        var headers = headers
        headers[.contentType] = ProblemDetails.mediaType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    public var details: ProblemDetails {
        ProblemDetails(status: status.code, title: status.reasonPhrase, code: code, detail: message, problems: problems)
    }
}

extension JSONEncoder {
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Times as RFC 3339 text, as people and tools read them; the client reads either form.
        encoder.userInfo[Timestamp.rfc3339UserInfoKey] = true
        return encoder
    }
}
