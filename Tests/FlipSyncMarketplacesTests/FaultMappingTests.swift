import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import Testing

@Suite("Injected faults map to typed errors", .timeLimit(.minutes(1)))
struct FaultMappingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: SandboxFault
        var expected: MarketplaceError
        var retryable: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "429 with Retry-After", fault: SandboxFault(route: .search, remaining: 1, status: 429, retryAfterSeconds: 7),
             expected: .rateLimited(retryAfter: .seconds(7)), retryable: true),
        // eBay's call-limit error (2001) on a 429 means the day's quota is gone (QuotaTests); any
        // other 429 is a throttle, retried.
        Case(name: "429 without Retry-After, not the call-limit error", fault: SandboxFault(route: .search, remaining: 1, status: 429, errorId: 2002),
             expected: .rateLimited(retryAfter: nil), retryable: true),
        Case(name: "500", fault: SandboxFault(route: .search, remaining: 1, status: 500),
             expected: .transient("eBay browse.item_summary.search answered HTTP 500: eBay error 2003: There was a problem with an eBay internal system or process."),
             retryable: true),
        Case(name: "malformed body", fault: SandboxFault(route: .search, remaining: 1, malformed: true),
             expected: .malformed("browse.item_summary.search: the body is not the documented JSON (not valid JSON at top level)"),
             retryable: false),
        Case(name: "400 with an eBay error body", fault: SandboxFault(route: .search, remaining: 1, status: 400, errorId: 12345, message: "The gtin is not valid."),
             expected: .permanent(status: 400, message: "eBay error 12345: The gtin is not valid."), retryable: false),
    ]

    @Test("a fault on Browse search becomes the matching MarketplaceError", arguments: cases)
    func searchFault(_ testCase: Case) async throws {
        try await Harness.with { h in
            try await h.inject(testCase.fault)
            let error = await caught { _ = try await h.client.searchPage(BrowseQuery(.keywords("acme"))) }
            #expect(error as? MarketplaceError == testCase.expected)
            let failure = try #require(error as? MarketplaceError).taskFailure
            if case .transient(_, let retryAfter) = failure {
                #expect(testCase.retryable)
                if case .rateLimited(let expected) = testCase.expected { #expect(retryAfter == expected) }
            } else {
                #expect(!testCase.retryable)
            }
            // The fault was used up: the next request succeeds.
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))
        }
    }

    @Test("an expired token injected on a Sell call is refreshed and the call succeeds")
    func expiredTokenFault() async throws {
        try await Harness.with { h in
            _ = try await h.client.offers(sku: "FS-00001")
            try await h.inject(SandboxFault(route: .offers, remaining: 1, expireTokens: true))
            let offers = try await h.client.offers(sku: "FS-00001")
            #expect(offers.count == 1)
            #expect(h.sandbox.state.tokensIssued == ["user": 2])
        }
    }

    @Test("a bulk chunk failing as a whole stops the run and reports what is unconfirmed")
    func bulkChunkFailure() async throws {
        try await Harness.with(listings: 60) { h in
            let updates = h.sandbox.state.listings.prefix(60).map {
                PriceQuantityUpdate(sku: $0.sku, offers: [.init(offerID: $0.offerId, availableQuantity: 3)])
            }
            _ = try await h.client.offers(sku: "FS-00001")  // the first call gets the token
            try await h.inject(SandboxFault(route: .bulkUpdate, remaining: 1, status: 503))
            let outcome = try await h.client.bulkUpdatePriceQuantity(updates)
            guard case .transient? = outcome.failure else {
                Issue.record("expected a transient failure, got \(String(describing: outcome.failure))")
                return
            }
            #expect(outcome.calls == 1 && outcome.results.isEmpty && outcome.unconfirmed.count == 60)
            #expect(h.sandbox.state.updates.isEmpty)
        }
    }

    @Test("a request slower than its timeout is a transient error")
    func timeout() async throws {
        try await Harness.with(timeout: .seconds(8)) { h in
            // The token first, so the only request that can time out is the delayed search.
            _ = try await h.client.searchPage(BrowseQuery(.keywords("acme")))
            try await h.inject(SandboxFault(route: .search, remaining: 1, latencyMilliseconds: 60_000))
            let error = await caught { _ = try await h.client.searchPage(BrowseQuery(.keywords("acme"))) }
            guard case .transient(let message)? = error as? MarketplaceError else {
                Issue.record("expected .transient, got \(String(describing: error))")
                return
            }
            #expect(message.contains("no response") && message.contains("item_summary/search"), "\(message)")
        }
    }
}
