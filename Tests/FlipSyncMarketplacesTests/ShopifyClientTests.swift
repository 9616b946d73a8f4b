import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Foundation
import Testing

@Suite("Shopify client: auth, GraphQL errors, faults and the cost bucket", .timeLimit(.minutes(1)))
struct ShopifyClientTests {
    static let locationsQuery = "query { locations(first: 5) { nodes { id name isActive } pageInfo { hasNextPage endCursor } } }"

    @Test("a wrong access token is an auth error with Shopify's message, and the token is never shown")
    func wrongToken() async throws {
        let wrong = "shpat_WRONG-token-value"
        try await ShopifyHarness.with(token: wrong) { h in
            let error = await caught { _ = try await h.marketplace.activeListings() }
            guard case .auth(let message)? = error as? MarketplaceError else {
                Issue.record("expected .auth, got \(String(describing: error))")
                return
            }
            #expect(message.contains("HTTP 401") && message.contains("Invalid API key or access token"))
            #expect(!"\(error!)".contains(wrong) && !String(reflecting: error!).contains(wrong))
            #expect(h.statuses("locations") == [401])
            let raw = try await h.graphQL(Self.locationsQuery, token: wrong)
            #expect(raw.status == 401 && raw.body["extensions"] == nil)
        }
    }

    @Test("the sandbox parses each GraphQL body once: the fault middleware's parse (its route) is the handler's")
    func graphQLParsedOncePerRequest() async throws {
        try await ShopifyHarness.with(listings: 2) { h in
            #expect(h.state.shopifyGraphQLParseCount == 0)
            let ok = try await h.graphQL(Self.locationsQuery)
            #expect(ok.status == 200 && ok.body["errors"] == nil)
            #expect(h.state.requestCounts["shopify.locations"] == 1)
            #expect(h.state.shopifyGraphQLParseCount == 1)
            // A syntax error is still answered from the one parse, and counted as shopify.graphql.
            let bad = try await h.graphQL("query { locations(first: 5) { nodes { id }")
            #expect((bad.body["errors"] as? [[String: Any]])?.first.flatMap { ($0["extensions"] as? [String: Any])?["code"] as? String } == "syntaxError")
            #expect(h.state.requestCounts["shopify.graphql"] == 1)
            #expect(h.state.shopifyGraphQLParseCount == 2)
            // A faulted request is parsed for its route only (the handler never runs).
            h.state.inject(SandboxFault(route: .shopifyLocations, remaining: 1, status: 503))
            let faulted = try await h.graphQL(Self.locationsQuery)
            #expect(faulted.status == 503)
            #expect(h.state.shopifyGraphQLParseCount == 3)
            // Through the client, several pages: one parse per request.
            _ = try await h.marketplace.activeListings()
            let requests = h.state.requestCounts.filter { $0.key.hasPrefix("shopify.") && $0.key != "shopify.bulk_file" }.values.reduce(0, +)
            #expect(requests > 3)
            #expect(h.state.shopifyGraphQLParseCount == requests)
        }
    }

    @Test("an unknown field is Shopify's undefinedField error, before anything runs, and a typed error the client never retries")
    func unknownField() async throws {
        try await ShopifyHarness.with(listings: 2) { h in
            let raw = try await h.graphQL("query { productVariants(first: 1) { nodes { id flavour } } }")
            #expect(raw.status == 200 && raw.body["data"] == nil)
            let errors = try #require(raw.body["errors"] as? [[String: Any]])
            #expect(errors.count == 1 && errors[0]["message"] as? String == "Field 'flavour' doesn't exist on type 'ProductVariant'")
            let extensions = try #require(errors[0]["extensions"] as? [String: Any])
            #expect(extensions["code"] as? String == "undefinedField" && extensions["typeName"] as? String == "ProductVariant")
            let root = try await h.graphQL("mutation { productDelete(input: {id: \"gid://shopify/Product/1\"}) { deletedProductId } }")
            #expect((root.body["errors"] as? [[String: Any]])?.first?["message"] as? String == "Field 'productDelete' doesn't exist on type 'Mutation'")

            let error = await caught {
                _ = try await h.client.graphQL("productVariants", "query { productVariants(first: 1) { nodes { id flavour } } }", [:],
                                               as: ShopifyWire.VariantsData.self)
            }
            #expect(error as? MarketplaceError
                    == .permanent(status: 200, message: "Shopify productVariants: undefinedField: Field 'flavour' doesn't exist on type 'ProductVariant'"))
            if case .transient = (error as? MarketplaceError)?.taskFailure { Issue.record("an unknown field must not be retried") }
            #expect(h.statuses("productVariants") == [200])
            #expect(h.state.requestCounts["shopify.productVariants"] == 2)
        }
    }

    @Test("the sandbox answers a negative price with a per-variant user error and changes nothing")
    func negativePriceBody() async throws {
        try await ShopifyHarness.with(listings: 2) { h in
            let target = try #require(h.state.channelListings(.shopify).first)
            let response = try await h.graphQL(
                "mutation P($productId: ID!, $variants: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $productId, variants: $variants) { userErrors { field message code } } }",
                variables: #"{"productId":"gid://shopify/Product/\#(target.productID!)","variants":[{"id":"gid://shopify/ProductVariant/\#(target.listingID)","price":"-1.00"}]}"#)
            #expect(response.status == 200)
            let payload = try #require((response.body["data"] as? [String: Any])?["productVariantsBulkUpdate"] as? [String: Any])
            let errors = try #require(payload["userErrors"] as? [[String: Any]])
            #expect(errors.count == 1 && errors[0]["code"] as? String == "GREATER_THAN_OR_EQUAL_TO")
            #expect(errors[0]["field"] as? [String] == ["variants", "0", "price"])
            #expect(h.state.channelListing(.shopify, sku: target.sku) == target && h.state.updates.isEmpty)
        }
    }

    @Test("the sandbox refuses a stale compareQuantity with COMPARE_QUANTITY_STALE and writes nothing")
    func staleCompareInSandbox() async throws {
        try await ShopifyHarness.with(listings: 3) { h in
            let target = try #require(h.state.channelListings(.shopify).first)
            let mutation = "mutation S($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { field message code } } }"
            func input(compare: Int) -> String {
                #"{"input":{"name":"available","reason":"correction","quantities":[{"inventoryItemId":"gid://shopify/InventoryItem/\#(target.inventoryItemID!)","locationId":"gid://shopify/Location/\#(SandboxShopify.locationID)","quantity":\#(target.quantity + 5),"compareQuantity":\#(compare)}]}}"#
            }
            let stale = try await h.graphQL(mutation, variables: input(compare: target.quantity + 1))
            let errors = try #require(((stale.body["data"] as? [String: Any])?["inventorySetQuantities"] as? [String: Any])?["userErrors"] as? [[String: Any]])
            #expect(errors.map { $0["code"] as? String } == ["COMPARE_QUANTITY_STALE"])
            #expect(h.state.channelListing(.shopify, sku: target.sku)?.quantity == target.quantity && h.state.updates.isEmpty)
            let fresh = try await h.graphQL(mutation, variables: input(compare: target.quantity))
            #expect((((fresh.body["data"] as? [String: Any])?["inventorySetQuantities"] as? [String: Any])?["userErrors"] as? [Any])?.isEmpty == true)
            #expect(h.state.channelListing(.shopify, sku: target.sku)?.quantity == target.quantity + 5)
        }
    }

    enum Call: String, Sendable { case variants, orders, locations }

    struct FaultCase: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: SandboxFault
        var call: Call
        var expected: MarketplaceError?
        var retryable: Bool
        var testDescription: String { name }
    }

    static let faultCases: [FaultCase] = [
        FaultCase(name: "429 with Retry-After", fault: SandboxFault(route: .shopifyProductVariants, remaining: 1, status: 429, retryAfterSeconds: 3),
                  call: .variants, expected: .rateLimited(retryAfter: .seconds(3)), retryable: true),
        FaultCase(name: "503", fault: SandboxFault(route: .shopifyOrders, remaining: 1, status: 503), call: .orders,
                  expected: .transient("Shopify orders answered HTTP 503: Internal Server Error"), retryable: true),
        FaultCase(name: "404 with a message", fault: SandboxFault(route: .shopifyLocations, remaining: 1, status: 404, message: "Not Found"),
                  call: .locations, expected: .permanent(status: 404, message: "Not Found"), retryable: false),
        FaultCase(name: "a cut-off body", fault: SandboxFault(route: .shopifyProductVariants, remaining: 1, malformed: true), call: .variants,
                  expected: nil, retryable: false),
        FaultCase(name: "a redirect", fault: SandboxFault(route: .shopifyOrders, remaining: 1, redirectTo: "http://127.0.0.1:1/elsewhere"),
                  call: .orders, expected: .permanent(status: 302, message: "orders answered with a redirect, which is not followed"),
                  retryable: false),
    ]

    @Test("an injected fault becomes the matching MarketplaceError, without the token", arguments: faultCases)
    func faults(_ testCase: FaultCase) async throws {
        try await ShopifyHarness.with(listings: 5) { h in
            @Sendable func call() async throws {
                switch testCase.call {
                case .variants: _ = try await h.client.variants()
                case .orders: _ = try await h.client.orders(updatedAtMin: nil)
                case .locations: _ = try await h.client.locations()
                }
            }
            h.state.inject(testCase.fault)
            let error = try #require(await caught(call) as? MarketplaceError)
            if let expected = testCase.expected {
                #expect(error == expected)
            } else {
                guard case .malformed(let message) = error else {
                    Issue.record("expected .malformed, got \(error)")
                    return
                }
                #expect(message.hasPrefix("productVariants: the body is not the documented JSON"))
            }
            if case .transient = error.taskFailure { #expect(testCase.retryable) } else { #expect(!testCase.retryable) }
            #expect(!"\(error)".contains(ShopifyHarness.token))
            // The fault was used up: the next request succeeds.
            try await call()
        }
    }

    @Test("the sandbox's cost bucket: every answer reports it, and a query that does not fit is THROTTLED with HTTP 200")
    func sandboxBucket() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_727_784_000))
        try await ShopifyHarness.with(listings: 2, clock: clock) { h in
            h.state.setShopifyThrottle(maximumAvailable: 30, restoreRate: 2)
            // locations(first: 5) costs 2 + 5 × 1 = 7 points.
            for n in 1...4 {
                let response = try await h.graphQL(Self.locationsQuery)
                let cost = try #require((response.body["extensions"] as? [String: Any])?["cost"] as? [String: Any])
                let status = try #require(cost["throttleStatus"] as? [String: Any])
                #expect(response.status == 200 && cost["requestedQueryCost"] as? Int == 7 && cost["actualQueryCost"] as? Int == 7)
                #expect(status["currentlyAvailable"] as? Double == Double(30 - 7 * n) && status["maximumAvailable"] as? Double == 30)
            }
            let refused = try await h.graphQL(Self.locationsQuery)
            #expect(refused.status == 200 && refused.body["data"] == nil)
            let error = try #require((refused.body["errors"] as? [[String: Any]])?.first)
            #expect(error["message"] as? String == "Throttled" && (error["extensions"] as? [String: Any])?["code"] as? String == "THROTTLED")
            let cost = try #require((refused.body["extensions"] as? [String: Any])?["cost"] as? [String: Any])
            #expect(cost["actualQueryCost"] is NSNull && (cost["throttleStatus"] as? [String: Any])?["currentlyAvailable"] as? Double == 2)

            clock.advance(byMilliseconds: 2500)
            let admitted = try await h.graphQL(Self.locationsQuery)
            #expect(admitted.body["data"] != nil && admitted.body["errors"] == nil)
        }
    }

    @Test("THROTTLED is waited out on the clock and sent again; no error reaches the caller")
    func throttledIsRetried() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_727_784_000))
        try await ShopifyHarness.with(listings: 2, clock: clock) { h in
            h.state.setShopifyThrottle(maximumAvailable: 30, restoreRate: 2)
            _ = try await h.client.locations()  // the client now believes 23 points are left
            for _ in 1...3 { _ = try await h.graphQL(Self.locationsQuery) }  // another process drains it to 2
            let waiting = Task { try await h.client.locations() }
            await clock.waitForSleepers(1)
            // Throttled: it waits (7 − 2) / 2 s for the points it lacks, then sends again.
            #expect(h.state.requestCounts["shopify.locations"] == 5)
            #expect(clock.nextWakeWallMilliseconds == clock.wallMilliseconds() + 2500)
            clock.advance(byMilliseconds: 2500)
            let locations = try await waiting.value
            #expect(locations.map(\.id) == [SandboxShopify.locationID])
            #expect(h.state.requestCounts["shopify.locations"] == 6)
            #expect(h.statuses("locations") == [200, 200, 200])
        }
    }

    @Test("the reported throttle status makes the client wait for the points before sending")
    func costSlowsClient() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_727_784_000))
        try await ShopifyHarness.with(listings: 2, clock: clock) { h in
            h.state.setShopifyThrottle(maximumAvailable: 30, restoreRate: 2)
            for _ in 1...4 { _ = try await h.client.locations() }
            #expect(h.state.requestCounts["shopify.locations"] == 4)

            let waiting = Task { try await h.client.locations() }
            await clock.waitForSleepers(1)
            // Held back before sending, for the (7 − 2) / 2 s the missing points take to restore.
            #expect(h.state.requestCounts["shopify.locations"] == 4)
            #expect(clock.nextWakeWallMilliseconds == clock.wallMilliseconds() + 2500)
            clock.advance(byMilliseconds: 2500)
            let locations = try await waiting.value
            #expect(locations.map(\.id) == [SandboxShopify.locationID])
            #expect(h.state.requestCounts["shopify.locations"] == 5)
            #expect(h.statuses("locations") == Array(repeating: 200, count: 5))
        }
    }

    @Test("a negative quantity is refused before anything is sent")
    func negativeQuantity() async throws {
        try await ShopifyHarness.with(listings: 2) { h in
            let target = try #require(h.state.channelListings(.shopify).first)
            let results = try await h.marketplace.apply([ListingChange(sku: target.sku, listingID: target.listingID, quantity: -1)])
            guard case .failed(let message) = try #require(results.first).outcome else {
                Issue.record("expected a failure, got \(results)")
                return
            }
            #expect(message.hasPrefix("quantity: ") && message.hasSuffix("is negative"))
            #expect(h.statuses("inventorySetQuantities").isEmpty && h.state.updates.isEmpty)
        }
    }

    @Test("Shopify's error bodies of non-2xx answers read as one line", arguments: [
        (#"{"errors":"Not Found"}"#, "Not Found"),
        (#"{"errors":["Inventory item does not have inventory tracking enabled"]}"#, "Inventory item does not have inventory tracking enabled"),
        (#"{"errors":{"price":["must be greater than or equal to 0"],"base":["Variant is invalid"]}}"#,
         "Variant is invalid; price must be greater than or equal to 0"),
        (#"{"errors":{"available":"Required parameter missing or invalid"}}"#, "available Required parameter missing or invalid"),
        ("<html>", "HTTP 422 without a Shopify error body"),
    ])
    func errorBodies(_ body: String, _ expected: String) {
        #expect(ShopifyClient.apiMessage(HTTPResponse(status: 422, body: Array(body.utf8))) == expected)
    }

    @Test("Retry-After parses; a throttled query waits for exactly the points it lacks")
    func waits() {
        #expect(ShopifyClient.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "2.0"])) == .seconds(2))
        #expect(ShopifyClient.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "0.25"])) == TimeSpan(milliseconds: 250))
        #expect(ShopifyClient.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "soon"])) == nil)
        let status = ShopifyCostLimit.ThrottleStatus(maximumAvailable: 2000, currentlyAvailable: 52, restoreRate: 100)
        #expect(ShopifyCostLimit.throttledWait(requested: 702, status: status) == TimeSpan(milliseconds: 6500))
        // More than the whole bucket: wait for a full one, not forever.
        #expect(ShopifyCostLimit.throttledWait(requested: 5000, status: status) == TimeSpan(milliseconds: 19_480))
    }

    @Test("an order line with a quantity outside 0…1,000,000, or whose price × quantity does not fit in an amount, is a malformed answer, never a trap")
    func orderLineBounds() async throws {
        try await ShopifyHarness.with(listings: 1) { h in
            let order = try JSONDecoder().decode(ShopifyWire.Order.self, from: Data("""
                {"id": "gid://shopify/Order/7", "createdAt": "2026-12-01T10:00:00Z", "updatedAt": "2026-12-01T10:00:00Z",
                 "currencyCode": "USD", "lineItems": {"nodes": [], "pageInfo": {"hasNextPage": false}}}
                """.utf8))
            func line(quantity: Int, price: String) throws -> ShopifyWire.LineItem {
                try JSONDecoder().decode(ShopifyWire.LineItem.self, from: Data("""
                    {"id": "gid://shopify/LineItem/3", "sku": "A", "quantity": \(quantity),
                     "originalUnitPriceSet": {"shopMoney": {"amount": "\(price)", "currencyCode": "USD"}}}
                    """.utf8))
            }
            #expect(try h.client.order(order, lines: [try line(quantity: 2, price: "19.99")]).lineItems.map(\.quantity) == [2])
            #expect(try h.client.order(order, lines: [try line(quantity: 0, price: "19.99")]).lineItems.map(\.quantity) == [0])
            for (quantity, price, says) in [(-1, "19.99", "quantity -1 is outside 0…1000000"),
                                            (1_000_001, "19.99", "quantity 1000001 is outside 0…1000000"),
                                            (1_000_000, "999999999999.99", "does not fit in an amount")] {
                let error = #expect(throws: MarketplaceError.self) { try h.client.order(order, lines: [try line(quantity: quantity, price: price)]) }
                #expect("\(String(describing: error))".contains(says), "\(quantity) × \(price): \(String(describing: error))")
            }
        }
    }
}
