import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("eBay Browse getItems over HTTP", .timeLimit(.minutes(1)))
struct EbayGetItemsTests {
    @Test("getItems returns the listed items as search shows them, leaves out an ended one, and takes at most 20 ids")
    func itemsByID() async throws {
        try await Harness.with(listings: 20) { h in
            let competitors = Array(h.sandbox.state.competitors.prefix(3))
            try #require(competitors.count == 3)
            let items = try await h.client.items(ids: competitors.map(\.itemId))
            #expect(items.map(\.itemID) == competitors.map(\.itemId))
            for (item, offer) in zip(items, competitors) {
                #expect(item.price.micros == offer.priceMicros && item.shippingCost?.micros == offer.shippingMicros)
                #expect(item.seller?.username == offer.sellerUsername && item.conditionID == offer.condition.id && item.gtin == offer.gtin)
            }
            // A search finds the same item with the same fields.
            if let gtin = competitors[0].gtin {
                let found = try await h.client.searchAll(BrowseQuery(.gtin(gtin), pageSize: 200))
                #expect(found.first { $0.itemID == competitors[0].itemId } == items[0])
            }
            h.sandbox.state.endCompetitorItem(competitors[1].itemId)
            let after = try await h.client.items(ids: competitors.map(\.itemId))
            #expect(after.map(\.itemID) == [competitors[0].itemId, competitors[2].itemId])
            let calls = h.sandbox.state.requestCounts[SandboxRoute.getItems.rawValue]
            await #expect(throws: MarketplaceError.self) { _ = try await h.client.items(ids: (0..<21).map { "v1|\($0)|0" }) }
            #expect(h.sandbox.state.requestCounts[SandboxRoute.getItems.rawValue] == calls)
            #expect(calls == 2)
        }
    }

    @Test("the production profile limits getItems to 5,000 a Pacific day on its own row, apart from search's")
    func productionRow() {
        let row = SandboxLimits.production.routes[.getItems], search = SandboxLimits.production.routes[.search]
        #expect(row?.dailyQuota == 5_000 && search?.dailyQuota == 5_000)
        #expect(row?.quotaGroup != nil && row?.quotaGroup != search?.quotaGroup)
    }
}
