import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Testing

@Suite("Shopify as a Marketplace, over the GraphQL Admin API and real HTTP", .timeLimit(.minutes(1)))
struct ShopifyMarketplaceTests {
    @Test("active listings page through every product: all SKUs, exact prices, quantities and ids")
    func activeListingsEveryPage() async throws {
        try await ShopifyHarness.with(listings: 30, pageSize: 7) { h in
            let listings = try await h.marketplace.activeListings()
            let expected = h.state.channelListings(.shopify)
            #expect(listings.map(\.sku) == expected.map(\.sku))
            for (listing, want) in zip(listings, expected) {
                #expect(listing.marketplace == .shopify && listing.condition == .new)
                #expect(listing.listingID == want.listingID)
                #expect(listing.price == Money(micros: want.priceMicros, currency: .usd))
                #expect(listing.quantity == want.quantity)
                #expect(listing.gtin == h.state.product(sku: want.sku)?.gtin)
                #expect(listing.title == h.state.product(sku: want.sku)?.title)
            }
            // 30 variants, 7 a page: 5 pages, each a call, after the one location lookup.
            #expect(h.statuses("productVariants") == Array(repeating: 200, count: 5))
            #expect(h.statuses("locations") == [200])
        }
    }

    @Test("the client reads a variant's weight, barcode, unit cost and inventory item as the sandbox holds them")
    func variantDetails() async throws {
        try await ShopifyHarness.with(listings: 3) { h in
            let page = try await h.client.variants()
            #expect(page.nextCursor == nil && page.variants.count == 3)
            let variant = try #require(page.variants.first)
            let listing = try #require(h.state.channelListing(.shopify, sku: variant.sku ?? ""))
            let product = try #require(h.state.product(sku: listing.sku))
            #expect(String(variant.variantID) == listing.listingID && String(variant.productID) == listing.productID)
            #expect(variant.inventoryItemID.map(String.init) == listing.inventoryItemID && variant.available == listing.quantity)
            #expect(variant.barcode == product.gtin && variant.weightUnit == "oz" && variant.weight == Double(product.weightOunces))
            #expect(ShopifyMarketplace.grams(variant) == Int((Double(product.weightOunces) * 28.349523125).rounded()))
            #expect(variant.unitCost == Money(micros: try #require(h.state.listing(sku: listing.sku)).costMicros, currency: .usd))
        }
    }

    @Test("a product with 150 variants is read whole (REST stopped at 100), and its 120th and 150th variants are written")
    func moreThan100Variants() async throws {
        try await ShopifyHarness.with(listings: 3) { h in
            let big = h.state.addShopifyProduct(variants: 150)
            let listings = try await h.marketplace.activeListings()
            let read = listings.filter { $0.sku.hasPrefix("BIG-") }
            #expect(read.count == 150 && listings.count == 153)
            #expect(read.map(\.listingID) == big.map(\.listingID))
            #expect(read.map(\.price) == big.map { Money(micros: $0.priceMicros, currency: .usd) })
            #expect(Set(big.map(\.productID)).count == 1)
            // 153 variants, 100 a page: two pages.
            #expect(h.statuses("productVariants") == [200, 200])

            let results = try await h.marketplace.apply([
                ListingChange(sku: big[149].sku, listingID: big[149].listingID, price: Money(micros: 42_500_000, currency: .usd)),
                ListingChange(sku: big[119].sku, listingID: big[119].listingID, price: Money(micros: 7_000_000, currency: .usd), quantity: 2),
            ])
            #expect(results.map(\.outcome) == [.applied, .applied])
            #expect(h.state.channelListing(.shopify, sku: big[149].sku)?.priceMicros == 42_500_000)
            #expect(h.state.channelListing(.shopify, sku: big[119].sku)?.priceMicros == 7_000_000)
            #expect(h.state.channelListing(.shopify, sku: big[119].sku)?.quantity == 2)
            // Both prices in one mutation: they are variants of one product.
            #expect(h.statuses("productVariantsBulkUpdate") == [200] && h.statuses("inventorySetQuantities") == [200])
        }
    }

    @Test("above the bulk threshold the catalog is read with one bulk operation, polled on the clock, its JSONL file read: the same listings as paging")
    func bulkOperationRead() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_727_784_000))
        try await ShopifyHarness.with(listings: 30, clock: clock, bulkThreshold: 100) { h in
            h.state.addShopifyProduct(variants: 150)
            h.state.shopifyBulk.setPollsBeforeDone(1)
            let reading = Task { try await h.marketplace.activeListings() }
            await clock.waitForSleepers(1)
            // Polled once (RUNNING); the next poll waits the poll interval on the clock.
            #expect(h.statuses("currentBulkOperation") == [200] && clock.nextWakeWallMilliseconds == clock.wallMilliseconds() + 1000)
            clock.advance(byMilliseconds: 1000)
            let listings = try await reading.value
            let expected = h.state.channelListings(.shopify).sorted { Int64($0.listingID)! < Int64($1.listingID)! }
            #expect(listings.count == 180)
            #expect(listings.map(\.listingID) == expected.map(\.listingID))
            #expect(listings.map(\.price) == expected.map { Money(micros: $0.priceMicros, currency: .usd) })
            #expect(listings.map(\.quantity) == expected.map(\.quantity))
            #expect(h.statuses("productVariantsCount") == [200] && h.statuses("bulkOperationRunQuery") == [200])
            #expect(h.statuses("currentBulkOperation") == [200, 200] && h.statuses("bulk.file") == [200])
            #expect(h.statuses("productVariants").isEmpty)
            // What was read is known: a push needs no variant read.
            let big = try #require(expected.last)
            let results = try await h.marketplace.apply([ListingChange(sku: big.sku, listingID: big.listingID, quantity: big.quantity + 1)])
            #expect(results.map(\.outcome) == [.applied] && h.statuses("productVariant").isEmpty)
        }
    }

    @Test("a bulk file on a host outside the allow-list is refused unsent, and the catalog is read page by page instead")
    func bulkFileRefusedFallsBackToPages() async throws {
        try await ShopifyHarness.with(listings: 30, bulkThreshold: 10) { h in
            h.state.shopifyBulk.setFileHost("localhost")
            let listings = try await h.marketplace.activeListings()
            #expect(listings.map(\.sku) == h.state.channelListings(.shopify).map(\.sku))
            #expect(h.statuses("bulkOperationRunQuery") == [200] && h.statuses("bulk.file").isEmpty)
            #expect(h.statuses("productVariants") == [200])
        }
    }

    @Test("price and quantity changes persist in the shop and are logged, one result per change")
    func applyPersists() async throws {
        try await ShopifyHarness.with(listings: 10) { h in
            let targets = Array(h.state.channelListings(.shopify).prefix(3))
            let changes = [
                ListingChange(sku: targets[0].sku, listingID: targets[0].listingID, price: Money(micros: 12_990_000, currency: .usd)),
                ListingChange(sku: targets[1].sku, listingID: targets[1].listingID, quantity: 7),
                ListingChange(sku: targets[2].sku, listingID: targets[2].listingID, price: Money(micros: 5_000_000, currency: .usd),
                              quantity: 0),
            ]
            let results = try await h.marketplace.apply(changes)
            #expect(results.map(\.outcome) == [.applied, .applied, .applied])
            #expect(results.map(\.sku) == changes.map(\.sku))
            #expect(h.state.channelListing(.shopify, sku: targets[0].sku)?.priceMicros == 12_990_000)
            #expect(h.state.channelListing(.shopify, sku: targets[0].sku)?.quantity == targets[0].quantity)
            #expect(h.state.channelListing(.shopify, sku: targets[1].sku)?.quantity == 7)
            #expect(h.state.channelListing(.shopify, sku: targets[1].sku)?.priceMicros == targets[1].priceMicros)
            #expect(h.state.channelListing(.shopify, sku: targets[2].sku)?.priceMicros == 5_000_000)
            #expect(h.state.channelListing(.shopify, sku: targets[2].sku)?.quantity == 0)
            // Prices first (one mutation per product), then quantities.
            let log = h.state.updates.filter { $0.marketplace == .shopify }
            #expect(log.map(\.sku) == [targets[0].sku, targets[2].sku, targets[1].sku, targets[2].sku])
            #expect(log.map(\.newPriceMicros) == [12_990_000, 5_000_000, targets[1].priceMicros, 5_000_000])
            #expect(log.map(\.newQuantity) == [targets[0].quantity, targets[2].quantity, 7, 0])
            // The stock location is looked up once; variants never read are read once each.
            #expect(h.statuses("locations") == [200])
            #expect(h.statuses("productVariant") == [200, 200, 200])
            #expect(h.statuses("productVariantsBulkUpdate") == [200, 200])
            #expect(h.statuses("inventorySetQuantities") == [200], "both quantities in one call")
        }
    }

    @Test("a price Shopify refuses fails alone, with Shopify's code and message; the rest of the batch applies")
    func refusedPriceFailsAlone() async throws {
        try await ShopifyHarness.with(listings: 5) { h in
            let targets = Array(h.state.channelListings(.shopify).prefix(2))
            _ = try await h.marketplace.activeListings()  // learns the variants: no variant reads needed
            let results = try await h.marketplace.apply([
                ListingChange(sku: targets[0].sku, listingID: targets[0].listingID, price: Money(micros: -1_000_000, currency: .usd)),
                ListingChange(sku: "NOPE", listingID: "999", quantity: 1),
                ListingChange(sku: targets[1].sku, listingID: targets[1].listingID, quantity: 3),
            ])
            #expect(results.map(\.outcome) == [
                .failed("price: Shopify refused it: GREATER_THAN_OR_EQUAL_TO: Price must be greater than or equal to 0"),
                .failed("quantity: Shopify has no variant 999"),
                .applied,
            ])
            #expect(h.state.channelListing(.shopify, sku: targets[0].sku)?.priceMicros == targets[0].priceMicros)
            #expect(h.state.channelListing(.shopify, sku: targets[1].sku)?.quantity == 3)
            #expect(h.state.updates.filter { $0.marketplace == .shopify }.map(\.sku) == [targets[1].sku])
            #expect(h.statuses("productVariant") == [200])
        }
    }

    @Test("a sale between the read and the push: the stale compareQuantity is re-read and the sold units come off; never oversold")
    func staleCompareNeverOversells() async throws {
        try await ShopifyHarness.with(listings: 10) { h in
            let target = try #require(h.state.channelListings(.shopify).first { $0.quantity >= 4 })
            let read = try #require(try await h.marketplace.activeListings().first { $0.sku == target.sku })
            #expect(read.quantity == target.quantity)
            // A buyer takes 2 on Shopify after our read; the sync still wants one fewer than it read.
            try h.state.placeOrder(.shopify, sku: target.sku, quantity: 2)
            let results = try await h.marketplace.apply([ListingChange(sku: target.sku, listingID: target.listingID, quantity: read.quantity - 1)])
            #expect(results.map(\.outcome) == [.applied])
            // Not the 1 − read it asked for, which would list 2 units already sold: those 2 came off too.
            #expect(h.state.channelListing(.shopify, sku: target.sku)?.quantity == read.quantity - 3)
            #expect(h.statuses("inventorySetQuantities") == [200, 200] && h.statuses("inventoryItem") == [200])
            let log = h.state.updates.filter { $0.sku == target.sku }
            #expect(log.map(\.oldQuantity) == [read.quantity - 2] && log.map(\.newQuantity) == [read.quantity - 3])
        }
    }

    @Test("a quantity that keeps changing past the retries fails the change and is never overwritten")
    func staleComparesExhausted() async throws {
        try await ShopifyHarness.with(listings: 10, compareRetries: 0) { h in
            let target = try #require(h.state.channelListings(.shopify).first { $0.quantity >= 4 })
            _ = try await h.marketplace.activeListings()
            try h.state.placeOrder(.shopify, sku: target.sku, quantity: 2)
            let results = try await h.marketplace.apply([ListingChange(sku: target.sku, listingID: target.listingID, quantity: target.quantity + 5)])
            #expect(results.map(\.outcome) == [.failed("quantity: the quantity kept changing on Shopify (1 stale compares); not overwritten")])
            #expect(h.state.channelListing(.shopify, sku: target.sku)?.quantity == target.quantity - 2)
            #expect(h.state.updates.isEmpty)
        }
    }

    @Test("unit costs are the inventory items' unit costs, exact, read with the variant pages")
    func unitCosts() async throws {
        try await ShopifyHarness.with(listings: 120) { h in
            let costs = try await h.marketplace.unitCosts()
            var expected: [String: Money] = [:]
            for listing in h.state.channelListings(.shopify) {
                expected[listing.sku] = Money(micros: try #require(h.state.listing(sku: listing.sku)).costMicros, currency: .usd)
            }
            #expect(costs == expected)
            #expect(h.statuses("productVariants") == [200, 200])
        }
    }

    @Test("orders page by updated_at; the cursor is the latest updatedAt, inclusive, and later orders come after it")
    func ordersWithCursor() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_727_784_000))
        try await ShopifyHarness.with(listings: 20, clock: clock, orderPageSize: 2) { h in
            let stocked = h.state.channelListings(.shopify).filter { $0.quantity >= 2 }.prefix(5)
            try #require(stocked.count == 5)
            var placed: [SandboxOrder] = []
            for (index, listing) in stocked.enumerated() {
                placed.append(try h.state.placeOrder(.shopify, sku: listing.sku, quantity: index == 0 ? 2 : 1))
                clock.advance(byMilliseconds: 1000)
            }
            // An order on another channel is not Shopify's.
            if let ebay = h.state.listings.first(where: { $0.quantity > 0 }) { try h.state.placeOrder(.ebay, sku: ebay.sku, quantity: 1) }

            let first = try await h.marketplace.orders(since: nil)
            #expect(first.lines.map(\.orderID) == placed.map(\.orderID))
            #expect(first.cursor == Timestamp(milliseconds: placed.last!.placedAtMilliseconds).iso8601UTC)
            for (line, order) in zip(first.lines, placed) {
                #expect(line.marketplace == .shopify && line.sku == order.sku && line.quantity == order.quantity)
                #expect(line.itemPrice == Money(micros: order.itemTotalMicros, currency: .usd))
                #expect(line.shippingPaid == Money(micros: order.shippingPaidMicros, currency: .usd))
                #expect(line.destination == Destination(postalCode: order.shipTo.postalCode, country: order.shipTo.country,
                                                        region: order.shipTo.region))
                #expect(line.placedAt == order.placedAtMilliseconds / 1000 * 1000)
                #expect(line.open && line.deliverBy == nil && !line.lineID.isEmpty)
            }
            // 5 orders, 2 a page: 3 calls.
            #expect(h.statuses("orders") == [200, 200, 200])

            // Inclusive: the last second's order comes again (applied once by the ledger), nothing older.
            let again = try await h.marketplace.orders(since: first.cursor)
            #expect(again.lines.map(\.orderID) == [placed.last!.orderID] && again.cursor == first.cursor)

            clock.advance(byMilliseconds: 60_000)
            let newer = try h.state.placeOrder(.shopify, sku: try #require(stocked.last).sku, quantity: 1)
            let next = try await h.marketplace.orders(since: again.cursor)
            #expect(next.lines.map(\.orderID) == [placed.last!.orderID, newer.orderID])
            #expect(next.cursor == Timestamp(milliseconds: newer.placedAtMilliseconds).iso8601UTC)
            // A cursor from the REST client (an order id) reads everything once more.
            #expect(try await h.marketplace.orders(since: placed[0].orderID).lines.count == 6)
        }
    }

    @Test("an order's shipping goes on its first line; fulfilled lines and cancelled orders are not open")
    func shippingOnFirstLine() throws {
        let usd = Currency.usd
        let order = ShopifyOrder(
            id: 9, name: "#1001", createdAt: 1_000, updatedAt: "1970-01-01T00:00:01Z", currency: usd,
            lineItems: [ShopifyLineItem(id: 1, variantID: 5, sku: "A", quantity: 2, price: Money(micros: 1_500_000, currency: usd),
                                        fulfillmentStatus: nil),
                        ShopifyLineItem(id: 2, variantID: 6, sku: "B", quantity: 1, price: Money(micros: 700_000, currency: usd),
                                        fulfillmentStatus: "fulfilled")],
            shipping: Money(micros: 4_990_000, currency: usd), shippingAddress: nil, fulfillmentStatus: "partial", cancelledAt: nil)
        let lines = ShopifyMarketplace.lines(of: order)
        #expect(lines.map(\.shippingPaid) == [Money(micros: 4_990_000, currency: usd), .zero(usd)])
        #expect(lines.map(\.itemPrice) == [Money(micros: 3_000_000, currency: usd), Money(micros: 700_000, currency: usd)])
        #expect(lines.map(\.open) == [true, false])
        var cancelled = order
        cancelled.cancelledAt = 2_000
        #expect(ShopifyMarketplace.lines(of: cancelled).allSatisfy { !$0.open })
    }

    @Test("our own store has no competing offers")
    func noCompetition() async throws {
        try await ShopifyHarness.with(listings: 2) { h in
            let listing = try #require(try await h.marketplace.activeListings().first)
            #expect(try await h.marketplace.competition(for: listing) == Competition(offers: []))
        }
    }
}
