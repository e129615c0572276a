import Foundation

/// A deterministic synthetic "hospital" dataset: one CSV of patients per site. The same seed
/// always gives the same rows, so tests can compute the expected answer themselves.
public struct SyntheticPatients: Sendable {
    public static let conditions = ["asthma", "copd", "diabetes", "heart-failure", "hypertension", "influenza"]
    public static let header = "patient_id,age,sex,condition,admitted"

    public let site: String
    public let rows: Int
    public let seed: UInt64

    public init(site: String, rows: Int, seed: UInt64) {
        self.site = site
        self.rows = rows
        self.seed = seed
    }

    /// The CSV text and, per condition, how many rows have it.
    public func generate() -> (csv: String, counts: [String: Int]) {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        // Each site has its own mix of conditions, so per-site answers differ.
        let weights = Self.conditions.map { _ in Int(next() % 9) + 1 }
        let total = weights.reduce(0, +)
        var counts: [String: Int] = [:]
        var lines = [Self.header]
        lines.reserveCapacity(rows + 1)
        for index in 0..<rows {
            var pick = Int(next() % UInt64(total))
            var condition = Self.conditions[0]
            for (candidate, weight) in zip(Self.conditions, weights) {
                if pick < weight {
                    condition = candidate
                    break
                }
                pick -= weight
            }
            counts[condition, default: 0] += 1
            let age = 18 + Int(next() % 80)
            let sex = next() % 2 == 0 ? "F" : "M"
            let day = 1 + Int(next() % 28)
            let month = 1 + Int(next() % 12)
            lines.append("\(site)-\(index + 1),\(age),\(sex),\(condition),2026-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)")
        }
        return (lines.joined(separator: "\n") + "\n", counts)
    }

    /// Writes `patients.csv` into `directory` (created if needed) and returns the counts.
    @discardableResult
    public func write(to directory: String) throws -> [String: Int] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (csv, counts) = generate()
        try Data(csv.utf8).write(to: URL(fileURLWithPath: directory + "/patients.csv"))
        return counts
    }
}
