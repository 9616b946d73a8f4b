import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Foundation
import Testing

@Suite("Shopify client: auth, faults and the call-limit bucket", .timeLimit(.minutes(1)))
struct ShopifyClientTests {
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
            #expect(h.statuses("products.list") == [401])
            let raw = try await h.raw(.get, "locations.json", token: wrong)
            #expect(raw.status == 401 && raw.header("X-Shopify-Shop-Api-Call-Limit") == nil)
        }
    }

    @Test("the sandbox answers a negative price with Shopify's 422 field errors and changes nothing")
    func negativePriceBody() async throws {
        try await ShopifyHarness.with(listings: 2) { h in
            let target = try #require(h.state.channelListings(.shopify).first)
            let response = try await h.raw(.put, "variants/\(target.listingID).json",
                                           body: #"{"variant":{"id":\#(target.listingID),"price":"-1.00"}}"#)
            #expect(response.status == 422)
            #expect(String(decoding: response.body, as: UTF8.self) == #"{"errors":{"price":["must be greater than or equal to 0"]}}"#)
            #expect(h.state.channelListing(.shopify, sku: target.sku) == target && h.state.updates.isEmpty)
        }
    }

    enum Call: String, Sendable { case products, orders, locations }

    struct FaultCase: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: SandboxFault
        var call: Call
        var expected: MarketplaceError?
        var retryable: Bool
        var testDescription: String { name }
    }

    static let faultCases: [FaultCase] = [
        FaultCase(name: "429 with Retry-After", fault: SandboxFault(route: .shopifyProducts, remaining: 1, status: 429, retryAfterSeconds: 3),
                  call: .products, expected: .rateLimited(retryAfter: .seconds(3)), retryable: true),
        FaultCase(name: "503", fault: SandboxFault(route: .shopifyOrders, remaining: 1, status: 503), call: .orders,
                  expected: .transient("Shopify orders.list answered HTTP 503: Internal Server Error"), retryable: true),
        FaultCase(name: "404 with a message", fault: SandboxFault(route: .shopifyLocations, remaining: 1, status: 404, message: "Not Found"),
                  call: .locations, expected: .permanent(status: 404, message: "Not Found"), retryable: false),
        FaultCase(name: "a cut-off body", fault: SandboxFault(route: .shopifyProducts, remaining: 1, malformed: true), call: .products,
                  expected: nil, retryable: false),
        FaultCase(name: "a redirect", fault: SandboxFault(route: .shopifyOrders, remaining: 1, redirectTo: "http://127.0.0.1:1/elsewhere"),
                  call: .orders, expected: .permanent(status: 302, message: "orders.list answered with a redirect, which is not followed"),
                  retryable: false),
    ]

    @Test("an injected fault becomes the matching MarketplaceError, without the token", arguments: faultCases)
    func faults(_ testCase: FaultCase) async throws {
        try await ShopifyHarness.with(listings: 5) { h in
            @Sendable func call() async throws {
                switch testCase.call {
                case .products: _ = try await h.client.products()
                case .orders: _ = try await h.client.orders(sinceID: nil)
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
                #expect(message.hasPrefix("products.list: the body is not the documented JSON"))
            }
            if case .transient = error.taskFailure { #expect(testCase.retryable) } else { #expect(!testCase.retryable) }
            #expect(!"\(error)".contains(ShopifyHarness.token))
            // The fault was used up: the next request succeeds.
            try await call()
        }
    }

    @Test("the sandbox's own bucket: 40 calls fit, the 41st is 429 with a fractional Retry-After, and it leaks 2 a second")
    func sandboxBucket() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_727_784_000))
        try await ShopifyHarness.with(listings: 2, clock: clock) { h in
            for n in 1...40 {
                let response = try await h.raw(.get, "locations.json")
                #expect(response.status == 200 && response.header("X-Shopify-Shop-Api-Call-Limit") == "\(n)/40")
            }
            let refused = try await h.raw(.get, "locations.json")
            #expect(refused.status == 429 && refused.header("Retry-After") == "0.5")
            #expect(refused.header("X-Shopify-Shop-Api-Call-Limit") == "40/40")
            #expect(ShopifyClient.apiMessage(refused).hasPrefix("Exceeded 2 calls per second for api client"))

            // A client that has not seen the bucket fill gets the 429 as a typed rate limit.
            let error = await caught { _ = try await h.client.locations() }
            #expect(error as? MarketplaceError == .rateLimited(retryAfter: TimeSpan(milliseconds: 500)))

            clock.advance(byMilliseconds: 500)
            let admitted = try await h.raw(.get, "locations.json")
            #expect(admitted.status == 200 && admitted.header("X-Shopify-Shop-Api-Call-Limit") == "40/40")
        }
    }

    @Test("the call-limit header makes the client wait for room instead of overflowing the bucket")
    func callLimitSlowsClient() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_727_784_000))
        try await ShopifyHarness.with(listings: 2, clock: clock) { h in
            for _ in 1...40 { _ = try await h.client.locations() }
            #expect(h.state.requestCounts["shopify.locations"] == 40)

            let waiting = Task { try await h.client.locations() }
            await clock.waitForSleepers(1)
            // Held back before sending, for the half second one call takes to leak.
            #expect(h.state.requestCounts["shopify.locations"] == 40)
            #expect(clock.nextWakeWallMilliseconds == clock.wallMilliseconds() + 500)
            clock.advance(byMilliseconds: 500)
            let locations = try await waiting.value
            #expect(locations.map(\.id) == [SandboxShopify.locationID])
            #expect(h.state.requestCounts["shopify.locations"] == 41)
            #expect(h.statuses("locations.list") == Array(repeating: 200, count: 41))
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
            #expect(h.statuses("inventory_levels.set").isEmpty && h.state.updates.isEmpty)
        }
    }

    @Test("Shopify's error bodies read as one line", arguments: [
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

    @Test("the next page is the page_info of the Link header's rel=\"next\" URL", arguments: [
        (#"<https://s.myshopify.com/admin/api/2024-10/products.json?limit=2&page_info=abc>; rel="next""#, "abc"),
        (#"<https://s/a.json?page_info=prev1&limit=2>; rel="previous", <https://s/a.json?limit=2&page_info=n%2B2>; rel="next""#, "n+2"),
        (#"<https://s/a.json?page_info=prev1&limit=2>; rel="previous""#, nil),
    ] as [(String, String?)])
    func linkHeader(_ header: String, _ expected: String?) throws {
        #expect(try ShopifyClient.nextPageInfo(linkHeader: header, operation: "x") == expected)
    }

    @Test("call-limit and Retry-After headers parse; odd values are ignored")
    func headerValues() {
        #expect(ShopifyCallLimit.parse("32/40")! == (32, 40))
        #expect(ShopifyCallLimit.parse("40") == nil && ShopifyCallLimit.parse("a/40") == nil && ShopifyCallLimit.parse("1/0") == nil)
        #expect(ShopifyClient.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "2.0"])) == .seconds(2))
        #expect(ShopifyClient.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "0.25"])) == TimeSpan(milliseconds: 250))
        #expect(ShopifyClient.retryAfter(HTTPResponse(status: 429, headers: ["Retry-After": "soon"])) == nil)
    }
}
