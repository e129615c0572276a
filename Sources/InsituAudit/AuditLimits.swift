/// Bounds on what one entry may hold. Much of an entry comes from outside (HTTP requests, node
/// frames, job specs), so every field is cut to these before it is chained: one entry stays a
/// line of bounded size whatever a caller sends.
public enum AuditLimits {
    /// Bytes of UTF-8 in one string (a value, an actor's ID, an action); longer ones are cut at
    /// a character boundary and end in `…`.
    public static let maxStringBytes = 512
    /// Bytes of UTF-8 in a `reason` detail.
    public static let maxReasonBytes = 2048
    /// Bytes of a key in `details` or a nested object.
    public static let maxKeyBytes = 64
    /// Items of one list, members of one object (a result may hold 4096 files, each recorded).
    public static let maxItems = 4096
    /// Depth of nested lists and objects below `details`.
    public static let maxDepth = 4
    /// The longest line the verifier accepts (an entry at every limit stays far below it).
    public static let maxLineBytes = 8 << 20

    static func bounded(_ event: AuditEvent) -> AuditEvent {
        var event = event
        event.action = cut(event.action, maxStringBytes)
        event.actor.id = event.actor.id.map { cut($0, maxStringBytes) }
        event.actor.namespace = event.actor.namespace.map { cut($0, maxStringBytes) }
        event.details = boundedObject(event.details, depth: 0)
        return event
    }

    private static func boundedObject(_ members: [String: AuditValue], depth: Int) -> [String: AuditValue] {
        var out: [String: AuditValue] = [:]
        for key in members.keys.sorted().prefix(maxItems) {
            let value = members[key]!
            out[cut(key, maxKeyBytes)] = key == "reason" ? bounded(value, depth: depth, stringLimit: maxReasonBytes) : bounded(value, depth: depth)
        }
        if members.count > maxItems { out["omitted"] = .int(Int64(members.count - maxItems)) }
        return out
    }

    private static func bounded(_ value: AuditValue, depth: Int, stringLimit: Int = maxStringBytes) -> AuditValue {
        switch value {
        case .string(let text): return .string(cut(text, stringLimit))
        case .int: return value
        case .list(let items):
            guard depth < maxDepth else { return .string("(nested too deep)") }
            var kept = items.prefix(maxItems).map { bounded($0, depth: depth + 1) }
            if items.count > maxItems { kept.append(.string("(\(items.count - maxItems) more omitted)")) }
            return .list(kept)
        case .object(let members):
            guard depth < maxDepth else { return .string("(nested too deep)") }
            return .object(boundedObject(members, depth: depth + 1))
        }
    }

    /// `text` cut to at most `limit` bytes of UTF-8 at a character boundary, `…` marking a cut.
    static func cut(_ text: String, _ limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        var kept = ""
        var used = 0
        let budget = limit - 3  // "…" is three bytes
        for character in text {
            let size = character.utf8.count
            guard used + size <= budget else { break }
            kept.append(character)
            used += size
        }
        return kept + "…"
    }
}
