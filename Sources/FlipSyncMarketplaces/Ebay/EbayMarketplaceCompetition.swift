import FlipSyncCore

extension EbayMarketplace {
    // MARK: Competition

    public func competition(for listing: MarketplaceListing) async throws -> Competition {
        guard case .found(let competition)? = try await read([listing], titleSearch: { _ in true }).first else { return Competition(offers: []) }
        return competition
    }

    /// The listings together: one GTIN search per distinct GTIN, filtered by every condition
    /// the listings of that GTIN are in, its results split by each item's `conditionId` so a
    /// listing gets only the offers of its own condition; the keyword search per listing only
    /// when `titleMatches` (its offers without our GTIN are title-only, and count only when a
    /// matcher accepts them) or when the listing has no GTIN. Offers and their order are as
    /// `competition(for:)` gives, less the title-only ones when the keyword search is skipped.
    public func competitions(for listings: [MarketplaceListing], titleMatches: Bool) async throws -> [CompetitionLookup] {
        try await read(listings, titleSearch: { titleMatches || $0.gtin == nil })
    }

    /// The sweep's read: as `competitions(for:titleMatches:)`, and every GTIN search made is
    /// remembered in `options.memory` (its competitor ids, with `options.now`, under the GTIN and
    /// the conditions it was filtered by). In the refresh group (`options.refresh`) a listing
    /// whose GTIN has a remembered search covering its condition is not searched again: the
    /// ids (all of the group's, each once) are read with getItems, 20 a call, up to
    /// `offerReadsInFlight` calls at once; the competition is the items still returned, split
    /// by condition the same way, and the ids no longer returned (ended listings) are forgotten.
    public func competitions(for listings: [MarketplaceListing], options: CompetitionOptions) async throws -> [CompetitionLookup] {
        try await read(listings, titleSearch: { options.titleMatches || $0.gtin == nil }, refresh: options.refresh,
                       memory: options.memory, now: options.now)
    }

    /// What one GTIN read found: the items, and the conditions the search was filtered by.
    struct GTINResults {
        var items: [CompetitorListing]
        var conditions: Set<ItemCondition>
    }

    func read(_ listings: [MarketplaceListing], titleSearch: (MarketplaceListing) -> Bool, refresh: Bool = false,
                      memory: (any CompetitorMemory)? = nil, now: Int64 = 0) async throws -> [CompetitionLookup] {
        var results = [GTINResults?](repeating: nil, count: listings.count)
        if refresh, let memory {
            // Only the searches of this group's GTINs (a refresh task holds at most
            // `refreshTaskListings` listings; the catalog's searches are not read).
            let remembered = try RememberedGTINSearches(memory: memory, listings: listings)
            var covering: [Int: RememberedGTINSearches.Entry] = [:], ids: [String] = [], seenKeys = Set<String>(), seenIDs = Set<String>()
            for (index, listing) in listings.enumerated() {
                guard let entry = remembered.newest(covering: listing) else { continue }
                covering[index] = entry
                guard seenKeys.insert(entry.key).inserted else { continue }
                for id in entry.search.itemIDs where seenIDs.insert(id).inserted { ids.append(id) }
            }
            let found = try await refreshedItems(ids)
            let byID = Dictionary(found.map { ($0.itemID, $0) }, uniquingKeysWith: { a, _ in a })
            try memory.forgetItems(marketplace: .ebay, itemIDs: ids.filter { byID[$0] == nil })
            for (index, entry) in covering {
                results[index] = GTINResults(items: entry.search.itemIDs.compactMap { byID[$0] }, conditions: entry.conditions)
            }
        }
        // The rest: one search per distinct GTIN, filtered by the conditions its listings need.
        var order: [String] = [], needed: [String: Set<ItemCondition>] = [:]
        for (index, listing) in listings.enumerated() where results[index] == nil {
            guard let gtin = listing.gtin else { continue }
            if needed[gtin] == nil { order.append(gtin) }
            needed[gtin, default: []].insert(listing.condition)
        }
        var searched: [String: GTINResults] = [:]
        for gtin in order {
            let conditions = needed[gtin] ?? []
            let conditionIDs = Self.conditionIDs(conditions)
            let found = try await client.searchAll(BrowseQuery(.gtin(gtin), conditionIDs: conditionIDs, pageSize: 200),
                                                   maxItems: maxResultsPerSearch)
            searched[gtin] = GTINResults(items: found, conditions: conditions)
            try await memory?.rememberSearch(marketplace: .ebay, key: Self.searchKey(gtin: gtin, conditionIDs: conditionIDs),
                                       RememberedSearch(itemIDs: found.map(\.itemID), searchedAt: now))
        }
        var lookups: [CompetitionLookup] = []
        for (index, listing) in listings.enumerated() {
            let gtinResults = results[index] ?? listing.gtin.flatMap { searched[$0] }
            lookups.append(.found(try await competition(for: listing, gtinResults: gtinResults, titleSearch: titleSearch(listing))))
        }
        return lookups
    }

    /// getItems over `ids`, 20 a call, in order, up to `offerReadsInFlight` calls at once.
    func refreshedItems(_ ids: [String]) async throws -> [CompetitorListing] {
        let batches = stride(from: 0, to: ids.count, by: EbayClient.getItemsLimit).map {
            Array(ids[$0..<min($0 + EbayClient.getItemsLimit, ids.count)])
        }
        return try await withThrowingTaskGroup(of: (Int, [CompetitorListing]).self) { group in
            var out = [[CompetitorListing]](repeating: [], count: batches.count)
            var next = 0
            func start() {
                let index = next
                next += 1
                group.addTask { (index, try await client.items(ids: batches[index])) }
            }
            while next < min(offerReadsInFlight, batches.count) { start() }
            while let (index, items) = try await group.next() {
                out[index] = items
                if next < batches.count { start() }
            }
            return out.flatMap { $0 }
        }
    }

    /// Every Browse `conditionId` of `conditions`, ascending (for `filter=conditionIds:{…}`).
    static func conditionIDs(_ conditions: Set<ItemCondition>) -> [Int] {
        // Most GTINs are searched for one condition, whose ids are already sorted and distinct.
        if conditions.count == 1, let only = conditions.first { return EbayCondition.ids(for: only) }
        return Array(Set(conditions.flatMap { EbayCondition.ids(for: $0) })).sorted()
    }

    /// A GTIN search's key: the GTIN and the condition ids it was filtered by, `GTIN|id,id`.
    static func searchKey(gtin: String, conditionIDs: [Int]) -> String {
        "\(gtin)|\(conditionIDs.sorted().map(String.init).joined(separator: ","))"
    }

    /// The key of a search of a listing's GTIN in its condition alone; nil without a GTIN.
    static func searchKey(_ listing: MarketplaceListing) -> String? {
        guard let gtin = listing.gtin else { return nil }
        return searchKey(gtin: gtin, conditionIDs: EbayCondition.ids(for: listing.condition))
    }

    /// Listings sharing a GTIN in one group (their competition comes from one search), in order
    /// of each GTIN's first listing; a listing without a GTIN alone. Except that the listings
    /// whose GTIN has a search remembered at or after `options.refreshSince` covering their
    /// condition are refreshed with getItems (`refresh`), first, in groups of at most
    /// `refreshTaskListings`, so the ids of a group's GTINs share calls, 20 a call.
    /// The remembered searches it looks at are those of the page of listings it was last told
    /// (`prepare`), never the catalog's.
    public func competitionGrouper(options: CompetitionOptions) -> any CompetitionGrouper {
        EbayGTINGrouper(memory: options.memory, refreshSince: options.refreshSince, refreshLimit: refreshTaskListings)
    }

    /// `searchTaskGTINs` GTIN groups a decide task (refresh groups are tasks of their own).
    public var decideTaskGroups: Int { searchTaskGTINs }

    /// Browse calls (`ebay/browse`) and getItems calls (`ebay/browse_get_items`) a sweep's
    /// listings take, as `competitions(for:options:)` makes them: a GTIN search per distinct
    /// GTIN (listings sharing it are free, whatever their condition), counted as the most pages
    /// (200 results each, at most `maxResultsPerSearch`) a remembered search of that GTIN read,
    /// one when never searched; instead, for a listing whose GTIN has a fresh remembered search
    /// covering its condition, that search's ids, getItems counted as ⌈ids of all taken / 20⌉
    /// within each refresh group (each its own task's calls, `CompetitionCallCounter`);
    /// a keyword search (one call) per listing when `titleMatches` or the listing has no GTIN.
    public func competitionCallCounter(options: CompetitionOptions) -> (any CompetitionCallCounter)? {
        EbayCallCounter(memory: options.memory, refreshSince: options.refreshSince, titleMatches: options.titleMatches,
                        maxResultsPerSearch: maxResultsPerSearch)
    }

    /// The sweep's Browse calls (GTIN and keyword searches, getItems) go through the client's
    /// Browse token bucket at its configured rate (`rate_limit`, `burst`; eBay publishes daily
    /// quotas only): the sweep's time bound counts the calls `competitionCallCounter` counts
    /// against it (`countsCalls`). getOffers have their own bucket (`offerReadRate`).
    public var competitionReadRate: CompetitionReadRate? {
        let c = client.configuration
        let perSecond = Double(c.requests) * 1000 / Double(max(1, c.per.milliseconds))
        return CompetitionReadRate(operation: "browse", requestsPerSecond: perSecond, burst: c.burst, listingsPerRequest: 1,
                                   countsCalls: true)
    }

    /// One listing's competition: the items of its GTIN read that are in its condition (an
    /// item's condition is its `conditionId`; one without a known `conditionId` is taken to be
    /// in the condition searched for only when the search was for one condition, and is left
    /// out otherwise), plus its keyword search when `titleSearch`.
    func competition(for listing: MarketplaceListing, gtinResults: GTINResults?, titleSearch: Bool) async throws -> Competition {
        var offers: [CompetitorOffer] = []
        var seen = Set<String>()
        if let gtinResults {
            let only = gtinResults.conditions.count == 1 ? gtinResults.conditions.first : nil
            for item in gtinResults.items where seen.insert(item.itemID).inserted {
                // An item in a condition the search asked for on behalf of another listing is that listing's.
                let condition = item.conditionID.flatMap(EbayCondition.condition(id:)) ?? only
                guard let condition, condition == listing.condition || !gtinResults.conditions.contains(condition) else { continue }
                if let offer = offer(item, byIdentifier: true, queried: listing.condition) { offers.append(offer) }
            }
        }
        // The keywords (the title's words, one space between) only for a title search.
        let words = titleSearch ? listing.title.split(whereSeparator: \.isWhitespace).joined(separator: " ") : ""
        if !words.isEmpty {
            let found = try await client.searchAll(BrowseQuery(.keywords(words), conditionIDs: EbayCondition.ids(for: listing.condition), pageSize: 200),
                                                   maxItems: maxResultsPerSearch)
            for item in found where seen.insert(item.itemID).inserted {
                // A result with our GTIN is an identifier match found by title; one with another GTIN is another product.
                let byIdentifier = item.gtin != nil && item.gtin == listing.gtin
                if let theirs = item.gtin, let ours = listing.gtin, theirs != ours { continue }
                if let offer = offer(item, byIdentifier: byIdentifier, queried: listing.condition) { offers.append(offer) }
            }
        }
        offers.sort { ($0.price.currency.code, $0.landed.micros, $0.offerID) < ($1.price.currency.code, $1.landed.micros, $1.offerID) }
        return Competition(offers: offers)
    }

    /// A search result as a competitor offer, or nil when it cannot be priced landed. Its
    /// condition is eBay's `conditionId`; when that is missing or unknown, the condition the
    /// search was filtered by.
    func offer(_ item: CompetitorListing, byIdentifier: Bool, queried: ItemCondition) -> CompetitorOffer? {
        guard let shipping = item.shippingCost, shipping.currency == item.price.currency else { return nil }
        let username = item.seller?.username ?? ""
        let isOurs = ourUsername.map { !username.isEmpty && $0.lowercased() == username.lowercased() } ?? false
        return CompetitorOffer(
            offerID: item.itemID, title: item.title, matchedByIdentifier: byIdentifier, price: item.price, shipping: shipping,
            condition: item.conditionID.flatMap(EbayCondition.condition(id:)) ?? queried, sellerID: username,
            sellerFeedback: item.seller?.feedbackPercentage, isOurs: isOurs)
    }
}

/// eBay's cut: by GTIN, with the listings a fresh remembered search covers in one refresh group.
final class EbayGTINGrouper: CompetitionGrouper {
    let memory: (any CompetitorMemory)?
    let refreshSince: Int64?
    let refreshLimit: Int
    /// The remembered searches of the page `prepare` was last told.
    private var remembered = RememberedGTINSearches([:])

    init(memory: (any CompetitorMemory)?, refreshSince: Int64?, refreshLimit: Int) {
        self.memory = memory
        self.refreshSince = refreshSince
        self.refreshLimit = refreshLimit
    }

    func prepare(_ listings: [MarketplaceListing]) throws {
        guard let memory, refreshSince != nil else { return }
        remembered = try RememberedGTINSearches(memory: memory, listings: listings)
    }

    func key(for listing: MarketplaceListing) -> CompetitionGroupKey? {
        if let since = refreshSince, remembered.newest(covering: listing, since: since) != nil {
            return CompetitionGroupKey("", refresh: true, limit: refreshLimit)
        }
        return listing.gtin.map { CompetitionGroupKey($0) }
    }
}
