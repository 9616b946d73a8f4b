import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Synchronization
import Testing

@Suite("eBay as a Marketplace over HTTP", .timeLimit(.minutes(1)))
struct EbayMarketplaceTests {
    /// The sandbox's Inventory conditions as they should read to us (written out, not computed by the code under test).
    static let conditions: [String: ItemCondition] = ["NEW": .new, "NEW_OTHER": .newOther, "USED_EXCELLENT": .used,
                                                      "FOR_PARTS_OR_NOT_WORKING": .forParts]
    static let browseConditions: [Int: ItemCondition] = [1000: .new, 1500: .newOther, 3000: .used, 7000: .forParts]

    static func expected(_ listing: SandboxListing, _ state: SandboxState) throws -> MarketplaceListing {
        let product = try #require(state.product(sku: listing.sku))
        return MarketplaceListing(
            marketplace: .ebay, sku: listing.sku, listingID: listing.offerId, gtin: listing.gtin, title: listing.title,
            condition: try #require(conditions[listing.condition.inventoryEnum]), price: Money(micros: listing.priceMicros, currency: .usd),
            quantity: listing.quantity, shippingCharged: Money(micros: product.shippingChargedMicros, currency: .usd))
    }

    @Test("activeListings reads every inventory page and each SKU's offer, and equals the sandbox's listings")
    func activeListingsEqualSandbox() async throws {
        try await Harness.with(listings: 250) { h in
            let listings = try await EbayMarketplace(client: h.client).activeListings()
            let expected = try h.sandbox.state.listings.map { try Self.expected($0, h.sandbox.state) }
            #expect(listings == expected)
            #expect(h.sandbox.state.requestCounts["inventory_items"] == 2)
            #expect(h.sandbox.state.requestCounts["offers"] == 250)
        }
    }

    @Test("a user token expiring mid-run is renewed once and the listings are complete")
    func activeListingsSurviveTokenExpiry() async throws {
        try await Harness.with(listings: 40) { h in
            // The inventory page uses the token first; it then expires as the offer reads start.
            try await h.inject(SandboxFault(route: .offers, remaining: 1, expireTokens: true))
            let listings = try await EbayMarketplace(client: h.client).activeListings()
            #expect(listings == (try h.sandbox.state.listings.map { try Self.expected($0, h.sandbox.state) }))
            #expect(h.sandbox.state.tokensIssued == ["user": 2])
        }
    }

    @Test("apply sends 60 changes in 3 bulk calls and reports each, in order, with refused ones failed")
    func applySixty() async throws {
        try await Harness.with(listings: 80) { h in
            let listings = Array(h.sandbox.state.listings.prefix(60))
            var changes = listings.enumerated().map { index, listing in
                ListingChange(sku: listing.sku, listingID: listing.offerId,
                              price: Money(minorUnits: 2_000 + Int64(index), currency: .usd), quantity: index % 7)
            }
            changes[30] = ListingChange(sku: "NO-SUCH-SKU", listingID: "1", price: Money(minorUnits: 999, currency: .usd))
            changes[45].price = Money(micros: 12_345_678, currency: .usd)  // finer than a cent: never sent

            let results = try await EbayMarketplace(client: h.client).apply(changes)

            #expect(h.sandbox.state.requestCounts["bulk_update"] == 3)
            #expect(results.map(\.sku) == changes.map(\.sku))
            #expect(results.map(\.listingID) == changes.map(\.listingID))
            for (index, result) in results.enumerated() {
                switch index {
                case 30:
                    guard case .failed(let reason) = result.outcome else { Issue.record("unknown SKU applied"); continue }
                    #expect(reason.contains("25702"))
                case 45:
                    guard case .failed(let reason) = result.outcome else { Issue.record("sub-cent price applied"); continue }
                    #expect(reason.contains("minor units"))
                default:
                    #expect(result.outcome == .applied, "change \(index)")
                }
            }
            let updates = h.sandbox.state.updates
            #expect(updates.count == 58 && !updates.contains { $0.sku == listings[45].sku || $0.sku == "NO-SUCH-SKU" })
            let tenth = try #require(h.sandbox.state.listing(sku: listings[10].sku))
            #expect(tenth.priceMicros == 20_100_000 && tenth.quantity == 3)
        }
    }

    @Test("competition returns identifier and title-only offers in our condition, cheapest landed first, ours flagged")
    func competition() async throws {
        try await Harness.with(listings: 80) { h in
            let state = h.sandbox.state
            func words(_ title: String) -> [String] { title.lowercased().split(separator: " ").map(String.init) }
            func titleOnly(_ offer: SandboxCompetitorOffer, _ listing: SandboxListing) -> Bool {
                offer.gtin == nil && offer.condition.id == listing.condition.id
                    && words(listing.title).allSatisfy { offer.title.lowercased().contains($0) }
            }
            func byGTIN(_ offer: SandboxCompetitorOffer, _ listing: SandboxListing) -> Bool {
                offer.gtin == listing.gtin && offer.condition.id == listing.condition.id
            }
            // A listing with both kinds of competitor in its own condition.
            let listing = try #require(state.listings.first { listing in
                state.competitors.contains { byGTIN($0, listing) } && state.competitors.contains { titleOnly($0, listing) }
            })
            let expected = state.competitors.filter { byGTIN($0, listing) || titleOnly($0, listing) }
                .sorted { ($0.landedMicros, $0.itemId) < ($1.landedMicros, $1.itemId) }
            let ours = try #require(expected.first { $0.gtin != nil })

            let ourListing = try Self.expected(listing, state)
            let competition = try await EbayMarketplace(client: h.client, ourUsername: ours.sellerUsername.uppercased())
                .competition(for: ourListing)

            #expect(competition.offers.map(\.offerID) == expected.map(\.itemId))
            #expect(competition.offers.map(\.matchedByIdentifier) == expected.map { $0.gtin != nil })
            #expect(competition.offers.map(\.landed) == expected.map { Money(micros: $0.landedMicros, currency: .usd) })
            #expect(competition.offers.map(\.shipping) == expected.map { Money(micros: $0.shippingMicros, currency: .usd) })
            #expect(competition.offers.allSatisfy { $0.condition == Self.browseConditions[listing.condition.id] })
            #expect(competition.offers.filter(\.isOurs).map(\.sellerID) == expected.filter { $0.sellerUsername == ours.sellerUsername }.map(\.sellerUsername))
            #expect(competition.offers.map(\.sellerFeedback) == (try expected.map { try Percent(parsing: $0.feedbackPercentage + "%") }))
            #expect(competition.buyBox == nil)
        }
    }

    @Test("a title search result carrying another product's GTIN is left out; one without a GTIN stays, title-only")
    func otherGTINLeftOut() async throws {
        try await Harness.with(listings: 80) { h in
            let state = h.sandbox.state
            func words(_ title: String) -> [String] { title.lowercased().split(separator: " ").map(String.init) }
            // Another listing's title, under a GTIN nobody sells: its own same-product offers match the title but not the GTIN.
            func titleOnly(_ offer: SandboxCompetitorOffer, _ listing: SandboxListing) -> Bool {
                offer.gtin == nil && offer.condition.id == listing.condition.id
                    && words(listing.title).allSatisfy { offer.title.lowercased().contains($0) }
            }
            let other = try #require(state.listings.first { listing in
                state.competitors.contains { $0.gtin == listing.gtin && $0.condition.id == listing.condition.id }
                    && state.competitors.contains { titleOnly($0, listing) }
            })
            var ours = try Self.expected(other, state)
            ours.gtin = "000000000000"
            let expected = state.competitors.filter { titleOnly($0, other) }.sorted { ($0.landedMicros, $0.itemId) < ($1.landedMicros, $1.itemId) }

            let competition = try await EbayMarketplace(client: h.client).competition(for: ours)

            #expect(!expected.isEmpty)
            #expect(competition.offers.map(\.offerID) == expected.map(\.itemId))
            #expect(competition.offers.allSatisfy { !$0.matchedByIdentifier && !$0.isOurs })
        }
    }
}

@Suite("eBay: the sweep's inventory pages read ahead by number", .timeLimit(.minutes(1)))
struct EbayInventoryPrefetchTests {
    /// Waits (at most 10 s) until the sandbox has answered `count` inventory pages' requests.
    static func inventoryRequests(_ h: Harness, reach count: Int) async throws -> Bool {
        for _ in 0..<2_000 {
            if h.sandbox.state.requestCounts["inventory_items"] ?? 0 >= count { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    @Test("while the sweep handles the first of 6 pages of inventory items, pages 2 to 5 are already asked for, page 6 not; every page comes once, in order")
    func pagesInFlight() async throws {
        try await Harness.with(listings: 1_050) { h in
            var pages: [[String]] = []
            try await EbayMarketplace(client: h.client).sweepListingPages { page in
                if pages.isEmpty {
                    // Page 1 is being handled: pages 2 to 5 are asked for meanwhile, not after.
                    let asked = try await Self.inventoryRequests(h, reach: 5)
                    #expect(asked, "pages 2 to 5 were not requested while page 1 was handled")
                    #expect(h.sandbox.state.requestCounts["inventory_items"] == 5, "four pages ahead, never more")
                }
                pages.append(page.map(\.sku))
            }
            #expect(pages.map(\.count) == [200, 200, 200, 200, 200, 50])
            #expect(pages.flatMap { $0 } == h.sandbox.state.listings.map(\.sku))
            #expect(h.sandbox.state.requestCounts["inventory_items"] == 6)
            #expect(h.sandbox.state.requestCounts["offers"] == nil)
        }
    }

    @Test("a page whose handling fails ends the read with that error: the pages asked for ahead are dropped, and nothing more is asked")
    func failingPageStopsTheRead() async throws {
        struct Stop: Error {}
        try await Harness.with(listings: 1_250) { h in
            var handled = 0
            let error = await caught {
                try await EbayMarketplace(client: h.client).sweepListingPages { _ in
                    handled += 1
                    let asked = try await Self.inventoryRequests(h, reach: 5)
                    #expect(asked)
                    throw Stop()
                }
            }
            #expect(error is Stop)
            #expect(handled == 1)
            #expect(h.sandbox.state.requestCounts["inventory_items"] == 5, "pages 6 and 7 never asked for")
        }
    }

    @Test("one page (no next link): one call")
    func onePage() async throws {
        try await Harness.with(listings: 120) { h in
            var skus: [String] = []
            try await EbayMarketplace(client: h.client).sweepListingPages { skus += $0.map(\.sku) }
            #expect(skus == h.sandbox.state.listings.map(\.sku))
            #expect(h.sandbox.state.requestCounts["inventory_items"] == 1)
        }
    }

    @Test("items listed while the pages are read: the last counted page's next link is followed, every SKU read once")
    func sweepPagesCatalogGrew() async throws {
        try await Harness.with(listings: 400) { h in
            let state = h.sandbox.state
            let template = try #require(state.listings.last)
            // 250 items listed as soon as the first page (total 400: two pages) has answered.
            let growing = FirstInventoryPageTransport(inner: h.transport) {
                for n in 0..<250 {
                    var added = template
                    added.sku = "ADDED-\(n)"
                    state.appendListing(added)
                }
            }
            var skus: [String] = []
            try await EbayMarketplace(client: Harness.makeClient(sandbox: h.sandbox, transport: growing)).sweepListingPages { skus += $0.map(\.sku) }
            #expect(skus.count == 650)
            #expect(skus == state.listings.map(\.sku))
            // Pages 0 and 1 as counted, then 2 and 3 by their next links.
            #expect(state.requestCounts["inventory_items"] == 4)
        }
    }

    @Test("a first page whose total is far too large: the read ends at the first page without a next link, a few pages asked past it at most")
    func totalTooLarge() async throws {
        try await Harness.with(listings: 1_050) { h in
            let state = h.sandbox.state
            let lying = FirstInventoryPageTransport(inner: h.transport, grow: {}) { response in
                guard var body = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else { return response }
                body["total"] = 999_999_999
                var changed = response
                changed.body = Array((try? JSONSerialization.data(withJSONObject: body)) ?? Data())
                return changed
            }
            var skus: [String] = []
            try await EbayMarketplace(client: Harness.makeClient(sandbox: h.sandbox, transport: lying)).sweepListingPages { skus += $0.map(\.sku) }
            #expect(skus == state.listings.map(\.sku))
            // Pages 1–6 hold the items; 7–9 may have been asked for ahead of page 6.
            let calls = state.requestCounts["inventory_items"] ?? 0
            #expect((6...9).contains(calls), "\(calls) inventory calls")
        }
    }

    /// The sandbox over HTTP; the first inventory page's answer goes through `rewrite`, and
    /// `grow` runs once after it arrived, before the caller sees it.
    final class FirstInventoryPageTransport: HTTPTransport {
        let inner: any HTTPTransport
        let grow: @Sendable () -> Void
        let rewrite: @Sendable (HTTPResponse) -> HTTPResponse
        let grown = Mutex(false)

        init(inner: any HTTPTransport, grow: @escaping @Sendable () -> Void,
             rewrite: @escaping @Sendable (HTTPResponse) -> HTTPResponse = { $0 }) {
            self.inner = inner
            self.grow = grow
            self.rewrite = rewrite
        }

        func admit(_ request: HTTPRequest) throws(HTTPTransportError) -> AdmittedRequest { try inner.admit(request) }

        func send(_ request: HTTPRequest) async throws -> HTTPResponse {
            let response = try await inner.send(request)
            guard request.url.contains("/inventory_item?"), grown.withLock({ done in defer { done = true }; return !done }) else { return response }
            grow()
            return rewrite(response)
        }
    }
}
