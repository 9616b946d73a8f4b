import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("Shopify: one product with more than 100 variants, read by cursor and priced and stocked whole", .timeLimit(.minutes(2)))
struct ShopifyLargeProductTests {
    @Test("130 variants of one product over three 50-variant pages (cursor paging inside the product); every price and quantity written and live")
    func readAndWriteEveryVariant() async throws {
        try await ShopifyHarness.with(listings: 2, pageSize: 50) { h in
            let big = h.state.addShopifyProduct(variants: 130)
            #expect(Set(big.compactMap(\.productID)).count == 1)
            let listings = try await h.marketplace.activeListings()
            let read = listings.filter { $0.sku.hasPrefix("BIG-") }
            // 132 variants, 50 a page: three pages, each after the last cursor; nothing read twice or skipped.
            #expect(h.statuses("productVariants") == [200, 200, 200])
            #expect(listings.count == 132 && Set(listings.map(\.listingID)).count == 132)
            #expect(read.map(\.listingID) == big.map(\.listingID))
            #expect(read.map(\.quantity) == big.map(\.quantity))

            // A new price and quantity for every one of the 130.
            let changes = big.enumerated().map { n, listing in
                ListingChange(sku: listing.sku, listingID: listing.listingID,
                              price: Money(micros: 20_000_000 + Int64(n) * 10_000, currency: .usd), quantity: n % 7)
            }
            let results = try await h.marketplace.apply(changes)
            #expect(results.count == 130 && results.allSatisfy { $0.outcome == .applied })
            for (n, listing) in big.enumerated() {
                let live = try #require(h.state.channelListing(.shopify, sku: listing.sku))
                #expect(live.priceMicros == 20_000_000 + Int64(n) * 10_000 && live.quantity == n % 7, "\(listing.sku)")
            }
            // Prices: the product's variants together, one mutation. Quantities: one compare-and-set per
            // item (each change carries one), compared with what the pages read, so no variant is read again.
            #expect(h.statuses("productVariantsBulkUpdate") == [200])
            #expect(h.statuses("inventorySetQuantities") == Array(repeating: 200, count: 130))
            #expect(h.statuses("productVariant").isEmpty && h.statuses("inventoryItem").isEmpty)

            // Read again: every variant as written.
            let again = try await h.marketplace.activeListings().filter { $0.sku.hasPrefix("BIG-") }
            #expect(again.map(\.price) == changes.map(\.price!))
            #expect(again.map(\.quantity) == changes.map(\.quantity!))
        }
    }
}
