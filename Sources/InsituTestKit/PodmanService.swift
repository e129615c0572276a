import Foundation
public import InsituContainer
import InsituLocalCluster
import Synchronization

/// A private `podman system service` on a socket in a test's directory, serving the Docker
/// Engine API with runc (crun, podman's default, refuses hybrid-cgroup hosts), and the busybox
/// test image, imported offline. What the container engine's tests run against.
public final class PodmanService: @unchecked Sendable {
    public static let podman = "/usr/bin/podman"
    public static let runc = "/usr/sbin/runc"
    public static let busybox = "/usr/bin/busybox"
    /// A root file system of busybox-static and its applets, imported under this name.
    public static let testImage = "localhost/insitu-test-busybox:1"

    /// Why the container tests cannot run here, or nil when they can.
    public static let unavailableReason: String? = {
        let missing = [podman, runc, busybox].filter { !FileManager.default.isExecutableFile(atPath: $0) }
        guard missing.isEmpty else {
            return "podman, runc or busybox-static is not installed (missing \(missing.joined(separator: ", "))): container tests skipped; "
                + "`apt-get install podman runc busybox-static` (.ci/run does)"
        }
        guard getuid() == 0 else { return "the container tests run rootful podman and need root: skipped" }
        return nil
    }()

    public let socketPath: String
    private let process: Process
    private let stopped = Mutex(false)

    private init(socketPath: String, process: Process) {
        self.socketPath = socketPath
        self.process = process
    }

    deinit { stop() }

    /// Starts the service with its socket in `directory` and waits until it answers, having made
    /// sure the test image exists.
    public static func start(in directory: String) async throws -> PodmanService {
        try importTestImage()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let socket = directory + "/podman.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: podman)
        process.arguments = ["--runtime", runc, "system", "service", "--time=0", "unix://" + socket]
        // conmon inherits the working directory and may write files there (`oom`).
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let log = directory + "/podman-service.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let service = PodmanService(socketPath: socket, process: process)
        let client = DockerEngineClient(socketPath: socket)
        var lastError: (any Error)?
        do {
            try await waitUntil(timeout: .seconds(60), "podman's API on \(socket)", interval: .milliseconds(50)) {
                guard process.isRunning else {
                    throw LocalClusterError("podman system service exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
                }
                do {
                    try await client.ping(timeout: .seconds(2))
                    return true
                } catch {
                    lastError = error
                    return false
                }
            }
        } catch {
            throw LocalClusterError("\(error); the last answer: \(lastError.map { "\($0)" } ?? "none")")
        }
        return service
    }

    public var client: DockerEngineClient { DockerEngineClient(socketPath: socketPath) }

    /// Stops the service and waits at most 10 s for Foundation to see it exit. Not
    /// `waitUntilExit`: with several suites starting and stopping processes at once, Foundation
    /// was seen never to notice this process's exit (it stayed a zombie and the wait never
    /// returned); a test must not hang on its cleanup.
    public func stop() {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first, process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
    }

    private static let imported = NSLock()
    nonisolated(unsafe) private static var importedOnce = false

    /// Builds the image once per test process: busybox-static and a link per applet, plus the
    /// directories jobs mount over, imported with `podman import` (no registry involved).
    public static func importTestImage() throws {
        try imported.withLock {
            guard !importedOnce else { return }
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("insitu-test-image-\(UUID().uuidString.prefix(8))").path
            defer { try? FileManager.default.removeItem(atPath: root) }
            let rootfs = root + "/rootfs"
            for directory in ["bin", "tmp", "data", "out", "etc", "proc", "sys", "dev"] {
                try FileManager.default.createDirectory(atPath: rootfs + "/" + directory, withIntermediateDirectories: true)
            }
            try FileManager.default.copyItem(atPath: busybox, toPath: rootfs + "/bin/busybox")
            let applets = try run(busybox, ["--list"]).split(separator: "\n").map(String.init)
            for applet in applets where applet != "busybox" && !applet.contains("/") {
                try FileManager.default.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox")
            }
            _ = try run("/bin/tar", ["-C", rootfs, "-cf", root + "/rootfs.tar", "."])
            _ = try run(podman, ["import", root + "/rootfs.tar", testImage])
            importedOnce = true
        }
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw LocalClusterError("\(executable) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}
