import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Foundation
import Testing

@Suite("Amazon orders over HTTP", .timeLimit(.minutes(1)))
struct AmazonOrdersTests {
    /// Places one order for each of the first `count` in-stock Amazon listings.
    static func placeOrders(_ h: AmazonHarness, count: Int) throws -> [SandboxOrder] {
        let stocked = h.state.channelListings(.amazon).filter { $0.quantity >= 2 }
        try #require(stocked.count >= count)
        return try stocked.prefix(count).enumerated().map { index, listing in
            try h.state.placeOrder(.amazon, sku: listing.sku, quantity: index % 2 + 1)
        }
    }

    @Test("getOrders pages with NextToken, and getOrderItems gives each order's line")
    func clientPaging() async throws {
        try await AmazonHarness.with { h in
            let placed = try Self.placeOrders(h, count: 5)
            let since = SystemSchedulerClock().wallMilliseconds() - 3_600_000
            var orders: [AmazonOrder] = []
            var token: String?
            var pages = 0
            repeat {
                let page = try await h.client.orders(createdAfter: since, nextToken: token, maxResultsPerPage: 2)
                orders += page.orders
                token = page.nextToken
                pages += 1
            } while token != nil
            #expect(pages == 3)
            #expect(orders.map(\.orderID) == placed.map(\.orderID))
            for (order, sandbox) in zip(orders, placed) {
                #expect(order.status == "Unshipped")
                #expect(order.purchasedAt == sandbox.placedAtMilliseconds / 1000 * 1000)
                #expect(order.orderTotal?.micros == sandbox.itemTotalMicros + sandbox.shippingPaidMicros)
                let items = try await h.client.orderItems(orderID: order.orderID)
                #expect(items.count == 1)
                #expect(items.first?.sku == sandbox.sku && items.first?.quantityOrdered == sandbox.quantity)
                #expect(items.first?.orderItemID == sandbox.lineID)
                #expect(items.first?.asin == h.state.channelListing(.amazon, sku: sandbox.sku)?.listingID)
            }
            #expect(h.recorder.count(operation: "orders.getOrders") == 3)
            #expect(h.recorder.count(operation: "orders.getOrderItems") == 5)
        }
    }

    @Test("orders(since:) gives every line with prices, destination and promise, and a cursor just before the newest")
    func marketplaceOrdersAndCursor() async throws {
        try await AmazonHarness.with { h in
            let placed = try Self.placeOrders(h, count: 4)
            let page = try await h.marketplace.orders(since: nil)
            #expect(page.lines.map(\.orderID) == placed.map(\.orderID))
            for (line, order) in zip(page.lines, placed) {
                #expect(line.marketplace == .amazon && line.lineID == order.lineID && line.sku == order.sku)
                #expect(line.quantity == order.quantity && line.open)
                #expect(line.placedAt == order.placedAtMilliseconds / 1000 * 1000)
                #expect(line.itemPrice == Money(micros: order.itemTotalMicros, currency: .usd))
                #expect(line.shippingPaid == Money(micros: order.shippingPaidMicros, currency: .usd))
                #expect(line.destination == Destination(postalCode: order.shipTo.postalCode, country: order.shipTo.country,
                                                        region: order.shipTo.region))
                #expect(line.deliverBy == order.deliverByMilliseconds / 1000 * 1000)
            }
            let newest = try #require(placed.map(\.placedAtMilliseconds).max()) / 1000 * 1000
            let cursor = try #require(page.cursor)
            #expect(Self.milliseconds(cursor) == newest - 300_000)
        }
    }

    @Test("the next call from the cursor returns the overlap again plus the new orders")
    func cursorOverlapAndNewOrders() async throws {
        try await AmazonHarness.with { h in
            let first = try Self.placeOrders(h, count: 2)
            let page = try await h.marketplace.orders(since: nil)
            #expect(page.lines.count == 2)
            let later = try h.state.placeOrder(.amazon, sku: first[0].sku, quantity: 1)
            let next = try await h.marketplace.orders(since: page.cursor)
            // Placed within the five-minute overlap, the first orders come back; callers apply each line once.
            #expect(next.lines.map(\.orderID) == first.map(\.orderID) + [later.orderID])
            let cursor = try #require(next.cursor)
            #expect(Self.milliseconds(cursor)! >= Self.milliseconds(page.cursor!)!)
        }
    }

    @Test("with no orders the cursor stays where it was")
    func cursorNeverMovesBack() async throws {
        try await AmazonHarness.with { h in
            let cursor = "2026-01-02T03:04:05Z"
            let page = try await h.marketplace.orders(since: cursor)
            #expect(page.lines.isEmpty)
            #expect(page.cursor == cursor)
        }
    }

    @Test("a cursor that is not a date is refused as malformed, before any call")
    func badCursor() async throws {
        try await AmazonHarness.with { h in
            let error = await caught { _ = try await h.marketplace.orders(since: "yesterday") }
            guard case .malformed? = error as? MarketplaceError else {
                Issue.record("expected .malformed, got \(String(describing: error))")
                return
            }
            #expect(h.state.requestCounts["amazon.orders"] == nil)
        }
    }

    static func milliseconds(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1000) }
    }
}
