import FlipSyncCore

extension EbayMarketplace {
    // MARK: Listings

    /// Every inventory item, 200 a page (`getInventoryItems`).
    func inventoryItems() async throws -> [InventoryItem] {
        var items: [InventoryItem] = []
        try await forEachInventoryPage { items += $0.items }
        return items
    }

    /// Inventory items asked for a page.
    static let inventoryPageSize = 200
    /// Pages asked for ahead of the one `body` is handling.
    static let inventoryPagesAhead = 4

    /// Every page of inventory items (200 a page), handed to `body` in order. eBay documents
    /// this call's `offset` as a page number, so once the first page's `total` says how many
    /// pages there are, the next `inventoryPagesAhead` are asked for by number while `body`
    /// handles the current one (their round trips overlap; child tasks, cancelled if `body`
    /// throws, their calls then made and counted for nothing). At most that many pages are in
    /// flight or waiting their turn. A catalog that grew while it was read: the last page's
    /// `next` link is followed from there, a page at a time. A page without a `next` link is the
    /// last whatever `total` said (a catalog that shrank, or a `total` too large): nothing past
    /// it is handed over or asked for, and the pages asked for past it are cancelled.
    func forEachInventoryPage(_ body: (InventoryPage) async throws -> Void) async throws {
        let client = self.client, limit = Self.inventoryPageSize
        let first = try await client.inventoryItems(limit: limit, offset: 0)
        var pages = first.hasNext ? Swift.max(1, first.total / limit + (first.total % limit == 0 ? 0 : 1)) : 1
        var last = first
        try await withThrowingTaskGroup(of: (Int, InventoryPage).self) { group in
            var asked = 1
            func ask() {
                let number = asked
                asked += 1
                group.addTask { (number, try await client.inventoryItems(limit: limit, offset: number)) }
            }
            while asked < Swift.min(pages, 1 + Self.inventoryPagesAhead) { ask() }
            try await body(first)
            var arrived: [Int: InventoryPage] = [:], next = 1
            while next < pages {
                guard let page = arrived.removeValue(forKey: next) else {
                    guard let (number, page) = try await group.next() else { break }
                    arrived[number] = page
                    continue
                }
                if !page.hasNext {
                    pages = next + 1
                } else if asked < pages {
                    ask()
                }
                try await body(page)
                last = page
                next += 1
            }
            group.cancelAll()
        }
        // Pages past the count the first page gave (items added while reading), one at a time.
        var offset = last.nextOffset.flatMap { $0 >= pages ? $0 : nil }
        while let current = offset {
            let page = try await client.inventoryItems(limit: limit, offset: current)
            try await body(page)
            // An empty page is the end, whatever link it carries.
            guard !page.items.isEmpty, let following = page.nextOffset, following > current else { break }
            offset = following
        }
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

    /// These SKUs' published offers read now (getOffers, one a SKU, up to `offerReadsInFlight`
    /// at once), never the offer memory, and nothing remembered: the check of a price change
    /// interrupted mid-call, whose SKUs were forgotten when it was sent but may have been
    /// remembered since by a read that answered before the change landed.
    public func livePrices(skus: [String]) async throws -> [String: Money] {
        var prices: [String: Money] = [:]
        for (sku, offer) in zip(skus, try await readOffers(skus, remember: false)) {
            if let price = offer?.price { prices[sku] = price }
        }
        return prices
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
    /// handed to `body` while the next page is on its way (`forEachInventoryPage`). The
    /// remembered offers are read for each page's SKUs (not the marketplace's); the fulfillment
    /// policies once, after the first page with a known offer needing them.
    public func sweepListingPages(_ body: ([MarketplaceListing]) async throws -> Void) async throws {
        let currency = Self.currency(marketplaceID: client.configuration.marketplaceID)
        var policiesRead = false
        try await forEachInventoryPage { page in
            let items = page.items
            let remembered = try offerMemory?.rememberedOffers(marketplace: .ebay, skus: items.map(\.sku)) ?? [:]
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
    func shippingCharged(_ offer: SellerOffer) async throws -> Money? {
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
    func publishedOffers(for skus: [String]) async throws -> [SellerOffer?] {
        let remembered = try offerMemory?.rememberedOffers(marketplace: .ebay, skus: skus) ?? [:]
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
    func readOffers(_ skus: [String], remember: Bool = true) async throws -> [SellerOffer?] {
        let marketplaceID = client.configuration.marketplaceID
        let clock = self.clock
        return try await withThrowingTaskGroup(of: (Int, SellerOffer?, Int64).self) { group in
            var found = [SellerOffer?](repeating: nil, count: skus.count)
            var next = 0
            func start() {
                let index = next
                next += 1
                group.addTask {
                    // When it was asked: what the memory judges the answer's age by (a price
                    // change sent before then may not be in it).
                    let asked = clock.wallMilliseconds()
                    let offers = try await client.offers(sku: skus[index])
                    return (index, offers.first { $0.status == "PUBLISHED" && ($0.marketplaceID ?? marketplaceID) == marketplaceID }, asked)
                }
            }
            while next < min(offerReadsInFlight, skus.count) { start() }
            var unsaved: [RememberedOffer] = []
            while let (index, offer, asked) = try await group.next() {
                found[index] = offer
                if let offer, remember, offerMemory != nil { unsaved.append(remembering(offer, at: asked)) }
                if unsaved.count >= rememberEvery {
                    try await offerMemory?.rememberOffers(marketplace: .ebay, unsaved)
                    unsaved = []
                }
                if next < skus.count { start() }
            }
            try await offerMemory?.rememberOffers(marketplace: .ebay, unsaved)
            return found
        }
    }

    /// `offer` as remembered: `at` is when its read was asked (the memory leaves out an answer
    /// that may predate a price change in flight), or when a change to it was answered.
    func remembering(_ offer: SellerOffer, at: Int64) -> RememberedOffer {
        RememberedOffer(sku: offer.sku, offerID: offer.offerID, marketplaceID: offer.marketplaceID, price: offer.price,
                        availableQuantity: offer.availableQuantity, domesticShippingCost: offer.domesticShippingCost,
                        fulfillmentPolicyID: offer.fulfillmentPolicyID, updatedAt: at)
    }

    static func sellerOffer(_ offer: RememberedOffer) -> SellerOffer {
        // Quantity: none, so the inventory item's (read every time, after sales) is the listing's.
        SellerOffer(offerID: offer.offerID, sku: offer.sku, marketplaceID: offer.marketplaceID, price: offer.price,
                    availableQuantity: nil, status: "PUBLISHED", domesticShippingCost: offer.domesticShippingCost,
                    fulfillmentPolicyID: offer.fulfillmentPolicyID)
    }

    func listing(_ item: InventoryItem, _ offer: SellerOffer, shippingCharged: Money?) throws -> MarketplaceListing {
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
}
