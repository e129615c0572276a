import Foundation
public import InsituAudit
public import InsituAuditFile
public import InsituModel
public import Logging
import Synchronization

/// The orchestrator's audit: its own log (`audit.log` in the data directory) and the last audit
/// head each node reported (`audit-heads.json`), kept to notice a node whose log was rewritten.
public final class AuditTrail: Sendable {
    public let log: AuditLog
    let headsPath: String
    let logger: Logger
    private let heads: Mutex<[String: NodeAuditState]>

    struct NodeAuditState: Codable, Sendable {
        var head: AuditHead
        /// Why the node's log counts as rewritten; kept once set (docs/AUDIT.md says how to clear it).
        var alert: String?
    }

    /// Opens (creating) both files under `directory`.
    public init(directory: String, logger: Logger) throws {
        self.logger = logger
        self.log = try AuditLog.shared(path: directory + "/" + AuditLog.fileName, onFailure: { error in
            logger.error("could not write an audit entry", metadata: ["error": "\(error)"])
        })
        self.headsPath = directory + "/audit-heads.json"
        var stored: [String: NodeAuditState] = [:]
        if let data = FileManager.default.contents(atPath: headsPath) {
            do { stored = try JSONDecoder().decode([String: NodeAuditState].self, from: data) } catch {
                throw AuditLogError(
                    "\(headsPath) (the audit heads the nodes reported) is unreadable: \(error). "
                        + "Restore it from a backup, or remove it to start tracking every node's head afresh")
            }
        }
        heads = Mutex(stored)
    }

    /// Records what happened now.
    public func record(_ actor: AuditActor, _ action: String, _ outcome: AuditOutcome = .ok, _ details: [String: AuditValue] = [:]) {
        log.record(actor, action, outcome, details)
    }

    /// Compares the head a node reported with the last one it reported, remembers it, and
    /// records an alert when the node's log was rewritten. `node` must be validated already.
    func observe(_ reported: AuditHead?, from node: NodeID) {
        guard let reported else { return }
        let check: AuditHeadCheck = heads.withLock { heads in
            let known = heads[node.rawValue]
            let check = AuditHeadCheck.compare(known: known?.head, reported: reported)
            switch check {
            case .malformed: return check
            case .first, .consistent:
                guard known?.head != reported else { return check }
                heads[node.rawValue] = NodeAuditState(head: reported, alert: known?.alert)
            case .rewritten(let reason):
                heads[node.rawValue] = NodeAuditState(head: reported, alert: known?.alert ?? reason)
            }
            // Under the lock, so the file never goes back to an older snapshot.
            persist(heads)
            return check
        }
        switch check {
        case .rewritten(let reason):
            logger.error("a node's audit log was rewritten", metadata: ["node": "\(node)", "reason": "\(reason)"])
            record(.node(node), "node.audit_rewritten", .alert, ["node": .string(node.rawValue), "reason": .string(reason), "head": Self.value(reported)])
        case .malformed(let reason):
            record(.node(node), "node.audit_head", .refused, ["node": .string(node.rawValue), "reason": .string(reason)])
        case .first, .consistent: break
        }
    }

    /// The last head `node` reported and its alert, if any.
    func status(of node: NodeID) -> (head: AuditHead?, alert: String?) {
        heads.withLock { heads in (heads[node.rawValue]?.head, heads[node.rawValue]?.alert) }
    }

    /// Written whole to a temporary file and renamed over the old one, so a crash leaves one or
    /// the other. A failure is logged: heads kept in memory still catch a rewrite until a restart.
    private func persist(_ snapshot: [String: NodeAuditState]) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(snapshot).write(to: URL(fileURLWithPath: headsPath), options: .atomic)
        } catch {
            logger.error("could not store the nodes' audit heads", metadata: ["path": "\(headsPath)", "error": "\(error)"])
        }
    }

    static func value(_ head: AuditHead) -> AuditValue {
        .object(["seq": .int(Int64(clamping: head.seq)), "hash": .string(head.hash)])
    }
}
