import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("eBay Inventory over HTTP", .timeLimit(.minutes(1)))
struct EbayInventoryTests {
    @Test("a bulk update of 60 items takes 3 calls of at most 25, reports each item, and shows in later reads and the admin log")
    func bulkUpdateOfSixty() async throws {
        try await Harness.with(listings: 80) { h in
            let listings = Array(h.sandbox.state.listings.prefix(60))
            var updates = listings.enumerated().map { index, listing in
                PriceQuantityUpdate(sku: listing.sku, shipToLocationQuantity: 5 + index, offers: [
                    .init(offerID: listing.offerId, availableQuantity: 5 + index,
                          price: Money(minorUnits: 1_000 + Int64(index) * 25, currency: .usd)),
                ])
            }
            updates[30] = PriceQuantityUpdate(sku: "NO-SUCH-SKU", offers: [.init(offerID: "1", price: Money(minorUnits: 500, currency: .usd))])
            updates[45].offers[0].offerID = listings[44].offerId  // belongs to another SKU

            let outcome = try await h.client.bulkUpdatePriceQuantity(updates)

            #expect(outcome.calls == 3 && outcome.failure == nil && outcome.unconfirmed.isEmpty)
            #expect(h.sandbox.state.requestCounts["bulk_update"] == 3)
            #expect(outcome.results.count == 60)
            #expect(outcome.results.filter(\.succeeded).count == 58)
            let missing = try #require(outcome.results.first { $0.sku == "NO-SUCH-SKU" })
            #expect(missing.statusCode == 404 && missing.errors.first?.errorId == 25702)
            let mismatched = try #require(outcome.results.first { $0.sku == listings[45].sku })
            #expect(mismatched.statusCode == 400 && mismatched.errors.first?.message?.contains("does not belong") == true)

            // Later reads see the change.
            let offers = try await h.client.offers(sku: listings[10].sku)
            #expect(offers.map(\.price) == [Money(minorUnits: 1_250, currency: .usd)])
            #expect(offers.map(\.availableQuantity) == [15])
            let page = try await h.client.inventoryItems(limit: 20, offset: 0)
            #expect(page.items.first { $0.sku == listings[10].sku }?.quantity == 15)
            #expect(page.total == 80 && page.hasNext)

            // The admin log has every applied update, in order, exactly.
            let log = try await h.admin(.get, "updates", as: [AppliedUpdate].self)
            #expect(log.count == 58)
            #expect(log.map(\.sequence) == Array(1...58))
            let tenth = try #require(log.first { $0.sku == listings[10].sku })
            #expect(tenth.newPriceMicros == 12_500_000 && tenth.newQuantity == 15 && tenth.oldPriceMicros == listings[10].priceMicros)
        }
    }

    @Test("a price finer than the currency's minor unit is refused before anything is sent")
    func subCentPriceRefused() async throws {
        try await Harness.with { h in
            let listing = try #require(h.sandbox.state.listings.first)
            let error = await caught {
                _ = try await h.client.bulkUpdatePriceQuantity([
                    PriceQuantityUpdate(sku: listing.sku, offers: [.init(offerID: listing.offerId, price: Money(micros: 12_999_000 + 500, currency: .usd))]),
                ])
            }
            guard case .refused? = error as? MarketplaceError else {
                Issue.record("expected .refused, got \(String(describing: error))")
                return
            }
            #expect(h.sandbox.state.requestCounts.isEmpty)
        }
    }

    @Test("inventory items page through by following eBay's next offset")
    func inventoryPaging() async throws {
        try await Harness.with(listings: 30) { h in
            var skus: [String] = []
            var offset: Int? = 0
            var calls = 0
            while let current = offset {
                let page = try await h.client.inventoryItems(limit: 12, offset: current)
                skus += page.items.map(\.sku)
                offset = page.nextOffset
                calls += 1
            }
            #expect(calls == 3)
            #expect(skus == h.sandbox.state.listings.map(\.sku))
            let first = try await h.client.inventoryItems(limit: 1).items[0]
            let listing = h.sandbox.state.listings[0]
            #expect(first.title == listing.title && first.upc == [listing.gtin] && first.condition == listing.condition.inventoryEnum)
        }
    }
}
