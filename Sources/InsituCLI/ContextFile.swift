import Foundation
import Yams

/// The CLI's own configuration: named contexts (an API address and a token each) and the one in
/// use, in `$INSITU_CONFIG`, else `$XDG_CONFIG_HOME/insitu/config.yaml`, else
/// `~/.config/insitu/config.yaml`. It holds secrets, so it is written with mode 0600 and refused
/// when anyone but its owner may read it, as ssh does with private keys.
struct ContextFile: Codable, Equatable {
    struct Context: Codable, Equatable {
        var api: String
        var token: String?
        /// PEM of the CA that signed the orchestrator's certificate (the cluster CA).
        var caCertificate: String?

        enum CodingKeys: String, CodingKey {
            case api, token
            case caCertificate = "ca-certificate"
        }
    }

    var currentContext: String?
    var contexts: [String: Context] = [:]

    enum CodingKeys: String, CodingKey {
        case currentContext = "current-context"
        case contexts
    }

    static let maxBytes = 1 << 20

    static var path: String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["INSITU_CONFIG"], !explicit.isEmpty { return explicit }
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config").path
        return base + "/insitu/config.yaml"
    }

    var current: Context? { currentContext.flatMap { contexts[$0] } }

    /// The file at `path`, an empty one when there is none.
    static func load(_ path: String = ContextFile.path) throws -> ContextFile {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return ContextFile() }
            throw CLIFailure("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw CLIFailure("\(path) is not a regular file; the CLI keeps its contexts and tokens there")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw CLIFailure(
                "\(path) holds API tokens but others may read it (mode \(String(status.st_mode & 0o777, radix: 8))); "
                    + "run: chmod 600 \(path)")
        }
        guard status.st_size <= maxBytes else { throw CLIFailure("\(path) is larger than 1 MiB; it is not an insitu config file") }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        do {
            return try YAMLDecoder().decode(ContextFile.self, from: text)
        } catch {
            throw CLIFailure("\(path) is not a valid insitu config file (\(error)); fix it or move it away and log in again")
        }
    }

    /// Writes the file atomically (a temporary file created 0600 beside it, then renamed), so a
    /// crash leaves either the old file or the new one, never a readable partial one.
    func save(_ path: String = ContextFile.path) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        let bytes = Array(try encoder.encode(self).utf8)
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CLIFailure("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else {
                close(descriptor)
                unlink(temporary)
                throw CLIFailure("cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += count
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIFailure("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }
}
