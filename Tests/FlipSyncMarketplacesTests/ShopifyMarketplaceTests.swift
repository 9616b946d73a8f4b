import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Testing

@Suite("Shopify as a Marketplace, over real HTTP", .timeLimit(.minutes(1)))
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
            // 30 products, 7 a page: 5 pages, each a call.
            #expect(h.statuses("products.list") == Array(repeating: 200, count: 5))
        }
    }

    @Test("the client reads a variant's weight, barcode and inventory item as the sandbox holds them")
    func variantDetails() async throws {
        try await ShopifyHarness.with(listings: 3) { h in
            let page = try await h.client.products()
            #expect(page.nextPageInfo == nil)
            let variant = try #require(page.variants.first)
            let listing = try #require(h.state.channelListing(.shopify, sku: variant.sku ?? ""))
            let product = try #require(h.state.product(sku: listing.sku))
            #expect(String(variant.variantID) == listing.listingID && String(variant.productID) == listing.productID)
            #expect(variant.inventoryItemID.map(String.init) == listing.inventoryItemID)
            #expect(variant.barcode == product.gtin && variant.weightUnit == "oz" && variant.weight == Double(product.weightOunces))
            #expect(variant.grams == Int((Double(product.weightOunces) * 28.349523125).rounded()))
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
            let log = h.state.updates.filter { $0.marketplace == .shopify }
            #expect(log.map(\.sku) == [targets[0].sku, targets[1].sku, targets[2].sku, targets[2].sku])
            #expect(log.map(\.newPriceMicros) == [12_990_000, targets[1].priceMicros, 5_000_000, 5_000_000])
            #expect(log.map(\.newQuantity) == [targets[0].quantity, 7, targets[2].quantity, 0])
            // The stock location is looked up once. The inventory item comes from the price update's
            // answer when there is one, else from reading the variant.
            #expect(h.statuses("locations.list") == [200])
            #expect(h.statuses("variants.update") == [200, 200])
            #expect(h.statuses("variants.get") == [200])
            #expect(h.statuses("inventory_levels.set") == [200, 200])
        }
    }

    @Test("a price Shopify refuses fails alone, with Shopify's message; the rest of the batch applies")
    func refusedPriceFailsAlone() async throws {
        try await ShopifyHarness.with(listings: 5) { h in
            let targets = Array(h.state.channelListings(.shopify).prefix(2))
            _ = try await h.marketplace.activeListings()  // learns the inventory items: no variant reads needed
            let results = try await h.marketplace.apply([
                ListingChange(sku: targets[0].sku, listingID: targets[0].listingID, price: Money(micros: -1_000_000, currency: .usd)),
                ListingChange(sku: "NOPE", listingID: "999", quantity: 1),
                ListingChange(sku: targets[1].sku, listingID: targets[1].listingID, quantity: 3),
            ])
            #expect(results.map(\.outcome) == [
                .failed("price: Shopify refused it (HTTP 422): price must be greater than or equal to 0"),
                .failed("quantity: Shopify refused it (HTTP 404): Not Found"),
                .applied,
            ])
            #expect(h.state.channelListing(.shopify, sku: targets[0].sku)?.priceMicros == targets[0].priceMicros)
            #expect(h.state.channelListing(.shopify, sku: targets[1].sku)?.quantity == 3)
            #expect(h.state.updates.filter { $0.marketplace == .shopify }.map(\.sku) == [targets[1].sku])
        }
    }

    @Test("unit costs are the inventory items' costs, exact, 100 ids per call")
    func unitCosts() async throws {
        try await ShopifyHarness.with(listings: 120) { h in
            let costs = try await h.marketplace.unitCosts()
            var expected: [String: Money] = [:]
            for listing in h.state.channelListings(.shopify) {
                expected[listing.sku] = Money(micros: try #require(h.state.listing(sku: listing.sku)).costMicros, currency: .usd)
            }
            #expect(costs == expected)
            #expect(h.statuses("inventory_items.list") == [200, 200])
        }
    }

    @Test("orders page by since_id; the cursor is the highest id, and reading from it returns only newer orders")
    func ordersWithCursor() async throws {
        try await ShopifyHarness.with(listings: 20, pageSize: 2) { h in
            let stocked = h.state.channelListings(.shopify).filter { $0.quantity >= 2 }.prefix(5)
            try #require(stocked.count == 5)
            var placed: [SandboxOrder] = []
            for (index, listing) in stocked.enumerated() {
                placed.append(try h.state.placeOrder(.shopify, sku: listing.sku, quantity: index == 0 ? 2 : 1))
            }
            // An order on another channel is not Shopify's.
            if let ebay = h.state.listings.first(where: { $0.quantity > 0 }) { try h.state.placeOrder(.ebay, sku: ebay.sku, quantity: 1) }

            let first = try await h.marketplace.orders(since: nil)
            #expect(first.lines.map(\.orderID) == placed.map(\.orderID))
            #expect(first.cursor == placed.last?.orderID)
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
            #expect(h.statuses("orders.list") == [200, 200, 200])

            let again = try await h.marketplace.orders(since: first.cursor)
            #expect(again.lines.isEmpty && again.cursor == first.cursor)

            let newer = try h.state.placeOrder(.shopify, sku: try #require(stocked.last).sku, quantity: 1)
            let next = try await h.marketplace.orders(since: again.cursor)
            #expect(next.lines.map(\.orderID) == [newer.orderID] && next.cursor == newer.orderID)
        }
    }

    @Test("an order's shipping goes on its first line; fulfilled lines and cancelled orders are not open")
    func shippingOnFirstLine() throws {
        let usd = Currency.usd
        let order = ShopifyOrder(
            id: 9, name: "#1001", createdAt: 1_000, currency: usd,
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
