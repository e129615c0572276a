import Foundation
import InsituTLS
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
        guard SecretFiles.exists(path) else { return ContextFile() }
        let text: String
        do {
            text = try SecretFiles.read(path, secret: true)
        } catch {
            throw CLIFailure("\(error)")
        }
        do {
            return try YAMLDecoder().decode(ContextFile.self, from: text)
        } catch {
            throw CLIFailure("\(path) is not a valid insitu config file (\(error)); fix it or move it away and log in again")
        }
    }

    /// Writes the file atomically (a new file created 0600 beside it, then renamed), so a crash
    /// leaves either the old file or the new one, never a readable partial one.
    func save(_ path: String = ContextFile.path) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        do {
            try SecretFiles.write(try encoder.encode(self), to: path, mode: 0o600)
        } catch let failure as SecretFiles.Failure {
            throw CLIFailure(failure.description)
        }
    }
}
