import Foundation
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Turns what goes wrong while a daemon starts into messages a person can act on: which address or
/// path, what the system said, and what to try. Foundation's and NIO's own descriptions
/// (`NSCocoaErrorDomain Code=4`, `bind(descriptor:ptr:bytes:)`) name neither the flag nor the fix.
enum StartupProblems {
    /// Creates `path` (and its parents) when missing and checks that this process may write in it.
    /// `origin` names where the path came from, e.g. `--data-dir` or `data_dir in node.yaml`.
    static func prepareDirectory(_ path: String, origin: String) throws(CLIFailure) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CLIFailure("\(origin) \(path) is a file, not a directory: give a directory for the state")
            }
        } else if let failure = makeDirectories(path) {
            throw CLIFailure(
                "cannot create \(origin) \(path): \(String(cString: strerror(failure))); "
                    + "give a directory this user (\(userName)) can create, or create it first")
        }
        guard access(path, W_OK | X_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIFailure(
                "cannot write in \(origin) \(path): \(reason); "
                    + "run as its owner, or give this user (\(userName)) write access to it")
        }
    }

    /// A readable file for `flag`, or the reason it is not (missing, a directory, no permission).
    static func checkReadableFile(_ path: String, flag: String) throws(CLIFailure) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIFailure("cannot read \(flag) \(path): no such file; check the path")
        }
        guard !isDirectory.boolValue else { throw CLIFailure("\(flag) \(path) is a directory, not a file") }
        guard access(path, R_OK) == 0 else {
            throw CLIFailure("cannot read \(flag) \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The error a listener's failure to bind `host:port` should be reported as: the address, the
    /// cause in words, and what to try. Other errors pass through unchanged.
    static func explainListen(_ error: any Error, host: String, port: Int, flag: String) -> any Error {
        guard let code = errnoCode(of: error) else { return error }
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        switch code {
        case EADDRINUSE:
            return CLIFailure(
                "cannot listen on \(address): the port is already in use (another orchestrator, or another program: "
                    + "`ss -ltnp 'sport = :\(port)'` shows which); stop it or choose another \(flag)")
        case EACCES:
            return CLIFailure(
                "cannot listen on \(address): permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE, "
                    + "so choose a port from 1024 up with \(flag)")
        case EADDRNOTAVAIL:
            return CLIFailure(
                "cannot listen on \(address): \(host) is not an address of this machine; "
                    + "use one of its addresses, 127.0.0.1 for this machine only, or 0.0.0.0 for all")
        default:
            return CLIFailure("cannot listen on \(address): \(String(cString: strerror(code)))")
        }
    }

    /// The errno of a failed `bind`/`listen`; nil for anything else, so an error after the
    /// listener is up is never blamed on its address.
    private static func errnoCode(of error: any Error) -> Int32? {
        guard let io = error as? IOError else { return nil }
        let text = String(describing: io)
        guard text.hasPrefix("bind(") || text.hasPrefix("listen(") else { return nil }
        return io.errnoCode
    }

    /// `mkdir -p`: nil when `path` is a directory afterwards, else the errno of the step that
    /// failed (Foundation's errors lose it on Linux: "The file doesn't exist.").
    static func makeDirectories(_ path: String) -> Int32? {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) == 0 { continue }
            let failure = errno
            var isDirectory: ObjCBool = false
            guard failure == EEXIST, FileManager.default.fileExists(atPath: prefix, isDirectory: &isDirectory), isDirectory.boolValue else {
                return failure == EEXIST ? ENOTDIR : failure
            }
        }
        return nil
    }

    private static var userName: String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "uid \(geteuid())" }
        return String(cString: name)
    }
}

/// A listening service whose failure to bind is reported by `StartupProblems.explainListen`.
struct ExplainedListener<Inner: Service>: Service {
    let inner: Inner
    let host: String
    let port: Int
    let flag: String

    func run() async throws {
        do {
            try await inner.run()
        } catch {
            throw StartupProblems.explainListen(error, host: host, port: port, flag: flag)
        }
    }
}
