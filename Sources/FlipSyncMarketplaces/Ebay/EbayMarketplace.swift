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
public struct EbayMarketplace: Marketplace {
    public let client: EbayClient
    /// Our eBay username, to flag our own offers in search results.
    public let ourUsername: String?
    /// At most this many results are read per Browse search (eBay pages 200 at a time).
    public let maxResultsPerSearch: Int
    /// How many `getOffers` calls `activeListings` keeps in flight (the rate limiter still applies).
    public let offerReadsInFlight: Int

    /// How far the orders cursor stays behind the newest order seen.
    public static let cursorOverlap = TimeSpan.seconds(5 * 60)

    public var name: MarketplaceName { .ebay }

    public init(client: EbayClient, ourUsername: String? = nil, maxResultsPerSearch: Int = 400, offerReadsInFlight: Int = 8) {
        self.client = client
        self.ourUsername = ourUsername
        self.maxResultsPerSearch = maxResultsPerSearch
        self.offerReadsInFlight = max(1, offerReadsInFlight)
    }

    // MARK: Listings

    public func activeListings() async throws -> [MarketplaceListing] {
        var items: [InventoryItem] = []
        var offset: Int? = 0
        while let current = offset {
            let page = try await client.inventoryItems(limit: 200, offset: current)
            items += page.items
            offset = page.nextOffset
        }
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

    /// Each SKU's published offer on the client's marketplace (nil when it has none), in order.
    private func publishedOffers(for skus: [String]) async throws -> [SellerOffer?] {
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
            while let (index, offer) = try await group.next() {
                found[index] = offer
                if next < skus.count { start() }
            }
            return found
        }
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
        var items: [InventoryItem] = []
        var offset: Int? = 0
        while let current = offset {
            let page = try await client.inventoryItems(limit: 200, offset: current)
            items += page.items
            offset = page.nextOffset
        }
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
        var searches: [String: [CompetitorListing]] = [:]
        return try await competition(for: listing, gtinSearches: &searches, titleSearch: true)
    }

    /// The listings together: one GTIN search per distinct GTIN and condition, shared by the
    /// listings that have them; the keyword search per listing only when `titleMatches` (its
    /// offers without our GTIN are title-only, and count only when a matcher accepts them) or
    /// when the listing has no GTIN. Offers and their order are as `competition(for:)` gives,
    /// less the title-only ones when the keyword search is skipped.
    public func competitions(for listings: [MarketplaceListing], titleMatches: Bool) async throws -> [CompetitionLookup] {
        var searches: [String: [CompetitorListing]] = [:]
        var results: [CompetitionLookup] = []
        for listing in listings {
            results.append(.found(try await competition(for: listing, gtinSearches: &searches,
                                                        titleSearch: titleMatches || listing.gtin == nil)))
        }
        return results
    }

    /// The sweep's read: as `competitions(for:titleMatches:)`, and every GTIN search made is
    /// remembered in `options.memory` (its competitor ids, with `options.now`). In the refresh
    /// group (`options.refresh`) a GTIN search remembered before is not repeated: its ids (all
    /// of the group's, each once) are read with getItems, 20 a call, up to
    /// `offerReadsInFlight` calls at once; the competition is the items still returned, and the
    /// ids no longer returned (ended listings) are forgotten.
    public func competitions(for listings: [MarketplaceListing], options: CompetitionOptions) async throws -> [CompetitionLookup] {
        var searches: [String: [CompetitorListing]] = [:]
        if options.refresh, let memory = options.memory {
            let remembered = try memory.rememberedSearches(marketplace: .ebay)
            var keys: [String] = [], ids: [String] = [], seenKeys = Set<String>(), seenIDs = Set<String>()
            for listing in listings {
                guard let key = Self.searchKey(listing), let search = remembered[key], seenKeys.insert(key).inserted else { continue }
                keys.append(key)
                for id in search.itemIDs where seenIDs.insert(id).inserted { ids.append(id) }
            }
            let found = try await refreshedItems(ids)
            let byID = Dictionary(found.map { ($0.itemID, $0) }, uniquingKeysWith: { a, _ in a })
            try memory.forgetItems(marketplace: .ebay, itemIDs: ids.filter { byID[$0] == nil })
            for key in keys { searches[key] = remembered[key]?.itemIDs.compactMap { byID[$0] } ?? [] }
        }
        var results: [CompetitionLookup] = []
        for listing in listings {
            results.append(.found(try await competition(for: listing, gtinSearches: &searches,
                                                        titleSearch: options.titleMatches || listing.gtin == nil,
                                                        memory: options.memory, now: options.now)))
        }
        return results
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

    /// A listing's GTIN search: its GTIN and the condition ids it is filtered by; nil without a GTIN.
    static func searchKey(_ listing: MarketplaceListing) -> String? {
        guard let gtin = listing.gtin else { return nil }
        return "\(gtin)|\(EbayCondition.ids(for: listing.condition).map(String.init).sorted().joined(separator: ","))"
    }

    /// As `competitionGroups(_:)`, except that the listings whose GTIN search was remembered at
    /// or after `options.refreshSince` form one group read with getItems (`refresh`), so the
    /// ids of all their GTINs share calls, 20 a call.
    public func competitionGroups(_ listings: [MarketplaceListing], options: CompetitionOptions) -> [CompetitionGroup] {
        let fresh = Self.freshSearches(options)
        let refreshed = listings.filter { l in Self.searchKey(l).map { fresh[$0] != nil } ?? false }
        let rest = listings.filter { l in !(Self.searchKey(l).map { fresh[$0] != nil } ?? false) }
        var groups = refreshed.isEmpty ? [] : [CompetitionGroup(listings: refreshed, refresh: true)]
        groups += competitionGroups(rest).map { CompetitionGroup(listings: $0) }
        return groups
    }

    /// The remembered searches made at or after `options.refreshSince`.
    static func freshSearches(_ options: CompetitionOptions) -> [String: RememberedSearch] {
        guard let memory = options.memory, let since = options.refreshSince,
              let remembered = try? memory.rememberedSearches(marketplace: .ebay) else { return [:] }
        return remembered.filter { $0.value.searchedAt >= since }
    }

    /// Browse calls (`ebay/browse`) and getItems calls (`ebay/browse_get_items`) a sweep's
    /// listings take, as `competitions(for:options:)` makes them: a GTIN search per distinct GTIN
    /// and condition, counted as the pages (200 results each, at most `maxResultsPerSearch`) its
    /// last search read, one when never searched; 0 for a search already taken; a fresh
    /// remembered search's ids instead, getItems counted as ⌈ids of all taken / 20⌉; a keyword
    /// search (one call) per listing when `titleMatches` or the listing has no GTIN.
    public func competitionCallCounter(options: CompetitionOptions) -> (any CompetitionCallCounter)? {
        let remembered = (try? options.memory?.rememberedSearches(marketplace: .ebay)) ?? [:]
        return EbayCallCounter(remembered: remembered, refreshSince: options.refreshSince, titleMatches: options.titleMatches,
                               maxResultsPerSearch: maxResultsPerSearch)
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

    private func competition(for listing: MarketplaceListing, gtinSearches: inout [String: [CompetitorListing]],
                             titleSearch: Bool, memory: (any CompetitorMemory)? = nil, now: Int64 = 0) async throws -> Competition {
        let conditionIDs = EbayCondition.ids(for: listing.condition)
        var offers: [CompetitorOffer] = []
        var seen = Set<String>()
        if let gtin = listing.gtin {
            let key = "\(gtin)|\(conditionIDs.map(String.init).sorted().joined(separator: ","))"
            let found: [CompetitorListing]
            if let cached = gtinSearches[key] {
                found = cached
            } else {
                found = try await client.searchAll(BrowseQuery(.gtin(gtin), conditionIDs: conditionIDs, pageSize: 200),
                                                   maxItems: maxResultsPerSearch)
                gtinSearches[key] = found
                try memory?.rememberSearch(marketplace: .ebay, key: key, RememberedSearch(itemIDs: found.map(\.itemID), searchedAt: now))
            }
            for item in found where seen.insert(item.itemID).inserted {
                if let offer = offer(item, byIdentifier: true, queried: listing.condition) { offers.append(offer) }
            }
        }
        let words = listing.title.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        if titleSearch && !words.isEmpty {            let found = try await client.searchAll(BrowseQuery(.keywords(words), conditionIDs: conditionIDs, pageSize: 200),
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
        if !sent.isEmpty {
            let outcome = try await client.bulkUpdatePriceQuantity(sent.map(\.update))
            if let failure = outcome.failure { throw failure }
            // eBay answers per SKU, not necessarily in request order; a SKU sent twice is answered twice.
            var answers: [String: ArraySlice<PriceQuantityResult>] = [:]
            for result in outcome.results { answers[result.sku ?? "", default: []].append(result) }
            for (index, update) in sent {
                guard let answer = answers[update.sku]?.popFirst() else {
                    results[index] = .failed("eBay returned no result for SKU \(update.sku)")
                    continue
                }
                results[index] = answer.succeeded
                    ? .applied
                    : .failed(answer.errors.isEmpty ? "eBay answered \(answer.statusCode)" : answer.errors.map(\.description).joined(separator: "; "))
            }
        }
        return zip(changes, results).map { change, outcome in
            ListingChangeResult(sku: change.sku, listingID: change.listingID, outcome: outcome ?? .failed("not sent"))
        }
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

/// `EbayMarketplace.competitionCallCounter`'s count, listing by listing.
final class EbayCallCounter: CompetitionCallCounter {
    static let browse = QuotaKey(provider: "ebay", api: "browse")
    static let getItems = QuotaKey(provider: "ebay", api: "browse_get_items")

    let remembered: [String: RememberedSearch]
    let refreshSince: Int64?
    let titleMatches: Bool
    let maxPages: Int64
    private var searches = Set<String>()
    private var pooled = Set<String>()

    init(remembered: [String: RememberedSearch], refreshSince: Int64?, titleMatches: Bool, maxResultsPerSearch: Int) {
        self.remembered = remembered
        self.refreshSince = refreshSince
        self.titleMatches = titleMatches
        maxPages = Int64(max(1, (maxResultsPerSearch + 199) / 200))
    }

    private func fresh(_ key: String) -> RememberedSearch? {
        guard let since = refreshSince, let search = remembered[key], search.searchedAt >= since else { return nil }
        return search
    }

    private func newIDs(_ search: RememberedSearch) -> Set<String> { Set(search.itemIDs).subtracting(pooled) }

    func adding(_ listing: MarketplaceListing) -> [QuotaKey: Int64] {
        var browse: Int64 = 0, getItems: Int64 = 0
        if let key = EbayMarketplace.searchKey(listing), !searches.contains(key) {
            if let search = fresh(key) {
                let before = Int64(pooled.count), after = before + Int64(newIDs(search).count)
                getItems = (after + 19) / 20 - (before + 19) / 20
            } else {
                let pages = remembered[key].map { Int64(($0.itemIDs.count + 199) / 200) } ?? 1
                browse += min(maxPages, max(1, pages))
            }
        }
        if (titleMatches || listing.gtin == nil) && !listing.title.split(whereSeparator: \.isWhitespace).isEmpty { browse += 1 }
        return [Self.browse: browse, Self.getItems: getItems]
    }

    func take(_ listing: MarketplaceListing) {
        guard let key = EbayMarketplace.searchKey(listing), searches.insert(key).inserted else { return }
        if let search = fresh(key) { pooled.formUnion(search.itemIDs) }
    }
}
