import FlipSyncCore

/// eBay as a `Marketplace`, over an `EbayClient`.
///
/// - `activeListings`: every inventory item (all pages) joined with its published offer on the
///   client's marketplace; items without one are not active listings and are left out.
///   `listingID` is the offer id; `shippingCharged` is what the buyer pays to ship one unit
///   domestically: the offer's priority-1 domestic shipping-cost override, else its fulfillment
///   policy's first domestic service as `listingShipping` reads it (zero for free shipping);
///   nil for calculated shipping, local pickup or an offer without a policy. The policies are
///   read (`getFulfillmentPolicies`, once) only when some offer has no override.
/// - `sweepListings` (the repricing sweep's snapshot, `OfferDeferringMarketplace`): the same
///   from inventory items and remembered offers only; a SKU without a remembered offer is
///   pending (no offer id) until `completeListings` reads its offer for the decide task. getOffers
///   go through the client's Inventory bucket (`offerReadRate`), Browse calls through their own.
/// - `competition`: Browse search by our GTIN in our condition (`matchedByIdentifier`), plus a
///   keyword search by our title in our condition whose results without a GTIN are added as
///   title-only offers. Nothing is filtered for the repricer's sake; offers are left out only
///   when they cannot be priced (no shipping cost, e.g. pickup only, or shipping in another
///   currency than the price) or carry a GTIN other than ours. `isOurs` when the seller's
///   username is `ourUsername` (eBay usernames are compared without case).
/// - `competitions(for:titleMatches:)` (the repricing sweep): listings sharing a GTIN share one
///   GTIN search (`competitionGroups` puts them in one group); the keyword search is made only
///   when title-only offers can be used (`llm_matching` with a matcher) or there is no GTIN.
/// - `competitions(for:options:)`: the same, remembering each GTIN search's competitor ids; in
///   the refresh group (GTINs searched within `research_days`) those ids are read with getItems,
///   20 a call across GTINs, instead of searching again. `competitionCallCounter` counts the
///   Browse and getItems calls this takes, listing by listing, for the sweep's capacity.
/// - `apply`: `bulkUpdatePriceQuantity`, 25 SKUs per call. A change eBay would not accept
///   (price finer than a cent, negative quantity, nothing to change) fails on its own without
///   being sent. A call that fails as a whole throws its error; earlier calls may have been
///   applied, and setting the same price or quantity again is harmless, so the whole set can be
///   retried.
/// - `listingShipping`: each published offer's fulfillment policy and shipping-cost override
///   (see the method).
/// - `orders`: `getOrders` by creation date, every page. The cursor is the ISO 8601
///   `creationDate` of the newest order seen minus `cursorOverlap` (five minutes), never moving
///   back; orders created at or after it are returned, so lines near the cursor come again.
public struct EbayMarketplace: OfferDeferringMarketplace {
    public let client: EbayClient
    /// Our eBay username, to flag our own offers in search results.
    public let ourUsername: String?
    /// At most this many results are read per Browse search (eBay pages 200 at a time).
    public let maxResultsPerSearch: Int
    /// How many `getOffers` calls `activeListings` keeps in flight (the rate limiter still applies).
    public let offerReadsInFlight: Int
    /// Each SKU's published offer as last read or set; nil: every SKU's offer is read each time.
    public let offerMemory: (any OfferMemory)?
    /// The time remembered offers are stamped with.
    public let clock: any SchedulerClock
    /// Offers read by getOffers are written to `offerMemory` this many at a time as they come,
    /// so a read cut off (a run's timeout) keeps what it read and the next read goes on from there.
    public let rememberEvery: Int

    /// Fulfillment policies read by `sweepListings` (all, once) and `completeListings` (by id),
    /// so a decide task completing its pending listings does not read them again.
    let policyCache = FulfillmentPolicyCache()

    /// How far the orders cursor stays behind the newest order seen.
    public static let cursorOverlap = TimeSpan.seconds(5 * 60)

    public var name: MarketplaceName { .ebay }

    public init(client: EbayClient, ourUsername: String? = nil, maxResultsPerSearch: Int = 400, offerReadsInFlight: Int = 8,
                offerMemory: (any OfferMemory)? = nil, clock: any SchedulerClock = SystemSchedulerClock(), rememberEvery: Int = 100) {
        self.client = client
        self.rememberEvery = max(1, rememberEvery)
        self.offerMemory = offerMemory
        self.clock = clock
        self.ourUsername = ourUsername
        self.maxResultsPerSearch = maxResultsPerSearch
        self.offerReadsInFlight = max(1, offerReadsInFlight)
    }

    // MARK: Listings

    /// Every inventory item, 200 a page (`getInventoryItems`).
    private func inventoryItems() async throws -> [InventoryItem] {
        var items: [InventoryItem] = []
        var offset: Int? = 0
        while let current = offset {
            let page = try await client.inventoryItems(limit: 200, offset: current)
            items += page.items
            offset = page.nextOffset
        }
        return items
    }

    public func activeListings() async throws -> [MarketplaceListing] {
        let items = try await inventoryItems()
        let offers = try await publishedOffers(for: items.map(\.sku))
        // Only an offer without its own shipping-cost override needs its policy's cost.
        var policies: [String: FulfillmentPolicy] = [:]
        if offers.contains(where: { $0 != nil && $0?.domesticShippingCost == nil && $0?.fulfillmentPolicyID != nil }) {
            for policy in try await client.fulfillmentPolicies() { policies[policy.policyID] = policy }
        }
        var listings: [MarketplaceListing] = []
        for (item, offer) in zip(items, offers) {
            guard let offer else { continue }
            var charge = offer.domesticShippingCost
            if charge == nil, let policyID = offer.fulfillmentPolicyID {
                if policies[policyID] == nil { policies[policyID] = try await client.fulfillmentPolicy(id: policyID) }
                charge = policies[policyID].flatMap { Self.shipping(offer, policy: $0).charge }
            }
            listings.append(try listing(item, offer, shippingCharged: charge))
        }
        return listings
    }

    // MARK: The sweep's listings (offers read only for the listings it selects)

    /// The sweep's snapshot (`OfferDeferringMarketplace`): every inventory item (200 a page);
    /// one whose offer is remembered is a complete listing, as `activeListings` gives it; one
    /// without is pending (no offer id, a zero price in the marketplace's currency, the item's
    /// quantity), and no `getOffers` is made here. An item whose condition is missing or not
    /// eBay's has its offer read now, as `activeListings` does (an error if it is published).
    /// The fulfillment policies are read once (`getFulfillmentPolicies`) when a remembered offer
    /// has no shipping-cost override.
    public func sweepListings() async throws -> [MarketplaceListing] {
        var listings: [MarketplaceListing] = []
        try await sweepListingPages { listings += $0 }
        return listings
    }

    /// `sweepListings` page by page: each page of inventory items (200) becomes its listings,
    /// handed to `body` before the next page is read. The remembered offers are read once; the
    /// fulfillment policies once, after the first page with a known offer needing them.
    public func sweepListingPages(_ body: ([MarketplaceListing]) async throws -> Void) async throws {
        let remembered = try offerMemory?.rememberedOffers(marketplace: .ebay) ?? [:]
        let currency = Self.currency(marketplaceID: client.configuration.marketplaceID)
        var policiesRead = false
        var offset: Int? = 0
        while let current = offset {
            let page = try await client.inventoryItems(limit: 200, offset: current)
            offset = page.nextOffset
            let items = page.items
            let unknownCondition = items.filter { remembered[$0.sku] == nil && $0.condition.flatMap(EbayCondition.condition(inventoryEnum:)) == nil }
            let readNow = Dictionary(zip(unknownCondition.map(\.sku), try await readOffers(unknownCondition.map(\.sku))), uniquingKeysWith: { a, _ in a })
            if !policiesRead {
                let known = items.compactMap { remembered[$0.sku].map(Self.sellerOffer) } + readNow.values.compactMap { $0 }
                if known.contains(where: { $0.domesticShippingCost == nil && $0.fulfillmentPolicyID != nil }) {
                    await policyCache.replace(try await client.fulfillmentPolicies())
                    policiesRead = true
                }
            }
            var listings: [MarketplaceListing] = []
            listings.reserveCapacity(items.count)
            for item in items {
                if let offer = remembered[item.sku].map(Self.sellerOffer) ?? readNow[item.sku] ?? nil {
                    listings.append(try listing(item, offer, shippingCharged: try await shippingCharged(offer)))
                } else if readNow[item.sku] == nil, let conditionEnum = item.condition,
                          let condition = EbayCondition.condition(inventoryEnum: conditionEnum) {
                    listings.append(MarketplaceListing(
                        marketplace: .ebay, sku: item.sku, listingID: "", gtin: item.upc.first ?? item.ean.first, title: item.title ?? "",
                        condition: condition, price: .zero(currency), quantity: item.quantity ?? 0))
                }
            }
            try await body(listings)
        }
    }

    /// Pending listings completed: each SKU's offer read with getOffers (up to
    /// `offerReadsInFlight` at once, remembered with `offerMemory`), its price, offer id and
    /// shipping charged as `activeListings` gives them; its quantity stays the inventory item's
    /// (what the plan judged its stock by); nil for a SKU without a published offer on the
    /// client's marketplace.
    public func completeListings(_ pending: [MarketplaceListing]) async throws -> [MarketplaceListing?] {
        let offers = try await readOffers(pending.map(\.sku))
        var out: [MarketplaceListing?] = []
        for (listing, offer) in zip(pending, offers) {
            guard let offer else { out.append(nil); continue }
            guard let price = offer.price else { throw MarketplaceError.malformed("published offer \(offer.offerID) has no price") }
            var complete = listing
            complete.listingID = offer.offerID
            complete.price = price
            complete.shippingCharged = try await shippingCharged(offer)
            out.append(complete)
        }
        return out
    }

    /// getOffers goes through the client's Inventory bucket, at the configured rate.
    public var offerReadRate: CompetitionReadRate {
        let c = client.configuration
        return CompetitionReadRate(operation: "getOffers", requestsPerSecond: Double(c.requests) * 1000 / Double(max(1, c.per.milliseconds)),
                                   burst: c.burst, listingsPerRequest: 1)
    }

    /// What the buyer pays to ship one unit: the offer's override, else its policy's (from the
    /// cache, else read by id and kept); nil without either.
    private func shippingCharged(_ offer: SellerOffer) async throws -> Money? {
        if let override = offer.domesticShippingCost { return override }
        guard let policyID = offer.fulfillmentPolicyID else { return nil }
        if let policy = await policyCache.policy(policyID) { return Self.shipping(offer, policy: policy).charge }
        let policy = try await client.fulfillmentPolicy(id: policyID)
        await policyCache.add(policy)
        return Self.shipping(offer, policy: policy).charge
    }

    /// The currency of an eBay marketplace's prices (a pending listing's placeholder price).
    static func currency(marketplaceID: String) -> Currency {
        let code: String
        switch marketplaceID {
        case "EBAY_GB": code = "GBP"
        case "EBAY_CA": code = "CAD"
        case "EBAY_AU": code = "AUD"
        case "EBAY_CH": code = "CHF"
        case "EBAY_PL": code = "PLN"
        case "EBAY_DE", "EBAY_FR", "EBAY_IT", "EBAY_ES", "EBAY_AT", "EBAY_BE", "EBAY_IE", "EBAY_NL": code = "EUR"
        default: code = "USD"
        }
        return Currency(code: code) ?? .usd
    }

    /// Each SKU's published offer on the client's marketplace (nil when it has none), in order.
    /// With `offerMemory`, a SKU whose offer is remembered is not read again (offer ids are
    /// stable; its price and quantity are as last read or as FlipSync last set them); the
    /// others are read with getOffers and remembered as they come (`rememberEvery` at a time).
    private func publishedOffers(for skus: [String]) async throws -> [SellerOffer?] {
        let remembered = try offerMemory?.rememberedOffers(marketplace: .ebay) ?? [:]
        var found = [SellerOffer?](repeating: nil, count: skus.count)
        var toRead: [Int] = []
        for (index, sku) in skus.enumerated() {
            if let offer = remembered[sku] { found[index] = Self.sellerOffer(offer) } else { toRead.append(index) }
        }
        let read = try await readOffers(toRead.map { skus[$0] })
        for (index, offer) in zip(toRead, read) { found[index] = offer }
        return found
    }

    /// getOffers for each SKU, up to `offerReadsInFlight` at once: its published offer on the
    /// client's marketplace, or nil. Each offer found is remembered (with `offerMemory`) once
    /// `rememberEvery` have come, and the rest at the end, so a read that is cancelled or fails
    /// part way keeps the offers it read. With `remember: false` nothing is remembered: the
    /// stale-offer path reads offers whose price is about to change, and remembering the price
    /// before the change would let an interrupted resend look not yet live (and be sent again).
    private func readOffers(_ skus: [String], remember: Bool = true) async throws -> [SellerOffer?] {
        let marketplaceID = client.configuration.marketplaceID
        return try await withThrowingTaskGroup(of: (Int, SellerOffer?).self) { group in
            var found = [SellerOffer?](repeating: nil, count: skus.count)
            var next = 0
            func start() {
                let index = next
                next += 1
                group.addTask {
                    let offers = try await client.offers(sku: skus[index])
                    return (index, offers.first { $0.status == "PUBLISHED" && ($0.marketplaceID ?? marketplaceID) == marketplaceID })
                }
            }
            while next < min(offerReadsInFlight, skus.count) { start() }
            var unsaved: [RememberedOffer] = []
            while let (index, offer) = try await group.next() {
                found[index] = offer
                if let offer, remember, offerMemory != nil { unsaved.append(remembering(offer)) }
                if unsaved.count >= rememberEvery {
                    try offerMemory?.rememberOffers(marketplace: .ebay, unsaved)
                    unsaved = []
                }
                if next < skus.count { start() }
            }
            try offerMemory?.rememberOffers(marketplace: .ebay, unsaved)
            return found
        }
    }

    private func remembering(_ offer: SellerOffer) -> RememberedOffer {
        RememberedOffer(sku: offer.sku, offerID: offer.offerID, marketplaceID: offer.marketplaceID, price: offer.price,
                        availableQuantity: offer.availableQuantity, domesticShippingCost: offer.domesticShippingCost,
                        fulfillmentPolicyID: offer.fulfillmentPolicyID, updatedAt: clock.wallMilliseconds())
    }

    static func sellerOffer(_ offer: RememberedOffer) -> SellerOffer {
        // Quantity: none, so the inventory item's (read every time, after sales) is the listing's.
        SellerOffer(offerID: offer.offerID, sku: offer.sku, marketplaceID: offer.marketplaceID, price: offer.price,
                    availableQuantity: nil, status: "PUBLISHED", domesticShippingCost: offer.domesticShippingCost,
                    fulfillmentPolicyID: offer.fulfillmentPolicyID)
    }

    private func listing(_ item: InventoryItem, _ offer: SellerOffer, shippingCharged: Money?) throws -> MarketplaceListing {
        guard let price = offer.price else { throw MarketplaceError.malformed("published offer \(offer.offerID) has no price") }
        guard let conditionEnum = item.condition, let condition = EbayCondition.condition(inventoryEnum: conditionEnum) else {
            throw MarketplaceError.malformed("inventory item \(item.sku) has condition \(item.condition ?? "(none)"), which is not one of eBay's")
        }
        return MarketplaceListing(
            marketplace: .ebay, sku: item.sku, listingID: offer.offerID, gtin: item.upc.first ?? item.ean.first,
            title: item.title ?? "", condition: condition, price: price,
            quantity: offer.availableQuantity ?? item.quantity ?? 0, shippingCharged: shippingCharged)
    }

    // MARK: Listings' shipping

    /// Every active listing's domestic shipping as buyers see it: the published offer's
    /// fulfillment policy (`listingPolicies.fulfillmentPolicyId`), read once for all with
    /// `getFulfillmentPolicies` (and by id for any policy that list lacks), and the offer's own
    /// `shippingCostOverrides`.
    ///
    /// The charge is for the policy's first domestic service (by `sortOrder`): the offer's
    /// priority-1 domestic override when it has one (eBay: an override replaces the policy's
    /// cost for that service), else zero with `freeShipping`, else its `shippingCost`; nil for
    /// calculated shipping (eBay computes it per buyer) and local pickup. The service key is
    /// the carrier code and the service code without that prefix (`USPS` + `USPSGroundAdvantage`
    /// → `usps-ground-advantage`). Handling time is the policy's `handlingTime` in days
    /// (business days are taken as days). A listing whose offer names no policy is left out
    /// with nothing to judge.
    public func listingShipping() async throws -> [ListingShipping] {
        let items = try await inventoryItems()
        let offers = try await publishedOffers(for: items.map(\.sku)).compactMap { $0 }
        var policies: [String: FulfillmentPolicy] = [:]
        for policy in try await client.fulfillmentPolicies() { policies[policy.policyID] = policy }
        var out: [ListingShipping] = []
        for offer in offers {
            guard let policyID = offer.fulfillmentPolicyID else { continue }
            if policies[policyID] == nil { policies[policyID] = try await client.fulfillmentPolicy(id: policyID) }
            guard let policy = policies[policyID] else { continue }
            out.append(Self.shipping(offer, policy: policy))
        }
        return out
    }

    static func shipping(_ offer: SellerOffer, policy: FulfillmentPolicy) -> ListingShipping {
        let first = policy.domesticServices.first
        var charge: Money?
        var note: String?
        if policy.localPickup || first == nil {
            note = "local pickup only: no domestic shipping service"
        } else if let override = offer.domesticShippingCost {
            charge = override
        } else if first?.freeShipping == true {
            charge = first?.shippingCost.map { .zero($0.currency) } ?? offer.price.map { .zero($0.currency) }
        } else if policy.domesticCostType == "CALCULATED" {
            note = "calculated shipping: eBay charges each buyer the carrier's rate"
        } else {
            charge = first?.shippingCost
            if charge == nil { note = "the policy's first domestic service has no shippingCost" }
        }
        // Without a carrier code the service code cannot be split honestly: no key.
        let key = first.flatMap { service -> String? in
            guard let carrier = service.carrierCode, !carrier.isEmpty else { return nil }
            let code = service.serviceCode
            let name = code.lowercased().hasPrefix(carrier.lowercased()) ? String(code.dropFirst(carrier.count)) : code
            return RateQuote.serviceKey(carrier: carrier, service: name)
        }
        return ListingShipping(marketplace: .ebay, sku: offer.sku, listingID: offer.offerID, price: offer.price, charge: charge,
                               handlingDays: policy.handlingDays, serviceKey: key,
                               policy: "eBay fulfillment policy \(policy.policyID) \"\(policy.name)\"", note: note)
    }

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
    private struct GTINResults {
        var items: [CompetitorListing]
        var conditions: Set<ItemCondition>
    }

    private func read(_ listings: [MarketplaceListing], titleSearch: (MarketplaceListing) -> Bool, refresh: Bool = false,
                      memory: (any CompetitorMemory)? = nil, now: Int64 = 0) async throws -> [CompetitionLookup] {
        var results = [GTINResults?](repeating: nil, count: listings.count)
        if refresh, let memory {
            let remembered = RememberedGTINSearches(try memory.rememberedSearches(marketplace: .ebay))
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
            try memory?.rememberSearch(marketplace: .ebay, key: Self.searchKey(gtin: gtin, conditionIDs: conditionIDs),
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
    private func refreshedItems(_ ids: [String]) async throws -> [CompetitorListing] {
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
        Array(Set(conditions.flatMap { EbayCondition.ids(for: $0) })).sorted()
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

    /// As `competitionGroups(_:)`, except that the listings whose GTIN has a search remembered
    /// at or after `options.refreshSince` covering their condition form one group read with
    /// getItems (`refresh`), so the ids of all their GTINs share calls, 20 a call.
    public func competitionGroups(_ listings: [MarketplaceListing], options: CompetitionOptions) -> [CompetitionGroup] {
        let remembered = Self.remembered(options)
        let isFresh = { (l: MarketplaceListing) in options.refreshSince.map { remembered.newest(covering: l, since: $0) != nil } ?? false }
        let refreshed = listings.filter(isFresh)
        // Nothing fresh (a first sweep, or `research_days = 0`): the listings as they are, not a copy.
        if refreshed.isEmpty { return competitionGroups(listings).map { CompetitionGroup(listings: $0) } }
        let rest = listings.filter { !isFresh($0) }
        var groups = refreshed.isEmpty ? [] : [CompetitionGroup(listings: refreshed, refresh: true)]
        groups += competitionGroups(rest).map { CompetitionGroup(listings: $0) }
        return groups
    }

    static func remembered(_ options: CompetitionOptions) -> RememberedGTINSearches {
        RememberedGTINSearches((try? options.memory?.rememberedSearches(marketplace: .ebay)) ?? [:])
    }

    /// Browse calls (`ebay/browse`) and getItems calls (`ebay/browse_get_items`) a sweep's
    /// listings take, as `competitions(for:options:)` makes them: a GTIN search per distinct
    /// GTIN (listings sharing it are free, whatever their condition), counted as the most pages
    /// (200 results each, at most `maxResultsPerSearch`) a remembered search of that GTIN read,
    /// one when never searched; instead, for a listing whose GTIN has a fresh remembered search
    /// covering its condition, that search's ids, getItems counted as ⌈ids of all taken / 20⌉;
    /// a keyword search (one call) per listing when `titleMatches` or the listing has no GTIN.
    public func competitionCallCounter(options: CompetitionOptions) -> (any CompetitionCallCounter)? {
        EbayCallCounter(remembered: Self.remembered(options), refreshSince: options.refreshSince, titleMatches: options.titleMatches,
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

    /// Listings sharing a GTIN in one group (their competition comes from one search), in order
    /// of each GTIN's first listing; a listing without a GTIN alone.
    public func competitionGroups(_ listings: [MarketplaceListing]) -> [[MarketplaceListing]] {
        var groups: [[MarketplaceListing]] = [], index: [String: Int] = [:]
        for listing in listings {
            if let gtin = listing.gtin, let at = index[gtin] {
                groups[at].append(listing)
            } else {
                if let gtin = listing.gtin { index[gtin] = groups.count }
                groups.append([listing])
            }
        }
        return groups
    }

    /// One listing's competition: the items of its GTIN read that are in its condition (an
    /// item's condition is its `conditionId`; one without a known `conditionId` is taken to be
    /// in the condition searched for only when the search was for one condition, and is left
    /// out otherwise), plus its keyword search when `titleSearch`.
    private func competition(for listing: MarketplaceListing, gtinResults: GTINResults?, titleSearch: Bool) async throws -> Competition {
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
        let words = listing.title.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if titleSearch && !words.isEmpty {
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
    private func offer(_ item: CompetitorListing, byIdentifier: Bool, queried: ItemCondition) -> CompetitorOffer? {
        guard let shipping = item.shippingCost, shipping.currency == item.price.currency else { return nil }
        let username = item.seller?.username ?? ""
        let isOurs = ourUsername.map { !username.isEmpty && $0.lowercased() == username.lowercased() } ?? false
        return CompetitorOffer(
            offerID: item.itemID, title: item.title, matchedByIdentifier: byIdentifier, price: item.price, shipping: shipping,
            condition: item.conditionID.flatMap(EbayCondition.condition(id:)) ?? queried, sellerID: username,
            sellerFeedback: item.seller?.feedbackPercentage, isOurs: isOurs)
    }

    // MARK: Changes

    public func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] {
        var results = [ListingChangeResult.Outcome?](repeating: nil, count: changes.count)
        var sent: [(index: Int, update: PriceQuantityUpdate)] = []
        for (index, change) in changes.enumerated() {
            guard change.price != nil || change.quantity != nil else {
                results[index] = .failed("nothing to change: neither a price nor a quantity was given")
                continue
            }
            let update = PriceQuantityUpdate(sku: change.sku, shipToLocationQuantity: change.quantity, offers: [
                .init(offerID: change.listingID, availableQuantity: change.quantity, price: change.price),
            ])
            do {
                _ = try EbayClient.wireRequest(update)
                sent.append((index, update))
            } catch let error as MarketplaceError {
                results[index] = .failed(error.description)
            }
        }
        var listingIDs = changes.map(\.listingID)
        if !sent.isEmpty {
            // Forgotten while the call is out: if it is interrupted, the next read of these SKUs is
            // live (getOffers), so whether the change landed is judged on eBay's price, not ours.
            // Only price changes touch the memory: a quantity is never read from it (the inventory
            // item's is), so a stock push (the sync's) leaves a concurrent sweep's rows alone.
            var before = try offerMemory?.rememberedOffers(marketplace: .ebay) ?? [:]
            try offerMemory?.forgetOffers(marketplace: .ebay, skus: sent.filter { changes[$0.index].price != nil }.map(\.update.sku))
            var stale: [(index: Int, update: PriceQuantityUpdate)] = []
            for (index, update, answer) in try await send(sent) {
                if let answer, !answer.succeeded, offerMemory != nil, answer.errors.contains(where: { Self.staleOfferErrors.contains($0.errorId ?? 0) }) {
                    stale.append((index, update))
                } else {
                    results[index] = Self.outcome(answer, sku: update.sku)
                }
            }
            if !stale.isEmpty {
                // The remembered offer id is no longer the SKU's offer: forget it, read the SKU's
                // offer again (once) and send the change to that offer.
                try offerMemory?.forgetOffers(marketplace: .ebay, skus: stale.map(\.update.sku))
                // Not remembered yet: the price read now is the one about to change. Once the
                // resend is answered, the block below remembers the offer with what was applied.
                let fresh = try await readOffers(stale.map(\.update.sku), remember: false)
                for offer in fresh.compactMap({ $0 }) { before[offer.sku] = remembering(offer) }
                var resend: [(index: Int, update: PriceQuantityUpdate)] = []
                for ((index, update), offer) in zip(stale, fresh) {
                    guard let offer else {
                        results[index] = .failed("eBay no longer has a published offer for SKU \(update.sku)")
                        continue
                    }
                    var again = update
                    again.offers = update.offers.map { var o = $0; o.offerID = offer.offerID; return o }
                    listingIDs[index] = offer.offerID
                    resend.append((index, again))
                }
                for (index, update, answer) in try await send(resend) { results[index] = Self.outcome(answer, sku: update.sku) }
            }
            // Remembered again: what was applied is now the offer's price; what failed is as it was.
            if let memory = offerMemory {
                var again: [RememberedOffer] = []
                for (index, _) in sent {
                    let change = changes[index]
                    let stale = stale.contains { $0.index == index }
                    guard change.price != nil || stale, var offer = before[change.sku], offer.offerID == listingIDs[index] else { continue }
                    if results[index] == .applied {
                        if let price = change.price { offer.price = price }
                        if let quantity = change.quantity { offer.availableQuantity = quantity }
                        offer.updatedAt = clock.wallMilliseconds()
                    }
                    again.append(offer)
                }
                try memory.rememberOffers(marketplace: .ebay, again)
            }
        }
        return changes.enumerated().map { index, change in
            ListingChangeResult(sku: change.sku, listingID: listingIDs[index], outcome: results[index] ?? .failed("not sent"))
        }
    }

    /// eBay's answers for an offer id that is not (or no longer) the SKU's offer: 25713 "This
    /// Offer is not available" (Inventory API error list, https://developer.ebay.com/api-docs/sell/inventory/static/error-codes.html).
    static let staleOfferErrors: Set<Int> = [25713]

    /// Sends `updates` with bulkUpdatePriceQuantity and pairs each with its answer (nil: none).
    private func send(_ sent: [(index: Int, update: PriceQuantityUpdate)]) async throws -> [(Int, PriceQuantityUpdate, PriceQuantityResult?)] {
        guard !sent.isEmpty else { return [] }
        let outcome = try await client.bulkUpdatePriceQuantity(sent.map(\.update))
        if let failure = outcome.failure { throw failure }
        // eBay answers per SKU, not necessarily in request order; a SKU sent twice is answered twice.
        var answers: [String: ArraySlice<PriceQuantityResult>] = [:]
        for result in outcome.results { answers[result.sku ?? "", default: []].append(result) }
        return sent.map { index, update in (index, update, answers[update.sku]?.popFirst()) }
    }

    private static func outcome(_ answer: PriceQuantityResult?, sku: String) -> ListingChangeResult.Outcome {
        guard let answer else { return .failed("eBay returned no result for SKU \(sku)") }
        return answer.succeeded
            ? .applied
            : .failed(answer.errors.isEmpty ? "eBay answered \(answer.statusCode)" : answer.errors.map(\.description).joined(separator: "; "))
    }

    // MARK: Orders

    public func orders(since cursor: String?) async throws -> OrdersPage {
        var since: Int64?
        if let cursor {
            guard let milliseconds = EbayTimestamp.milliseconds(cursor) else {
                throw MarketplaceError.refused("the eBay orders cursor \"\(cursor)\" is not an ISO 8601 timestamp")
            }
            since = milliseconds
        }
        var lines: [OrderLine] = []
        var newest: Int64?
        var offset = 0
        while true {
            let page = try await client.orders(createdSince: since, offset: offset)
            for order in page.orders {
                newest = max(newest ?? order.creationDate, order.creationDate)
                lines += Self.lines(of: order)
            }
            guard page.hasNext, !page.orders.isEmpty else { break }
            offset = page.offset + page.orders.count
        }
        let next = newest.map { $0 - Self.cursorOverlap.milliseconds }.map { max($0, since ?? $0) } ?? since
        return OrdersPage(lines: lines, cursor: next.map { EbayTimestamp.string(milliseconds: $0) })
    }

    /// An order's lines in our terms. A line is open unless it (or, when eBay gives no line
    /// status, its order) is `FULFILLED`, or the order is `CANCELED`.
    static func lines(of order: FulfillmentOrder) -> [OrderLine] {
        let cancelled = order.cancelState == "CANCELED"
        let destination = order.shipTo.flatMap { address -> Destination? in
            guard let postalCode = address.postalCode, let country = address.countryCode else { return nil }
            return Destination(postalCode: postalCode, country: country, region: address.stateOrProvince)
        }
        return order.lineItems.map { line in
            let fulfilled = (line.fulfillmentStatus ?? order.fulfillmentStatus) == "FULFILLED"
            return OrderLine(
                marketplace: .ebay, orderID: order.orderID, lineID: line.lineItemID, sku: line.sku ?? "", quantity: line.quantity,
                placedAt: order.creationDate, itemPrice: line.lineItemCost, shippingPaid: line.shippingCost, destination: destination,
                deliverBy: line.maxEstimatedDeliveryDate ?? order.maxEstimatedDeliveryDate, open: !fulfilled && !cancelled)
        }
    }
}

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

    let remembered: RememberedGTINSearches
    let refreshSince: Int64?
    let titleMatches: Bool
    let maxPages: Int64
    /// GTINs whose search is taken, and remembered searches whose ids are taken.
    private var searchedGTINs = Set<String>()
    private var refreshedKeys = Set<String>()
    private var pooled = Set<String>()

    convenience init(remembered: [String: RememberedSearch], refreshSince: Int64?, titleMatches: Bool, maxResultsPerSearch: Int) {
        self.init(remembered: RememberedGTINSearches(remembered), refreshSince: refreshSince, titleMatches: titleMatches,
                  maxResultsPerSearch: maxResultsPerSearch)
    }

    init(remembered: RememberedGTINSearches, refreshSince: Int64?, titleMatches: Bool, maxResultsPerSearch: Int) {
        self.remembered = remembered
        self.refreshSince = refreshSince
        self.titleMatches = titleMatches
        maxPages = Int64(max(1, (maxResultsPerSearch + 199) / 200))
    }

    private func fresh(_ listing: MarketplaceListing) -> RememberedGTINSearches.Entry? {
        guard let since = refreshSince else { return nil }
        return remembered.newest(covering: listing, since: since)
    }

    func adding(_ listing: MarketplaceListing) -> [QuotaKey: Int64] {
        var browse: Int64 = 0, getItems: Int64 = 0
        if let gtin = listing.gtin {
            if let entry = fresh(listing) {
                if !refreshedKeys.contains(entry.key) {
                    let before = Int64(pooled.count), after = before + Int64(Set(entry.search.itemIDs).subtracting(pooled).count)
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

    func take(_ listing: MarketplaceListing) {
        guard let gtin = listing.gtin else { return }
        if let entry = fresh(listing) {
            if refreshedKeys.insert(entry.key).inserted { pooled.formUnion(entry.search.itemIDs) }
        } else {
            searchedGTINs.insert(gtin)
        }
    }
}
