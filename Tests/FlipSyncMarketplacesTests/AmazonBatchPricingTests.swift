import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("Amazon getListingOffersBatch over HTTP", .timeLimit(.minutes(1)))
struct AmazonBatchPricingTests {
    @Test("the batch gives every listing the same competition as getItemOffers, in requests of 20 SKUs")
    func batchMatchesPerItem() async throws {
        try await AmazonHarness.with(listings: 80) { h in
            let active = try await h.marketplace.activeListings()
            try #require(active.count > 40)
            let batched = try await h.marketplace.competitions(for: active)
            let batchRequests = h.state.requestCounts[SandboxRoute.amazonListingOffersBatch.rawValue] ?? 0
            #expect(batchRequests == (active.count + 19) / 20)
            #expect(h.state.requestCounts[SandboxRoute.amazonOffers.rawValue] == nil)
            #expect(batched.count == active.count)
            var withOwnOffer = 0
            for (listing, lookup) in zip(active, batched) {
                let single = try await h.marketplace.competition(for: listing)
                #expect(lookup == .found(single), "\(listing.sku): the batch and getItemOffers differ")
                if case .found(let c) = lookup, c.offers.contains(where: \.isOurs) { withOwnOffer += 1 }
            }
            #expect(h.state.requestCounts[SandboxRoute.amazonOffers.rawValue] == active.count)
            // Our own offer (MyOffer) is there, with its shipping, for the listings in stock.
            #expect(withOwnOffer == active.filter { $0.quantity > 0 }.count)
            // The batch is metered as its own operation.
            #expect(h.recorder.count(operation: "pricing.getListingOffersBatch") == batchRequests)
        }
    }

    @Test("a SKU that is not ours is a 404 in its own entry; the rest of the batch stands")
    func unknownSKUIsPerItem() async throws {
        try await AmazonHarness.with(listings: 20) { h in
            let active = try await h.marketplace.activeListings()
            let known = Array(active.prefix(2))
            try #require(known.count == 2)
            let entries = try await h.client.listingOffersBatch([
                AmazonListingOffersRequest(sku: known[0].sku, condition: .new),
                AmazonListingOffersRequest(sku: "NOT-OUR-SKU", condition: .new),
                AmazonListingOffersRequest(sku: known[1].sku, condition: .used),
            ])
            #expect(entries.map(\.sku) == [known[0].sku, "NOT-OUR-SKU", known[1].sku])
            #expect(entries.map(\.status) == [200, 404, 200])
            #expect(entries[1].offers == nil && entries[1].error?.contains("NotFound") == true)
            #expect(entries[0].offers != nil && entries[2].offers?.condition == .used)

            var stranger = known[0]
            stranger.sku = "NOT-OUR-SKU"
            let lookups = try await h.marketplace.competitions(for: [known[0], stranger, known[1]])
            guard case .failed(let reason) = lookups[1] else {
                Issue.record("expected .failed for an unknown SKU, got \(lookups[1])")
                return
            }
            #expect(reason.contains("404"))
            #expect(lookups[0] == .found(try await h.marketplace.competition(for: known[0])))
            #expect(lookups[2] == .found(try await h.marketplace.competition(for: known[1])))
        }
    }

    @Test("more than 20 SKUs are refused before sending; 45 listings are read in 3 requests")
    func batchLimit() async throws {
        try await AmazonHarness.with(listings: 150) { h in
            let requests = (1...21).map { AmazonListingOffersRequest(sku: "SKU-\($0)", condition: .new) }
            let error = await caught { _ = try await h.client.listingOffersBatch(requests) }
            guard case .refused? = error as? MarketplaceError else {
                Issue.record("expected .refused, got \(String(describing: error))")
                return
            }
            #expect(h.state.requestCounts[SandboxRoute.amazonListingOffersBatch.rawValue] == nil)
            let active = try await h.marketplace.activeListings()
            try #require(active.count >= 45)
            let groups = try h.marketplace.competitionGroups(Array(active.prefix(45)))
            #expect(groups.map(\.count) == [20, 20, 5])
            _ = try await h.marketplace.competitions(for: Array(active.prefix(45)))
            #expect(h.state.requestCounts[SandboxRoute.amazonListingOffersBatch.rawValue] == 3)
        }
    }
}
