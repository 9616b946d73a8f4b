import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Testing

@Suite("eBay Fulfillment orders over HTTP", .timeLimit(.minutes(1)))
struct EbayOrdersTests {
    /// 2027-01-15T08:00:00Z.
    static let start = Timestamp(secondsSinceEpoch: 1_800_000_000)

    @Test("250 orders come back over two getOrders pages of 200, every line exact")
    func twoPagesExact() async throws {
        try await Harness.with(listings: 80) { h in
            let placed = try h.placeEbayOrders(250)
            let page = try await EbayMarketplace(client: h.client).orders(since: nil)

            #expect(h.sandbox.state.requestCounts["orders"] == 2)
            #expect(h.recorder.count(operation: "fulfillment.getOrders") == 2)
            #expect(page.lines.count == 250)
            #expect(page.lines == placed.map(OrderLine.init))
            let newest = try #require(placed.map(\.placedAtMilliseconds).max())
            #expect(page.cursor == EbayTimestamp.string(milliseconds: newest - 300_000))
        }
    }

    @Test("the cursor trails the newest order by five minutes: a later call returns the overlap and what is new, never older")
    func cursorSemantics() async throws {
        let clock = ManualClock(Self.start)
        try await Harness.with(sandboxClock: clock) { h in
            let marketplace = EbayMarketplace(client: h.client)
            let a = try h.placeEbayOrders(3)                      // 08:00
            clock.advance(bySeconds: 20 * 60)
            let b = try h.placeEbayOrders(2)                      // 08:20
            let first = try await marketplace.orders(since: nil)
            #expect(first.lines == (a + b).map(OrderLine.init))
            #expect(first.cursor == "2027-01-15T08:15:00.000Z")

            clock.advance(bySeconds: 20 * 60)
            let c = try h.placeEbayOrders(2)                      // 08:40
            let second = try await marketplace.orders(since: first.cursor)
            // b is within five minutes of the newest order the first call saw, so it comes again; a does not.
            #expect(second.lines == (b + c).map(OrderLine.init))
            #expect(second.cursor == "2027-01-15T08:35:00.000Z")

            let third = try await marketplace.orders(since: second.cursor)
            #expect(third.lines == c.map(OrderLine.init))
            #expect(third.cursor == second.cursor)
        }
    }

    @Test("with no orders since the cursor, the cursor stays where it was")
    func emptyKeepsCursor() async throws {
        try await Harness.with { h in
            let marketplace = EbayMarketplace(client: h.client)
            let none = try await marketplace.orders(since: nil)
            #expect(none.lines.isEmpty && none.cursor == nil)
            let kept = try await marketplace.orders(since: "2027-01-15T08:35:00.000Z")
            #expect(kept.lines.isEmpty && kept.cursor == "2027-01-15T08:35:00.000Z")
        }
    }

    @Test("the creation-date filter is inclusive to the millisecond and the page carries eBay's fields")
    func inclusiveFilter() async throws {
        let clock = ManualClock(Self.start)
        try await Harness.with(sandboxClock: clock) { h in
            let early = try h.placeEbayOrders(1)[0]
            clock.advance(byMilliseconds: 1)
            let late = try h.placeEbayOrders(1)[0]

            let both = try await h.client.orders(createdSince: early.placedAtMilliseconds)
            #expect(both.orders.map(\.orderID) == [early.orderID, late.orderID])
            #expect(both.total == 2 && both.offset == 0 && !both.hasNext)
            let only = try await h.client.orders(createdSince: late.placedAtMilliseconds)
            #expect(only.orders.map(\.orderID) == [late.orderID])

            let order = try #require(only.orders.first)
            #expect(order.creationDate == 1_800_000_000_001)
            #expect(order.fulfillmentStatus == "NOT_STARTED" && order.cancelState == "NONE_REQUESTED")
            #expect(order.deliveryCost == Money(micros: late.shippingPaidMicros, currency: .usd))
            #expect(order.shipTo == FulfillmentOrder.Address(postalCode: late.shipTo.postalCode, city: late.shipTo.city,
                                                            stateOrProvince: late.shipTo.region, countryCode: late.shipTo.country))
            #expect(order.maxEstimatedDeliveryDate == late.deliverByMilliseconds)
            #expect(order.lineItems == [FulfillmentOrder.LineItem(
                lineItemID: late.lineID, sku: late.sku, quantity: 1, lineItemCost: Money(micros: late.itemTotalMicros, currency: .usd),
                shippingCost: Money(micros: late.shippingPaidMicros, currency: .usd), fulfillmentStatus: "NOT_STARTED",
                maxEstimatedDeliveryDate: late.deliverByMilliseconds)])
        }
    }

    @Test("a cursor that is not a timestamp is refused before anything is sent")
    func badCursor() async throws {
        try await Harness.with { h in
            let error = await caught { _ = try await EbayMarketplace(client: h.client).orders(since: "yesterday") }
            guard case .refused? = error as? MarketplaceError else {
                Issue.record("expected .refused, got \(String(describing: error))")
                return
            }
            #expect(h.sandbox.state.requestCounts["orders"] == nil)
        }
    }

    struct FaultCase: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: SandboxFault
        var expected: MarketplaceError
        var testDescription: String { name }
    }

    static let faults: [FaultCase] = [
        FaultCase(name: "500", fault: SandboxFault(route: .orders, remaining: 1, status: 500),
                  expected: .transient("eBay fulfillment.getOrders answered HTTP 500: eBay error 2003: There was a problem with an eBay internal system or process.")),
        FaultCase(name: "429 with Retry-After", fault: SandboxFault(route: .orders, remaining: 1, status: 429, retryAfterSeconds: 7),
                  expected: .rateLimited(retryAfter: .seconds(7))),
        FaultCase(name: "malformed body", fault: SandboxFault(route: .orders, remaining: 1, malformed: true),
                  expected: .malformed("fulfillment.getOrders: the body is not the documented JSON (not valid JSON at top level)")),
        FaultCase(name: "403", fault: SandboxFault(route: .orders, remaining: 1, status: 403, errorId: 1100, message: "Access denied"),
                  expected: .auth("eBay refused fulfillment.getOrders (HTTP 403): eBay error 1100: Access denied")),
    ]

    @Test("a fault on getOrders becomes the matching MarketplaceError", arguments: faults)
    func ordersFault(_ testCase: FaultCase) async throws {
        try await Harness.with { h in
            _ = try h.placeEbayOrders(3)
            try await h.inject(testCase.fault)
            let error = await caught { _ = try await EbayMarketplace(client: h.client).orders(since: nil) }
            #expect(error as? MarketplaceError == testCase.expected)
            // Used up: the next call reads every order.
            #expect(try await EbayMarketplace(client: h.client).orders(since: nil).lines.count == 3)
        }
    }

    @Test("a user token that expires after use is renewed once and every order page is still read")
    func tokenExpiryWhilePaging() async throws {
        try await Harness.with { h in
            _ = try h.placeEbayOrders(450)
            _ = try await h.client.orders(createdSince: nil, limit: 1)
            try await h.inject(SandboxFault(route: .orders, remaining: 1, expireTokens: true))
            let page = try await EbayMarketplace(client: h.client).orders(since: nil)
            #expect(page.lines.count == 450)
            #expect(h.sandbox.state.tokensIssued == ["user": 2])
            // One warm-up call, three pages, and the first page's retry with the new token.
            #expect(h.sandbox.state.requestCounts["orders"] == 5)
        }
    }
}

@Suite("eBay order lines and timestamps", .timeLimit(.minutes(2)))
struct EbayOrderMappingTests {
    static func order(status: String?, cancel: String?, lineStatus: String?) -> FulfillmentOrder {
        FulfillmentOrder(orderID: "01-1", creationDate: 5, fulfillmentStatus: status, cancelState: cancel, deliveryCost: nil,
                         shipTo: .init(postalCode: nil, city: "Nowhere", stateOrProvince: nil, countryCode: "US"),
                         maxEstimatedDeliveryDate: 99,
                         lineItems: [.init(lineItemID: "L1", sku: nil, quantity: 2, lineItemCost: nil, shippingCost: nil,
                                           fulfillmentStatus: lineStatus, maxEstimatedDeliveryDate: nil)])
    }

    @Test("a line is open unless it is fulfilled or its order is cancelled", arguments: [
        ("NOT_STARTED", "NONE_REQUESTED", "NOT_STARTED", true),
        ("IN_PROGRESS", "NONE_REQUESTED", "NOT_STARTED", true),
        ("IN_PROGRESS", "NONE_REQUESTED", "FULFILLED", false),
        ("FULFILLED", "NONE_REQUESTED", nil, false),
        ("NOT_STARTED", nil, nil, true),
        ("NOT_STARTED", "IN_PROGRESS", "NOT_STARTED", true),
        ("NOT_STARTED", "CANCELED", "NOT_STARTED", false),
    ] as [(String?, String?, String?, Bool)])
    func openness(_ status: String?, _ cancel: String?, _ lineStatus: String?, _ open: Bool) {
        let lines = EbayMarketplace.lines(of: Self.order(status: status, cancel: cancel, lineStatus: lineStatus))
        #expect(lines.map(\.open) == [open])
    }

    @Test("missing parts stay missing: no postal code means no destination, the order's delivery date stands in")
    func missingParts() {
        let line = EbayMarketplace.lines(of: Self.order(status: nil, cancel: nil, lineStatus: nil))[0]
        #expect(line.destination == nil && line.sku == "" && line.itemPrice == nil && line.shippingPaid == nil)
        #expect(line.deliverBy == 99 && line.placedAt == 5 && line.quantity == 2)
    }

    @Test("eBay timestamps parse to the millisecond and print as eBay writes them", arguments: [
        ("2015-08-04T19:09:02.768Z", Int64(1_438_715_342_768)),
        ("2015-08-04T19:09:02Z", 1_438_715_342_000),
        ("2015-08-04T19:09:02.7Z", 1_438_715_342_700),
        ("2015-08-04T19:09:02.76891Z", 1_438_715_342_768),
        ("2015-08-04T21:09:02.768+02:00", 1_438_715_342_768),
        ("1969-12-31T23:59:59.999Z", -1),
    ])
    func timestamps(_ text: String, _ milliseconds: Int64) {
        #expect(EbayTimestamp.milliseconds(text) == milliseconds)
    }

    @Test("printing and parsing round-trip", arguments: [Int64(0), 1_438_715_342_768, 1_800_000_000_001, -1, -1_001])
    func roundTrip(_ milliseconds: Int64) {
        let text = EbayTimestamp.string(milliseconds: milliseconds)
        #expect(text.count == 24 && text.hasSuffix("Z"))
        #expect(EbayTimestamp.milliseconds(text) == milliseconds)
    }

    @Test("text that is not a timestamp is refused", arguments: ["yesterday", "2015-08-04T19:09:02.Z", "2015-13-04T19:09:02.000Z", ""])
    func notTimestamps(_ text: String) {
        #expect(EbayTimestamp.milliseconds(text) == nil)
    }
}
