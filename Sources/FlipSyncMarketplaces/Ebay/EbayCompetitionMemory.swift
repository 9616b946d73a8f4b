import FlipSyncCore

/// The remembered GTIN searches by GTIN, each with the conditions its filter covered (its key
/// is `GTIN|conditionIds`; an empty filter covers every condition).
struct RememberedGTINSearches {
    struct Entry {
        var key: String
        var conditions: Set<ItemCondition>
        var coversAll: Bool
        var search: RememberedSearch
    }

    private(set) var byGTIN: [String: [Entry]] = [:]

    init(_ remembered: [String: RememberedSearch]) {
        for (key, search) in remembered {
            guard let bar = key.firstIndex(of: "|") else { continue }
            let gtin = String(key[..<bar])
            let ids = key[key.index(after: bar)...].split(separator: ",").compactMap { Int($0) }
            byGTIN[gtin, default: []].append(Entry(key: key, conditions: Set(ids.compactMap(EbayCondition.condition(id:))),
                                                   coversAll: ids.isEmpty, search: search))
        }
    }

    /// The remembered searches of the GTINs of `listings` (one read, whatever their number).
    init(memory: any CompetitorMemory, listings: [MarketplaceListing]) throws {
        var gtins: [String] = [], seen = Set<String>()
        for listing in listings { if let gtin = listing.gtin, seen.insert(gtin).inserted { gtins.append(gtin) } }
        self.init(gtins.isEmpty ? [:] : try memory.rememberedSearches(marketplace: .ebay, subjects: gtins))
    }

    /// The newest search of the listing's GTIN whose filter covered its condition, made at or after `since`.
    func newest(covering listing: MarketplaceListing, since: Int64? = nil) -> Entry? {
        guard let gtin = listing.gtin else { return nil }
        let best = byGTIN[gtin]?.filter { $0.coversAll || $0.conditions.contains(listing.condition) }
            .max { ($0.search.searchedAt, $0.key) < ($1.search.searchedAt, $1.key) }
        guard let best, best.search.searchedAt >= (since ?? .min) else { return nil }
        return best
    }

    /// The most results any remembered search of `gtin` found; nil when it was never searched.
    func mostResults(gtin: String) -> Int? { byGTIN[gtin]?.map(\.search.itemIDs.count).max() }
}

/// Fulfillment policies by id, kept by one `EbayMarketplace` between its listings read and the
/// decide tasks that complete pending listings.
actor FulfillmentPolicyCache {
    private var byID: [String: FulfillmentPolicy] = [:]

    func replace(_ policies: [FulfillmentPolicy]) {
        byID = [:]
        for policy in policies { byID[policy.policyID] = policy }
    }

    func add(_ policy: FulfillmentPolicy) { byID[policy.policyID] = policy }

    func policy(_ id: String) -> FulfillmentPolicy? { byID[id] }
}

/// `EbayMarketplace.competitionCallCounter`'s count, listing by listing.
final class EbayCallCounter: CompetitionCallCounter {
    static let browse = QuotaKey(provider: "ebay", api: "browse")
    static let getItems = QuotaKey(provider: "ebay", api: "browse_get_items")

    /// Every remembered search (tests), or those of the page `prepare` was last told.
    private var remembered: RememberedGTINSearches
    let memory: (any CompetitorMemory)?
    let refreshSince: Int64?
    let titleMatches: Bool
    let maxPages: Int64
    /// GTINs whose search is taken, and, in the current refresh group, remembered searches
    /// whose ids are taken and those ids.
    private var searchedGTINs = Set<String>()
    private var refreshedKeys = Set<String>()
    private var pooled = Set<String>()
    private var refreshGroup = 0

    /// Over `remembered`, whatever the listings (`prepare` reads nothing).
    convenience init(remembered: [String: RememberedSearch], refreshSince: Int64?, titleMatches: Bool, maxResultsPerSearch: Int) {
        self.init(remembered: RememberedGTINSearches(remembered), memory: nil, refreshSince: refreshSince, titleMatches: titleMatches,
                  maxResultsPerSearch: maxResultsPerSearch)
    }

    /// Over `memory`'s searches of each page it is told (`prepare`).
    convenience init(memory: (any CompetitorMemory)?, refreshSince: Int64?, titleMatches: Bool, maxResultsPerSearch: Int) {
        self.init(remembered: RememberedGTINSearches([:]), memory: memory, refreshSince: refreshSince, titleMatches: titleMatches,
                  maxResultsPerSearch: maxResultsPerSearch)
    }

    private init(remembered: RememberedGTINSearches, memory: (any CompetitorMemory)?, refreshSince: Int64?, titleMatches: Bool,
                 maxResultsPerSearch: Int) {
        self.remembered = remembered
        self.memory = memory
        self.refreshSince = refreshSince
        self.titleMatches = titleMatches
        maxPages = Int64(max(1, (maxResultsPerSearch + 199) / 200))
    }

    func prepare(_ listings: [MarketplaceListing]) throws {
        guard let memory else { return }
        remembered = try RememberedGTINSearches(memory: memory, listings: listings)
    }

    private func fresh(_ listing: MarketplaceListing) -> RememberedGTINSearches.Entry? {
        guard let since = refreshSince else { return nil }
        return remembered.newest(covering: listing, since: since)
    }

    /// Each refresh group is one task's getItems calls: ids are pooled within it, 20 a call,
    /// and a group starts with an empty pool.
    func adding(_ listing: MarketplaceListing, refreshGroup group: Int) -> [QuotaKey: Int64] {
        var browse: Int64 = 0, getItems: Int64 = 0
        if let gtin = listing.gtin {
            if let entry = fresh(listing) {
                // Another group than the current one starts with an empty pool.
                let sameGroup = group == refreshGroup, pool = sameGroup ? pooled : []
                if !sameGroup || !refreshedKeys.contains(entry.key) {
                    // The ids not pooled yet, each once: a pass over this search's ids (the
                    // pool's own size must not matter — `Set.subtracting(pooled)` made the
                    // walk quadratic, 86 % of a second night's CPU at 20,000 listings).
                    var new = Set<String>()
                    for id in entry.search.itemIDs where !pool.contains(id) { new.insert(id) }
                    let before = Int64(pool.count), after = before + Int64(new.count)
                    getItems = (after + 19) / 20 - (before + 19) / 20
                }
            } else if !searchedGTINs.contains(gtin) {
                let pages = remembered.mostResults(gtin: gtin).map { Int64(($0 + 199) / 200) } ?? 1
                browse += min(maxPages, max(1, pages))
            }
        }
        if (titleMatches || listing.gtin == nil) && !listing.title.split(whereSeparator: \.isWhitespace).isEmpty { browse += 1 }
        return [Self.browse: browse, Self.getItems: getItems]
    }

    func take(_ listing: MarketplaceListing, refreshGroup group: Int) {
        guard let gtin = listing.gtin else { return }
        if let entry = fresh(listing) {
            if group != refreshGroup {
                refreshGroup = group
                refreshedKeys = []
                pooled = []
            }
            if refreshedKeys.insert(entry.key).inserted { pooled.formUnion(entry.search.itemIDs) }
        } else {
            searchedGTINs.insert(gtin)
        }
    }
}
