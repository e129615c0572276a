import Foundation
public import Hummingbird
import InsituAuth
import NIOCore

/// The request context of the REST API: Hummingbird's core storage plus the caller that
/// `AuthenticationMiddleware` established. Handlers authorise against it; nothing else decides
/// who is calling.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// nil only before authentication ran (and on the unauthenticated health route).
    var caller: Caller?
    /// The connection the request came on: node routes read the client certificate from it.
    let channel: (any Channel)?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The caller, who must hold `scope` and, for something in a namespace, see that namespace.
    /// A refusal becomes 401, 403 or 404 (docs/SECURITY.md).
    @discardableResult
    func authorize(_ scope: Scope, namespace: String? = nil, what: String? = nil) throws -> Caller {
        guard let caller else {
            throw APIError(.unauthorized, code: "token_missing", message: "this API needs a token")
        }
        if let failure = Authorization.authorize(caller, scope, namespace: namespace, what: what) {
            throw APIError(failure)
        }
        return caller
    }
}

extension APIError {
    init(_ failure: AuthFailure) {
        let status: HTTPResponse.Status =
            switch failure.kind {
            case .unauthenticated: .unauthorized
            case .forbidden: .forbidden
            case .notInNamespace: .notFound
            }
        self.init(status, code: failure.code, message: failure.message)
    }
}

extension APIRequestContext {
    /// A path parameter as the client meant it: clients percent-encode IDs so that `/`, `?` or `#`
    /// in one stay inside its segment, and the router hands the segment over still encoded.
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError.badRequest("path parameter \(name) is not valid percent-encoding: \(raw.prefix(100))")
        }
        return decoded
    }
}

