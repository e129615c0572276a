/// Rejected nodes counted per reason instead of listed one by one, so that explaining a plan stays
/// short on a cluster of thousands of nodes.
public struct RejectionTally: Hashable, Sendable {
    /// How many rejected nodes this tally stands for.
    public var nodeCount: Int
    /// For each reason, how many of those nodes it applies to. A node the scheduler examined counts
    /// under each of its reasons; a node the index excluded without examining it (it is not in the
    /// posting set the scheduler started from) counts only under the reason it was excluded for.
    /// So the counts may add up to more than `nodeCount`.
    public var reasons: [RejectionKind: Int]

    public init(nodeCount: Int = 0, reasons: [RejectionKind: Int] = [:]) {
        self.nodeCount = nodeCount
        self.reasons = reasons
    }

    public var isEmpty: Bool { nodeCount == 0 }

    /// Counts `nodes` more nodes under `reason`.
    mutating func add(_ nodes: Int, _ reason: RejectionKind) {
        guard nodes > 0 else { return }
        reasons[reason, default: 0] += nodes
    }

    /// One line per reason, largest count first, then alphabetically:
    /// `9,990 other nodes: dataset "patients" not present`.
    public func explain() -> [String] {
        let lines = reasons.map { (count: $0.value, text: $0.key.description) }
        return lines.sorted { $0.count != $1.count ? $0.count > $1.count : $0.text < $1.text }.map {
            "\(Self.grouped($0.count)) other node\($0.count == 1 ? "" : "s"): \($0.text)"
        }
    }

    /// `9990` as `9,990`.
    static func grouped(_ number: Int) -> String {
        let digits = Array(String(number.magnitude))
        var text = ""
        for (offset, digit) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return number < 0 ? "-" + text : text
    }
}
