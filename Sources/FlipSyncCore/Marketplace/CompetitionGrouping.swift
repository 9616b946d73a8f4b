/// Which of a sweep's listings read their competition together, told one listing at a time, so
/// a decide wave is cut while its listings are paged through rather than held.
public protocol CompetitionGrouper {
    /// The group `listing` joins; nil: a group of its own.
    func key(for listing: MarketplaceListing) -> CompetitionGroupKey?
    /// Told each page of listings before their keys are asked: a grouper that reads remembered
    /// searches reads those of the page's listings only, never the catalog's. An error (the
    /// ledger unreadable) fails the plan.
    func prepare(_ listings: [MarketplaceListing]) throws
}

extension CompetitionGrouper {
    public func prepare(_ listings: [MarketplaceListing]) throws {}
}

/// Listings with equal keys share a group, at most `limit` listings a group (a full group is
/// closed and the next listing with that key opens another); `refresh` groups are read from the
/// remembered searches (`CompetitionGroup.refresh`).
public struct CompetitionGroupKey: Hashable, Sendable {
    public var name: String
    public var refresh: Bool
    public var limit: Int?

    public init(_ name: String, refresh: Bool = false, limit: Int? = nil) {
        self.name = name
        self.refresh = refresh
        self.limit = limit
    }
}

/// Cuts refresh groups in the order listings are taken (a quota-sized sweep takes them in
/// coverage order, then hands the builder their SKUs in SKU order): a refresh key with a
/// `limit` becomes the key of its chunk, `NAME#n` without a limit, n = the listings taken
/// with it so far ÷ `limit`. The quota counter is told n (`CompetitionCallCounter`), so what
/// it pools per refresh task is exactly what each task reads.
struct RefreshGroupCut {
    private var taken: [String: Int] = [:]

    /// The key a listing with `key` has if taken now, and its refresh group's ordinal (0 for
    /// any key that is not a refresh key with a limit, which is kept as it is).
    func place(_ key: CompetitionGroupKey?) -> (key: CompetitionGroupKey?, ordinal: Int) {
        guard let key, key.refresh, let limit = key.limit, limit > 0 else { return (key, 0) }
        let ordinal = (taken[key.name] ?? 0) / limit
        return (CompetitionGroupKey("\(key.name)#\(ordinal)", refresh: true), ordinal)
    }

    /// A listing with `key` was taken into its group.
    mutating func take(_ key: CompetitionGroupKey?) {
        guard let key, key.refresh, key.limit != nil else { return }
        taken[key.name, default: 0] += 1
    }
}

/// The default grouper: each listing alone.
public struct SingleListingGrouper: CompetitionGrouper {
    public init() {}
    public func key(for listing: MarketplaceListing) -> CompetitionGroupKey? { nil }
}

/// Cuts elements added one at a time (with their listing's key) into groups: the `refresh`
/// groups first, then the others, each in the order of its first element; within a group, the
/// order added. Holds the elements (the sweep adds SKUs) and 4 bytes each for the cut, never
/// the listings.
public struct CompetitionGroupBuilder<Element> {
    private var elements: [Element] = []
    private var groupOfElement: [Int32] = []
    private var sizes: [Int] = []
    private var refresh: [Bool] = []
    private var open: [CompetitionGroupKey: Int] = [:]

    public init() {}

    public var isEmpty: Bool { elements.isEmpty }

    public mutating func add(_ element: Element, key: CompetitionGroupKey?) {
        let group: Int
        if let key, let at = open[key] {
            group = at
        } else {
            group = sizes.count
            sizes.append(0)
            refresh.append(key?.refresh ?? false)
            if let key { open[key] = group }
        }
        sizes[group] += 1
        if let key, let limit = key.limit, sizes[group] >= limit { open[key] = nil }
        elements.append(element)
        groupOfElement.append(Int32(group))
    }

    /// The elements in group order, and each group's range of them.
    public consuming func build() -> (elements: [Element], groups: [(range: Range<Int>, refresh: Bool)]) {
        let order = sizes.indices.filter { refresh[$0] } + sizes.indices.filter { !refresh[$0] }
        var start = [Int](repeating: 0, count: sizes.count)
        var groups: [(range: Range<Int>, refresh: Bool)] = []
        groups.reserveCapacity(order.count)
        var offset = 0
        for group in order {
            start[group] = offset
            groups.append((offset..<offset + sizes[group], refresh[group]))
            offset += sizes[group]
        }
        open = [:]
        sizes = []
        // Each element to its group's next free place (a counting sort, stable within a group):
        // the groups' ranges partition 0..<count, so every place is written exactly once.
        let placed = [Element](unsafeUninitializedCapacity: elements.count) { buffer, initialized in
            for (index, element) in elements.enumerated() {
                let group = Int(groupOfElement[index])
                (buffer.baseAddress! + start[group]).initialize(to: element)
                start[group] += 1
            }
            initialized = elements.count
        }
        elements = []
        groupOfElement = []
        return (placed, groups)
    }
}

extension Marketplace {
    /// `listings` cut into groups by `competitionGrouper(options:)`, as the sweep cuts them.
    public func competitionGroups(_ listings: [MarketplaceListing], options: CompetitionOptions) throws -> [CompetitionGroup] {
        let grouper = competitionGrouper(options: options)
        try grouper.prepare(listings)
        var builder = CompetitionGroupBuilder<MarketplaceListing>()
        for listing in listings { builder.add(listing, key: grouper.key(for: listing)) }
        let (placed, groups) = builder.build()
        return groups.map { CompetitionGroup(listings: Array(placed[$0.range]), refresh: $0.refresh) }
    }

    /// The groups with nothing remembered (no refresh group).
    public func competitionGroups(_ listings: [MarketplaceListing]) throws -> [[MarketplaceListing]] {
        try competitionGroups(listings, options: CompetitionOptions(titleMatches: false)).map(\.listings)
    }
}
