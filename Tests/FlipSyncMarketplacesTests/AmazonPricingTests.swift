import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("Amazon getItemOffers and competition over HTTP", .timeLimit(.minutes(1)))
struct AmazonPricingTests {
    /// What the sandbox should show for a listing, worked out from its state independently.
    struct Expected {
        var landed: [Int64]
        var ourLanded: Int64
        var buyBox: Int64?
    }

    static func expected(_ h: AmazonHarness, _ listing: SandboxChannelListing) throws -> Expected {
        let product = try #require(h.state.product(sku: listing.sku))
        var landed: [(micros: Int64, feedbackTenths: Int)] = h.state.competitors
            .filter { $0.gtin == product.gtin && [1000, 1500].contains($0.condition.id) }
            .map { ($0.landedMicros, Int($0.feedbackPercentage.replacingOccurrences(of: ".", with: ""))!) }
        let ours = listing.priceMicros + product.shippingChargedMicros
        landed.append((ours, 980))
        let buyBox = landed.filter { $0.feedbackTenths >= 950 }.map(\.micros).min()
        return Expected(landed: landed.map(\.micros).sorted(), ourLanded: ours, buyBox: buyBox)
    }

    @Test("offers become competition with our own offer flagged and the Buy Box landed price")
    func competitionFromOffers() async throws {
        try await AmazonHarness.with { h in
            let candidates = h.stockedNewListings(competitors: 2)
            try #require(candidates.count >= 3)
            let active = try await h.marketplace.activeListings()
            for channelListing in candidates.prefix(3) {
                let listing = try #require(active.first { $0.sku == channelListing.sku })
                let expected = try Self.expected(h, channelListing)
                let competition = try await h.marketplace.competition(for: listing)

                #expect(competition.offers.map(\.landed.micros) == expected.landed)
                let ours = competition.offers.filter(\.isOurs)
                #expect(ours.count == 1)
                #expect(ours.first?.sellerID == SandboxState.amazonSellerID)
                #expect(ours.first?.price.micros == channelListing.priceMicros)
                #expect(ours.first?.landed.micros == expected.ourLanded)
                #expect(competition.buyBox?.micros == expected.buyBox)
                let winners = competition.offers.filter(\.isBuyBoxWinner)
                #expect(winners.count == (expected.buyBox == nil ? 0 : 1))
                #expect(winners.first?.landed == competition.buyBox)
                #expect(competition.offers.allSatisfy { $0.matchedByIdentifier && $0.title == listing.title })
                #expect(competition.offers.allSatisfy { [.new, .newOther].contains($0.condition) })
                #expect(competition.offers.filter { !$0.isOurs }.allSatisfy { $0.sellerFeedback != nil && $0.sellerID.hasPrefix("A") })
            }
        }
    }

    @Test("open-box offers are 'new other'; feedback is exact")
    func conditionAndFeedbackMapping() async throws {
        try await AmazonHarness.with { h in
            let openBox = try #require(h.state.channelListings(.amazon).first { listing in
                guard let gtin = h.state.product(sku: listing.sku)?.gtin else { return false }
                return h.state.competitors.contains { $0.gtin == gtin && $0.condition.id == 1500 }
            })
            let gtin = try #require(h.state.product(sku: openBox.sku)?.gtin)
            let competitor = try #require(h.state.competitors.first { $0.gtin == gtin && $0.condition.id == 1500 })
            let result = try await h.client.itemOffers(asin: openBox.listingID, condition: .new)
            let offer = try #require(result.offers.first {
                !$0.isMyOffer && $0.listingPrice.micros == competitor.priceMicros && $0.shipping.micros == competitor.shippingMicros
            })
            #expect(offer.subCondition == "open box")
            #expect(offer.positiveFeedback == (try Percent(parsing: competitor.feedbackPercentage + "%")))
            #expect(offer.feedbackCount == competitor.feedbackScore)
            let listing = MarketplaceListing(marketplace: .amazon, sku: openBox.sku, listingID: openBox.listingID, asin: openBox.listingID,
                                             title: "t", condition: .new, price: .zero(.usd), quantity: 1)
            let competition = try await h.marketplace.competition(for: listing)
            #expect(competition.offers.contains { $0.condition == .newOther && $0.price.micros == competitor.priceMicros })
        }
    }

    @Test("the rate in x-amzn-RateLimit-Limit is adopted for that operation only, and the bucket then paces calls")
    func rateLimitHeaderAdopted() async throws {
        try await AmazonHarness.with { h in
            let asin = try #require(h.stockedNewListings().first).listingID
            #expect(h.client.rateLimit(for: .getItemOffers) == 1000)
            _ = try await h.client.itemOffers(asin: asin)
            // The sandbox advertises Amazon's defaults × 100: getItemOffers 50/s, getOrders 1.67/s.
            #expect(abs(h.client.rateLimit(for: .getItemOffers) - 50) < 0.000_001)
            #expect(h.client.rateLimit(for: .getOrders) == 1000)
            _ = try await h.client.orders(createdAfter: 0)
            #expect(abs(h.client.rateLimit(for: .getOrders) - 1.67) < 0.000_001)
            let before = h.clock.slept
            _ = try await h.client.orders(createdAfter: 0)
            _ = try await h.client.orders(createdAfter: 0)
            // Two calls at 1.67 per second from an empty bucket: 599 ms of waiting each; at the
            // configured 1000/s there would be none.
            #expect(h.clock.slept - before == 1_198)
        }
    }

    @Test("an ASIN the sandbox does not know is a permanent 404")
    func unknownASIN() async throws {
        try await AmazonHarness.with { h in
            let error = await caught { _ = try await h.client.itemOffers(asin: "B0NOTREAL0") }
            guard case .permanent(let status, let message)? = error as? MarketplaceError else {
                Issue.record("expected .permanent, got \(String(describing: error))")
                return
            }
            #expect(status == 404 && message.contains("NotFound"))
        }
    }
}
