public import InsituModel

/// The cluster as the scheduler needs it, kept up to date by the control plane one change at a
/// time instead of being rebuilt for every evaluation.
///
/// Besides each node's `NodeStatus` it keeps posting sets: the nodes holding each dataset, the
/// nodes supporting each engine, the nodes carrying each label `key=value`, and the connected
/// nodes. `Scheduler.plan(job:existing:index:now:)` starts from the smallest posting set that
/// applies to a job, so a job pinned to a dataset held by four nodes looks at four nodes.
///
/// Costs: every update is O(size of that node's info) (its datasets, labels and engines), every
/// lookup O(1). What a node advertises is not trusted: allocation arithmetic saturates instead of
/// trapping, and a posting set that becomes empty is dropped, so a node cycling through made-up
/// labels leaves nothing behind.
///
/// Value type, no I/O: the owner applies the same updates it persists, in the same order. The order
/// of updates decides the order nodes are scanned in (see `SlotSet`), so equal update sequences
/// give equal plans.
public struct NodeIndex: Sendable {
    /// A node's status lives in a slot; posting sets hold slot numbers (cheap to hash and compare).
    private var slots: [NodeStatus?] = []
    private var freeSlots: [Int] = []
    private var slotByID: [NodeID: Int] = [:]

    private(set) var connected = SlotSet()
    private var byDataset: [String: SlotSet] = [:]
    private var byEngine: [EngineKind: SlotSet] = [:]
    private var byLabel: [LabelPair: SlotSet] = [:]

    public init() {}

    /// An index of `nodes`, with their liveness and allocations as given. A node whose ID repeats
    /// an earlier one is ignored, as `Scheduler.plan(job:existing:nodes:now:)` does.
    public init(_ nodes: [NodeStatus]) {
        for node in nodes where slotByID[node.info.id] == nil { insert(node) }
    }

    // MARK: Reading

    /// How many nodes the index holds, in any liveness.
    public var count: Int { slotByID.count }

    /// How many nodes are `.connected`.
    public var connectedCount: Int { connected.count }

    /// The node's info, liveness and allocation, or nil if the index does not hold it.
    public subscript(id: NodeID) -> NodeStatus? {
        slotByID[id].flatMap { slots[$0] }
    }

    /// Every node, sorted by node ID (O(n log n): for listings, not for planning).
    public var statuses: [NodeStatus] {
        slots.compactMap { $0 }.sorted { $0.info.id < $1.info.id }
    }

    /// How many nodes hold `dataset`, whatever their liveness.
    public func holderCount(of dataset: String) -> Int { byDataset[dataset]?.count ?? 0 }

    // MARK: Updating

    /// Adds a node, or replaces what an existing node advertises (a node that re-registers with
    /// other datasets, labels, engines or capacity) and keeps its allocation. Either way the node's
    /// liveness becomes `liveness` and its last-seen time `now`.
    /// - Returns: true if the node was new.
    @discardableResult
    public mutating func upsert(_ info: NodeInfo, liveness: NodeLiveness, at now: Timestamp) -> Bool {
        guard let slot = slotByID[info.id], var status = slots[slot] else {
            insert(NodeStatus(info: info, liveness: liveness, lastSeen: now))
            return true
        }
        let old = status.info
        status.info = info
        status.liveness = liveness
        status.lastSeen = now
        slots[slot] = status
        reindex(slot, from: old, to: info)
        updateConnected(slot, liveness)
        return false
    }

    /// Sets a node's liveness and last-seen time. Only connected nodes receive new work.
    /// - Returns: false (and changes nothing) if the index does not hold the node.
    @discardableResult
    public mutating func setLiveness(_ liveness: NodeLiveness, of id: NodeID, at now: Timestamp) -> Bool {
        guard let slot = slotByID[id], slots[slot] != nil else { return false }
        slots[slot]?.liveness = liveness
        slots[slot]?.lastSeen = now
        updateConnected(slot, liveness)
        return true
    }

    /// Marks a node drained (no new work) or not. Draining nodes stay in every posting set, so
    /// the scheduler examines them and names the reason.
    /// - Returns: false (and changes nothing) if the index does not hold the node.
    @discardableResult
    public mutating func setDraining(_ draining: Bool, of id: NodeID) -> Bool {
        guard let slot = slotByID[id], slots[slot] != nil else { return false }
        slots[slot]?.draining = draining
        return true
    }

    /// Forgets a node entirely, allocation included.
    /// - Returns: what the index held for it, or nil if it held nothing.
    @discardableResult
    public mutating func remove(_ id: NodeID) -> NodeStatus? {
        guard let slot = slotByID.removeValue(forKey: id), let status = slots[slot] else { return nil }
        reindex(slot, from: status.info, to: nil)
        connected.remove(slot)
        slots[slot] = nil
        freeSlots.append(slot)
        return status
    }

    /// Records that an execution requesting `resources` started to count against the node (it was
    /// placed there and is not terminal): adds the request to its allocation and one to its active
    /// executions. Saturates instead of overflowing.
    /// - Returns: false (and changes nothing) if the index does not hold the node.
    @discardableResult
    public mutating func allocate(_ resources: Resources, on id: NodeID) -> Bool {
        guard let slot = slotByID[id], var status = slots[slot] else { return false }
        status.allocated += resources
        status.activeExecutions = status.activeExecutions.saturatingAdding(1)
        slots[slot] = status
        return true
    }

    /// Undoes `allocate` when an execution on the node ends (or its placement is dropped). Nothing
    /// goes below zero: a release without a matching allocation cannot make a node look bigger
    /// than it is.
    /// - Returns: false (and changes nothing) if the index does not hold the node.
    @discardableResult
    public mutating func release(_ resources: Resources, on id: NodeID) -> Bool {
        guard let slot = slotByID[id], var status = slots[slot] else { return false }
        let remaining = status.allocated - resources
        status.allocated = Resources(cpuMillis: max(0, remaining.cpuMillis), memoryBytes: max(0, remaining.memoryBytes))
        status.activeExecutions = max(0, status.activeExecutions.saturatingSubtracting(1))
        slots[slot] = status
        return true
    }

    // MARK: For the scheduler

    func status(atSlot slot: Int) -> NodeStatus? { slot < slots.count ? slots[slot] : nil }

    func holders(of dataset: String) -> SlotSet? { byDataset[dataset] }
    func supporting(_ engine: EngineKind) -> SlotSet? { byEngine[engine] }
    func labelled(_ key: String, _ value: String) -> SlotSet? { byLabel[LabelPair(key: key, value: value)] }

    // MARK: Maintenance

    private mutating func insert(_ status: NodeStatus) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = status
        } else {
            slot = slots.count
            slots.append(status)
        }
        slotByID[status.info.id] = slot
        reindex(slot, from: nil, to: status.info)
        updateConnected(slot, status.liveness)
    }

    private mutating func updateConnected(_ slot: Int, _ liveness: NodeLiveness) {
        if liveness == .connected { connected.insert(slot) } else { connected.remove(slot) }
    }

    /// Moves `slot` from the posting sets of `old` to those of `new`, touching only what differs.
    private mutating func reindex(_ slot: Int, from old: NodeInfo?, to new: NodeInfo?) {
        let oldDatasets = Set(old?.datasets.map(\.name) ?? [])
        let newDatasets = Set(new?.datasets.map(\.name) ?? [])
        for name in oldDatasets.subtracting(newDatasets) { Self.remove(slot, name, from: &byDataset) }
        for name in newDatasets.subtracting(oldDatasets) { byDataset[name, default: SlotSet()].insert(slot) }

        let oldEngines = Set(old?.engines ?? [])
        let newEngines = Set(new?.engines ?? [])
        for engine in oldEngines.subtracting(newEngines) { Self.remove(slot, engine, from: &byEngine) }
        for engine in newEngines.subtracting(oldEngines) { byEngine[engine, default: SlotSet()].insert(slot) }

        let oldLabels = Set((old?.labels ?? [:]).map { LabelPair(key: $0.key, value: $0.value) })
        let newLabels = Set((new?.labels ?? [:]).map { LabelPair(key: $0.key, value: $0.value) })
        for pair in oldLabels.subtracting(newLabels) { Self.remove(slot, pair, from: &byLabel) }
        for pair in newLabels.subtracting(oldLabels) { byLabel[pair, default: SlotSet()].insert(slot) }
    }

    private static func remove<Key: Hashable>(_ slot: Int, _ key: Key, from postings: inout [Key: SlotSet]) {
        postings[key]?.remove(slot)
        if postings[key]?.isEmpty == true { postings[key] = nil }
    }
}

/// One `key=value` label, as a posting-set key.
struct LabelPair: Hashable, Sendable {
    var key: String
    var value: String
}
