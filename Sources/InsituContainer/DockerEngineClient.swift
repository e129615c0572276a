import AsyncHTTPClient
import Foundation
import InsituModel
public import NIOCore
import NIOHTTP1

/// The few Docker Engine API calls the container engine needs, over a unix socket. Speaks API
/// version 1.41, which Docker 20.10+ and podman 4's compatible service both accept.
///
/// The engine is a trust boundary like any peer: every response body is read up to a limit, IDs
/// it returns are checked before they go into a URL, numbers are range-checked, and its error
/// messages are shortened and stripped of control characters before anyone sees them.
public struct DockerEngineClient: Sendable {
    public static let apiVersion = "v1.41"
    /// Responses other than the log stream are small JSON documents.
    static let maxResponseBytes = 1 << 20
    static let maxErrorBytes = 64 << 10
    /// Deadline of every call that is not a stream: the engine answers these in well under a
    /// second; a stuck engine must not hold an execution forever.
    static let callTimeout = TimeAmount.seconds(60)

    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// `GET /_ping`: throws unless the engine answers `OK` within `timeout`.
    public func ping(timeout: Duration) async throws(DockerEngineError) {
        let body = try await call(.GET, "/_ping", timeout: .nanoseconds(timeout.nanoseconds))
        guard String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "OK" else {
            throw DockerEngineError(status: nil, message: "the engine answered /_ping with something other than OK")
        }
    }

    /// Creates a container and returns its ID. `name` must be a plain name.
    public func createContainer(name: String, _ request: ContainerCreateRequest) async throws(DockerEngineError) -> String {
        let json: Data
        do {
            json = try JSONEncoder().encode(request)
        } catch {
            throw DockerEngineError(status: nil, message: "cannot encode the create request: \(error)")
        }
        let body = try await call(.POST, "/containers/create?name=\(name)", body: Array(json))
        struct Created: Decodable { var Id: String }
        let created = try decode(Created.self, body, what: "create")
        guard Self.isContainerID(created.Id) else {
            throw DockerEngineError(status: nil, message: "the engine returned a container ID that is not 64 hex digits")
        }
        return created.Id
    }

    public func startContainer(_ id: String) async throws(DockerEngineError) {
        _ = try await call(.POST, "/containers/\(id)/start")
    }

    /// Waits until the container is not running and returns its exit status. Ends early only by
    /// cancellation of the calling task.
    public func waitContainer(_ id: String) async throws(DockerEngineError) -> Int32 {
        let body = try await call(.POST, "/containers/\(id)/wait?condition=not-running", timeout: nil)
        struct Waited: Decodable { var StatusCode: Int64 }
        let waited = try decode(Waited.self, body, what: "wait")
        guard let status = Int32(exactly: waited.StatusCode) else {
            throw DockerEngineError(status: nil, message: "the engine reported an exit status out of range")
        }
        return status
    }

    /// Whether the kernel's OOM killer ended the container, as the engine saw it (Docker does;
    /// podman with runc on cgroup v1 does not always).
    public func wasOOMKilled(_ id: String) async throws(DockerEngineError) -> Bool {
        let body = try await call(.GET, "/containers/\(id)/json")
        struct Inspected: Decodable {
            struct State: Decodable { var OOMKilled: Bool? }
            var State: State?
        }
        return try decode(Inspected.self, body, what: "inspect").State?.OOMKilled ?? false
    }

    /// Follows the container's multiplexed stdout/stderr from its start until it ends, handing
    /// every received block to `onBytes` as it arrives.
    public func followLogs(_ id: String, onBytes: (ByteBuffer) throws -> Void) async throws {
        let response = try await send(.GET, "/containers/\(id)/logs?follow=1&stdout=1&stderr=1", body: nil, timeout: nil)
        guard response.status == .ok else { throw await failure(response, path: "/logs") }
        for try await buffer in response.body {
            try onBytes(buffer)
        }
    }

    /// Kills (SIGKILL, no grace: the containers are created with `StopTimeout` 0) and removes the
    /// container with its anonymous volumes. A container that is already gone is not an error.
    public func removeContainer(_ id: String) async throws(DockerEngineError) {
        do {
            _ = try await call(.DELETE, "/containers/\(id)?force=true&v=true")
        } catch where error.status == 404 {
            return
        }
    }

    /// IDs of the containers (running or not) carrying `label` (`key` or `key=value`).
    public func containers(label: String) async throws(DockerEngineError) -> [String] {
        let filters = (try? JSONEncoder().encode(["label": [label]])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let query = filters.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let body = try await call(.GET, "/containers/json?all=true&filters=\(query)")
        struct Listed: Decodable { var Id: String }
        return try decode([Listed].self, body, what: "list").map(\.Id).filter(Self.isContainerID)
    }

    static func isContainerID(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    // MARK: HTTP

    private func call(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, timeout: TimeAmount? = callTimeout)
        async throws(DockerEngineError) -> [UInt8]
    {
        do {
            let response = try await send(method, path, body: body, timeout: timeout)
            guard (200..<300).contains(response.status.code) else { throw await failure(response, path: path) }
            let buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            return Array(buffer.readableBytesView)
        } catch let error as DockerEngineError {
            throw error
        } catch {
            throw DockerEngineError(status: nil, message: Self.describe(error))
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?, timeout: TimeAmount?) async throws -> HTTPClientResponse {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: "/\(Self.apiVersion)\(path)") else {
            throw DockerEngineError(status: nil, message: "the socket path cannot be used in a URL")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        // AsyncHTTPClient sends no Host for a unix socket; HTTP/1.1 requires one (podman
        // refuses the request without it). The Docker CLI sends `api.moby.localhost`.
        request.headers.replaceOrAdd(name: "Host", value: "api.moby.localhost")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        // Streams (wait, logs) last as long as the container: only cancellation ends them.
        return try await engineHTTPClient.execute(request, deadline: timeout.map { .now() + $0 } ?? .distantFuture)
    }

    private func failure(_ response: HTTPClientResponse, path: String) async -> DockerEngineError {
        let bytes = (try? await response.body.collect(upTo: Self.maxErrorBytes)).map { Array($0.readableBytesView) } ?? []
        struct Message: Decodable { var message: String }
        let text = (try? JSONDecoder().decode(Message.self, from: Data(bytes)))?.message ?? String(decoding: bytes, as: UTF8.self)
        return DockerEngineError(status: Int(response.status.code), message: Self.sanitise(text))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8], what: String) throws(DockerEngineError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw DockerEngineError(status: nil, message: "the engine's \(what) response is not what the Docker Engine API documents")
        }
    }

    /// At most 300 characters, control characters replaced: engine text ends up in results.
    static func sanitise(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let shown = trimmed.prefix(300).unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? " " : String($0) }.joined()
        return shown + (trimmed.count > 300 ? "…" : "")
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded { return "the engine did not answer in time" }
            if error == .cancelled { return "the call was cancelled" }
        }
        if error is CancellationError { return "the call was cancelled" }
        return "cannot reach the engine's socket (\(sanitise(String(describing: error))))"
    }
}

public struct DockerEngineError: Error, CustomStringConvertible, Sendable {
    /// The HTTP status the engine answered with; nil when it did not answer usably.
    public var status: Int?
    public var message: String

    public init(status: Int?, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { status.map { "container engine error \($0): \(message)" } ?? "container engine: \(message)" }
}

/// One client for the process's lifetime (a global is never deinitialised, so it needs no
/// shutdown). No read timeout: the wait and log calls stay open while a container runs and are
/// ended by cancellation; other calls carry their own deadline. No redirects: the engine has no
/// reason to send one.
let engineHTTPClient = HTTPClient(
    eventLoopGroup: HTTPClient.defaultEventLoopGroup,
    configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5))))

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole.saturatingAdding(attoseconds / 1_000_000_000)
    }
}
