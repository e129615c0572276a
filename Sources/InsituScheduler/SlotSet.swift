/// A set of node slots with O(1) insert, remove and membership, and random access by position.
///
/// Members are kept in a dense array (removal moves the last member into the gap), so their order
/// depends only on the sequence of updates, never on hashing: Swift seeds `Set` and `Dictionary`
/// iteration per process, which would make plans differ between runs.
struct SlotSet: Sendable {
    private(set) var members: [Int] = []
    private var positions: [Int: Int] = [:]

    var count: Int { members.count }
    var isEmpty: Bool { members.isEmpty }

    func contains(_ slot: Int) -> Bool { positions[slot] != nil }

    mutating func insert(_ slot: Int) {
        guard positions[slot] == nil else { return }
        positions[slot] = members.count
        members.append(slot)
    }

    mutating func remove(_ slot: Int) {
        guard let position = positions.removeValue(forKey: slot) else { return }
        let last = members.removeLast()
        if position < members.count {
            members[position] = last
            positions[last] = position
        }
    }
}
