import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("Shopify: stock set in batches of up to 250 quantities", .timeLimit(.minutes(2)))
struct ShopifyBatchStockTests {
    @Test("130 variants' stock takes ⌈130/250⌉ = 1 inventorySetQuantities, 300 take 2; every quantity is live")
    func batchesOfUpTo250() async throws {
        try await ShopifyHarness.with(listings: 5) { h in
            let big = h.state.addShopifyProduct(variants: 300, quantity: 5)
            _ = try await h.marketplace.activeListings()
            let first = Array(big.prefix(130))
            let results = try await h.marketplace.apply(first.enumerated().map { n, l in
                ListingChange(sku: l.sku, listingID: l.listingID, quantity: 6 + n % 3)
            })
            #expect(results.allSatisfy { $0.outcome == .applied })
            #expect(h.statuses("inventorySetQuantities") == [200], "one call for 130 quantities")
            for (n, l) in first.enumerated() { #expect(h.state.channelListing(.shopify, sku: l.sku)?.quantity == 6 + n % 3) }

            let all = try await h.marketplace.apply(big.map { ListingChange(sku: $0.sku, listingID: $0.listingID, quantity: 2) })
            #expect(all.allSatisfy { $0.outcome == .applied })
            #expect(h.statuses("inventorySetQuantities") == [200, 200, 200], "two more calls for 300 quantities (250 + 50)")
            #expect(big.allSatisfy { h.state.channelListing(.shopify, sku: $0.sku)?.quantity == 2 })
            #expect(h.statuses("inventoryItem").isEmpty, "no quantity was re-read")
        }
    }

    @Test("one stale compareQuantity in a batch: Shopify writes nothing; only that item is re-read, its sale comes off, the batch is sent again; never overwritten")
    func oneStaleItemInABatch() async throws {
        try await ShopifyHarness.with(listings: 10) { h in
            let targets = Array(h.state.channelListings(.shopify).filter { $0.quantity >= 4 }.prefix(5))
            try #require(targets.count == 5)
            let read = Dictionary(try await h.marketplace.activeListings().map { ($0.sku, $0.quantity) }, uniquingKeysWith: { a, _ in a })
            // A buyer takes 2 of the third after our read.
            let sold = targets[2]
            try h.state.placeOrder(.shopify, sku: sold.sku, quantity: 2)
            let results = try await h.marketplace.apply(targets.map { ListingChange(sku: $0.sku, listingID: $0.listingID, quantity: read[$0.sku]! - 1) })
            #expect(results.map(\.outcome) == Array(repeating: .applied, count: 5))
            // The first call was refused as a whole (one stale compare), the second applied all five.
            #expect(h.statuses("inventorySetQuantities") == [200, 200])
            #expect(h.statuses("inventoryItem") == [200], "only the stale item was read again")
            for target in targets {
                let expected = read[target.sku]! - 1 - (target.sku == sold.sku ? 2 : 0)
                #expect(h.state.channelListing(.shopify, sku: target.sku)?.quantity == expected, "\(target.sku)")
            }
            // Each item written once; the sold one from the quantity after the sale, not over it.
            let log = h.state.updates.filter { $0.marketplace == .shopify && targets.map(\.sku).contains($0.sku) }
            #expect(log.count == 5)
            #expect(log.first { $0.sku == sold.sku }?.oldQuantity == read[sold.sku]! - 2)
        }
    }
}
