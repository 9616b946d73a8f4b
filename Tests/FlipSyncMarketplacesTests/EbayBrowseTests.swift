import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("eBay Browse search over HTTP", .timeLimit(.minutes(1)))
struct EbayBrowseTests {
    @Test("searching by keywords pages through every result, cheapest landed price first, with exact money")
    func pagesThroughAllResults() async throws {
        try await Harness.with { h in
            let expected = h.sandbox.state.competitors
                .filter { $0.title.lowercased().contains("acme") }
                .sorted { ($0.landedMicros, $0.itemId) < ($1.landedMicros, $1.itemId) }
            #expect(expected.count > 14, "the seeded catalog should need several pages")
            let found = try await h.client.searchAll(BrowseQuery(.keywords("Acme"), pageSize: 7))
            #expect(found.map(\.itemID) == expected.map(\.itemId))
            for (listing, offer) in zip(found, expected) {
                #expect(listing.price == Money(micros: offer.priceMicros, currency: .usd))
                #expect(listing.shippingCost == Money(micros: offer.shippingMicros, currency: .usd))
                #expect(listing.gtin == offer.gtin)
                #expect(listing.conditionID == offer.condition.id)
                #expect(listing.seller?.username == offer.sellerUsername)
                #expect(listing.seller?.feedbackScore == offer.feedbackScore)
                #expect(listing.seller?.feedbackPercentage == (try Percent(parsing: offer.feedbackPercentage + "%")))
            }
            let pages = (expected.count + 6) / 7
            #expect(h.recorder.count(operation: "browse.item_summary.search") == pages)
        }
    }

    @Test("searching by GTIN with a condition filter returns only that product in those conditions")
    func gtinWithConditionFilter() async throws {
        try await Harness.with { h in
            let all = h.sandbox.state.competitors
            let gtin = try #require(all.first { $0.gtin != nil }?.gtin)
            let page = try await h.client.searchPage(BrowseQuery(.gtin(gtin), conditionIDs: [1000, 1500]))
            let expected = all.filter { $0.gtin == gtin && [1000, 1500].contains($0.condition.id) }
            #expect(Set(page.items.map(\.itemID)) == Set(expected.map(\.itemId)))
            #expect(page.items.allSatisfy { $0.gtin == gtin && [1000, 1500].contains($0.conditionID ?? 0) })
            #expect(page.total == expected.count)
        }
    }
}
