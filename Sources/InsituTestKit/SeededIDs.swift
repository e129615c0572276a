public import InsituModel

/// SplitMix64: a tiny, fast, well-mixed generator whose whole state is one 64-bit word, so any
/// sequence is reproduced from its seed. For tests and simulations only; not cryptographic.
public struct SeededRandom: RandomNumberGenerator, Hashable, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
