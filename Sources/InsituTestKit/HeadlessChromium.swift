public import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// A real browser for the dashboard's tests: headless Chromium (Debian's `chromium` package),
/// driven through the DevTools protocol over its WebSocket, or asked once for a page's DOM.
public final class HeadlessChromium: @unchecked Sendable {
    public let executable: String
    private let process: Process
    private let profile: String
    /// The browser's DevTools endpoint, `ws://127.0.0.1:PORT/devtools/browser/ID`.
    private let endpoint: String

    /// The first of `chromium` and `chromium-headless-shell` on `$PATH`.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in ["chromium", "chromium-headless-shell"] {
            for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
                return directory + "/" + name
            }
        }
        return nil
    }

    /// Flags for a browser on a test machine: no sandbox (tests run as root), no GPU, and the
    /// orchestrator's own certificate authority accepted.
    static let commonArguments = ["--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--no-first-run"]

    /// Starts a browser with a fresh profile under `directory` and waits for its DevTools port.
    public init(executable: String, directory: String, timeout: Duration = .seconds(30)) async throws {
        self.executable = executable
        self.profile = directory + "/chromium-profile"
        try FileManager.default.createDirectory(atPath: profile, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        // The WebSocket client sends `Origin: ws://127.0.0.1`; Chromium refuses DevTools
        // connections from any origin not allowed by name.
        process.arguments =
            Self.commonArguments + [
                "--remote-debugging-port=0", "--remote-allow-origins=ws://127.0.0.1", "--user-data-dir=" + profile, "about:blank",
            ]
        let log =
            FileManager.default.createFile(atPath: directory + "/chromium.log", contents: nil)
            ? FileHandle(forWritingAtPath: directory + "/chromium.log") : nil
        process.standardOutput = log ?? FileHandle.nullDevice
        process.standardError = log ?? FileHandle.nullDevice
        try process.run()
        self.process = process
        // Chromium writes the port it chose and the browser's path once it listens.
        let portFile = profile + "/DevToolsActivePort"
        var lines: [Substring] = []
        let deadline = ContinuousClock.now + timeout
        while lines.count < 2 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8) { lines = text.split(separator: "\n") }
            guard lines.count < 2 else { break }
            guard ContinuousClock.now < deadline, process.isRunning else {
                process.terminate()
                throw BrowserError("Chromium did not open its DevTools port within \(timeout); see \(directory)/chromium.log")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        self.endpoint = "ws://127.0.0.1:\(lines[0])\(lines[1])"
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    /// The DOM of `url` after its scripts ran, from a browser of its own (`--dump-dom`): what a
    /// person without a session sees.
    public static func dumpDOM(executable: String, url: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = commonArguments + ["--dump-dom", "--virtual-time-budget=3000", url]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BrowserError("chromium --dump-dom \(url) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Opens a new tab and runs `body` with it; the tab closes afterwards. Tabs of one browser
    /// share its cookies, as a person's do.
    public func withPage<T: Sendable>(_ body: @escaping @Sendable (BrowserPage) async throws -> T) async throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        try await WebSocketClient.connect(
            url: endpoint, configuration: .init(maxFrameSize: 64 << 20), logger: Logger(label: "chromium") { _ in SwiftLogNoOpLogHandler() }
        ) { inbound, outbound, _ in
            let connection = DevToolsConnection(inbound: inbound, outbound: outbound)
            do {
                let target = try await connection.call("Target.createTarget", ["url": "about:blank"])
                guard let targetID = target["targetId"] as? String else {
                    throw BrowserError("Target.createTarget gave no target: \(target)")
                }
                let attached = try await connection.call("Target.attachToTarget", ["targetId": targetID, "flatten": true])
                guard let session = attached["sessionId"] as? String else { throw BrowserError("Target.attachToTarget gave no session") }
                let value = try await body(BrowserPage(connection: connection, session: session))
                _ = try? await connection.call("Target.closeTarget", ["targetId": targetID])
                result.withLock { $0 = .success(value) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        guard let outcome = result.withLock({ $0 }) else { throw BrowserError("the DevTools connection closed before the page was done") }
        return try outcome.get()
    }
}

/// One tab: navigate, evaluate JavaScript, wait for a condition.
public struct BrowserPage: Sendable {
    let connection: DevToolsConnection
    let session: String

    /// Loads `url` and waits until the document (after any redirects) has loaded.
    public func navigate(_ url: String, timeout: Duration = .seconds(30)) async throws {
        let answer = try await connection.call("Page.navigate", ["url": url], session: session)
        if let error = answer["errorText"] as? String { throw BrowserError("navigating to \(url): \(error)") }
        try await waitFor("document.readyState === 'complete'", timeout: timeout)
    }

    /// The value of a JavaScript expression (promises awaited), as JSON turned into Foundation
    /// values: `String`, `NSNumber`/`Bool`, arrays, dictionaries, or nil.
    @discardableResult
    public func evaluate(_ expression: String) async throws -> Any? {
        let answer = try await connection.call(
            "Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true], session: session)
        if let exception = answer["exceptionDetails"] as? [String: Any] {
            throw BrowserError("\(expression) threw: \((exception["exception"] as? [String: Any])?["description"] ?? exception)")
        }
        return (answer["result"] as? [String: Any])?["value"]
    }

    public func string(_ expression: String) async throws -> String? { try await evaluate(expression) as? String }

    /// Polls `expression` until it is `true`, at most `timeout`. A page that is between two
    /// documents (the expression fails) counts as not yet.
    public func waitFor(_ expression: String, timeout: Duration = .seconds(30), _ what: String? = nil) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if (try? await evaluate(expression)) as? Bool == true { return }
            guard ContinuousClock.now < deadline else {
                let location = (try? await string("location.href")) ?? "?"
                let text = (try? await string("document.body ? document.body.innerText.slice(0, 2000) : ''")) ?? ""
                throw BrowserError("timed out after \(timeout) waiting for \(what ?? expression) at \(location); the page shows:\n\(text)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The page's markup as the browser holds it now.
    public func dom() async throws -> String { try await string("document.documentElement.outerHTML") ?? "" }
}

/// The DevTools protocol's request/answer pairs over one WebSocket; events are skipped. Used from
/// one task at a time (the test's), so calls never interleave.
final class DevToolsConnection: @unchecked Sendable {
    private var messages: WebSocketInboundMessageStream.AsyncIterator
    private let outbound: WebSocketOutboundWriter
    private var nextID = 1

    init(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) {
        self.messages = inbound.messages(maxSize: 64 << 20).makeAsyncIterator()
        self.outbound = outbound
    }

    func call(_ method: String, _ parameters: [String: Any], session: String? = nil) async throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var request: [String: Any] = ["id": id, "method": method, "params": parameters]
        if let session { request["sessionId"] = session }
        try await outbound.writeTextMessage(String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self))
        while let message = try await messages.next() {
            let data: Data
            switch message {
            case .text(let text): data = Data(text.utf8)
            case .binary(let buffer): data = Data(buffer.readableBytesView)
            }
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], object["id"] as? Int == id else { continue }
            if let error = object["error"] as? [String: Any] { throw BrowserError("\(method): \(error["message"] ?? error)") }
            return object["result"] as? [String: Any] ?? [:]
        }
        throw BrowserError("Chromium closed the DevTools connection during \(method)")
    }
}

public struct BrowserError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
