public import InsituModel
public import InsituSimulation

/// The simulator's generator, shared so tests and simulations draw from one definition.
public typealias SeededRandom = InsituSimulation.SeededRandom

/// Deterministic identifiers for tests: `job-0001-3fa2b9c0`, `node-0002-…`. The zero-padded
/// counter keeps IDs readable and sorted in creation order; the seeded suffix makes different
/// seeds give different IDs, so code that depends on particular ID strings shows up.
public struct SeededIDs: Sendable {
    public private(set) var random: SeededRandom
    private var jobs = 0
    private var nodes = 0

    public init(seed: UInt64 = 0) { self.random = SeededRandom(seed: seed) }

    public mutating func nextJobID() -> JobID {
        jobs += 1
        return JobID(make("job", jobs))
    }

    public mutating func nextNodeID() -> NodeID {
        nodes += 1
        return NodeID(make("node", nodes))
    }

    private mutating func make(_ prefix: String, _ counter: Int) -> String {
        let number = String(counter)
        let padded = String(repeating: "0", count: max(0, 4 - number.count)) + number
        let hex = String(random.next() >> 32, radix: 16)
        let suffix = String(repeating: "0", count: 8 - hex.count) + hex
        return "\(prefix)-\(padded)-\(suffix)"
    }
}
