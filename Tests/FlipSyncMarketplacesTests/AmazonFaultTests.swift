import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("Amazon faults map to typed errors", .timeLimit(.minutes(1)))
struct AmazonFaultTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: SandboxFault
        var expected: MarketplaceError
        var retryable: Bool
        var testDescription: String { name }
    }

    // Each case runs after one successful getItemOffers call, so the operation's rate is the
    // sandbox's advertised 50 per second.
    static let cases: [Case] = [
        Case(name: "429 QuotaExceeded with Retry-After",
             fault: SandboxFault(route: .amazonOffers, remaining: 1, status: 429, retryAfterSeconds: 7),
             expected: .rateLimited(retryAfter: .seconds(7)), retryable: true),
        Case(name: "429 QuotaExceeded without Retry-After waits one request's worth of the rate",
             fault: SandboxFault(route: .amazonOffers, remaining: 1, status: 429),
             expected: .rateLimited(retryAfter: TimeSpan(milliseconds: 20)), retryable: true),
        Case(name: "500", fault: SandboxFault(route: .amazonOffers, remaining: 1, status: 500),
             expected: .transient("Amazon pricing.getItemOffers answered HTTP 500: Amazon error InternalFailure: We encountered an internal error. Please try again."),
             retryable: true),
        Case(name: "503 with a message", fault: SandboxFault(route: .amazonOffers, remaining: 1, status: 503, message: "Service unavailable."),
             expected: .transient("Amazon pricing.getItemOffers answered HTTP 503: Amazon error InternalFailure: Service unavailable."),
             retryable: true),
        Case(name: "malformed body", fault: SandboxFault(route: .amazonOffers, remaining: 1, malformed: true),
             expected: .malformed("pricing.getItemOffers: the body is not the documented JSON (not valid JSON at top level)"),
             retryable: false),
        Case(name: "400 with an SP-API error body",
             fault: SandboxFault(route: .amazonOffers, remaining: 1, status: 400, message: "Invalid ASIN."),
             expected: .permanent(status: 400, message: "Amazon error InvalidInput: Invalid ASIN."), retryable: false),
        Case(name: "redirect", fault: SandboxFault(route: .amazonOffers, remaining: 1, redirectTo: "http://127.0.0.1:1/elsewhere"),
             expected: .permanent(status: 302, message: "pricing.getItemOffers answered with a redirect, which is not followed"),
             retryable: false),
    ]

    @Test("a fault on getItemOffers becomes the matching MarketplaceError, which shows no secret", arguments: cases)
    func offersFault(_ testCase: Case) async throws {
        try await AmazonHarness.with { h in
            let asin = try #require(h.stockedNewListings().first).listingID
            _ = try await h.client.itemOffers(asin: asin)
            h.state.inject(testCase.fault)
            let error = try #require(await caught { _ = try await h.client.itemOffers(asin: asin) })
            #expect(error as? MarketplaceError == testCase.expected)
            #expect(AmazonHarness.showsNoSecret(error))
            let failure = try #require(error as? MarketplaceError).taskFailure
            if case .transient(_, let retryAfter) = failure {
                #expect(testCase.retryable)
                if case .rateLimited(let expected) = testCase.expected { #expect(retryAfter == expected) }
            } else {
                #expect(!testCase.retryable)
            }
            // The fault was used up: the next request succeeds.
            _ = try await h.client.itemOffers(asin: asin)
        }
    }

    @Test("faults on the token endpoint: 5xx is transient, 429 rate limited, a cut-off body malformed; none shows a secret")
    func tokenFaults() async throws {
        let cases: [(SandboxFault, @Sendable (MarketplaceError) -> Bool)] = [
            (SandboxFault(route: .amazonToken, remaining: 1, status: 503), { if case .transient = $0 { true } else { false } }),
            (SandboxFault(route: .amazonToken, remaining: 1, status: 429, retryAfterSeconds: 3), { $0 == .rateLimited(retryAfter: .seconds(3)) }),
            (SandboxFault(route: .amazonToken, remaining: 1, malformed: true), { if case .malformed = $0 { true } else { false } }),
        ]
        try await AmazonHarness.with { h in
            for (fault, matches) in cases {
                h.state.inject(fault)
                let error = try #require(await caught { _ = try await h.client.listings() })
                let typed = try #require(error as? MarketplaceError)
                #expect(matches(typed), "\(fault.route) \(fault.status.map(String.init) ?? "malformed"): got \(typed)")
                #expect(AmazonHarness.showsNoSecret(error))
            }
            // A failed token request is not cached: the next call gets a token and succeeds.
            _ = try await h.client.listings()
            #expect(h.state.tokensIssued == ["amazon": 1])
        }
    }

    @Test("faults on orders, order items, listings and patch map the same way",
          arguments: [SandboxRoute.amazonOrders, .amazonOrderItems, .amazonListings, .amazonPatch])
    func otherRoutes(_ route: SandboxRoute) async throws {
        try await AmazonHarness.with { h in
            let listing = try #require(h.state.channelListings(.amazon).first { $0.quantity > 0 })
            let order = try h.state.placeOrder(.amazon, sku: listing.sku, quantity: 1)
            h.state.inject(SandboxFault(route: route, remaining: 1, status: 500))
            let error = try #require(await caught {
                switch route {
                case .amazonOrders: _ = try await h.client.orders(createdAfter: 0)
                case .amazonOrderItems: _ = try await h.client.orderItems(orderID: order.orderID)
                case .amazonListings: _ = try await h.client.listings()
                default: _ = try await h.client.patchListing(sku: listing.sku, quantity: 3)
                }
            })
            guard case .transient(let message)? = error as? MarketplaceError else {
                Issue.record("expected .transient, got \(error)")
                return
            }
            #expect(message.contains("HTTP 500") && message.contains("InternalFailure"))
            #expect(h.state.updates.isEmpty)
        }
    }

    @Test("a 429 during apply is thrown, so the whole (idempotent) apply can be retried")
    func rateLimitDuringApply() async throws {
        try await AmazonHarness.with { h in
            let listings = Array(h.state.channelListings(.amazon).prefix(2))
            h.state.inject(SandboxFault(route: .amazonPatch, remaining: 1, status: 429, retryAfterSeconds: 1))
            let changes = listings.map { ListingChange(sku: $0.sku, listingID: $0.listingID, quantity: 5) }
            let error = await caught { _ = try await h.marketplace.apply(changes) }
            #expect(error as? MarketplaceError == .rateLimited(retryAfter: .seconds(1)))
            let results = try await h.marketplace.apply(changes)
            #expect(results.allSatisfy { $0.outcome == .applied })
            #expect(listings.allSatisfy { h.state.channelListing(.amazon, sku: $0.sku)?.quantity == 5 })
        }
    }

    @Test("a request slower than its timeout is a transient error, metered with no status")
    func timeout() async throws {
        try await AmazonHarness.with(timeout: .seconds(8)) { h in
            // The token first, so the only request that can time out is the delayed one.
            _ = try await h.client.listings()
            h.state.inject(SandboxFault(route: .amazonListings, remaining: 1, latencyMilliseconds: 60_000))
            let error = await caught { _ = try await h.client.listings() }
            guard case .transient(let message)? = error as? MarketplaceError else {
                Issue.record("expected .transient, got \(String(describing: error))")
                return
            }
            #expect(message.contains("no response"))
            #expect(h.recorder.recorded.contains { $0.operation == "listings.searchListingsItems" && $0.status == nil })
        }
    }
}
