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
                             titleSearch: Bool) async throws -> Competition {
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
