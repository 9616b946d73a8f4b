import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncTestKit
import Foundation
import Testing

/// `--limits production` over real HTTP, on a manual clock shared with the sandbox.
@Suite("Sandbox production limits", .timeLimit(.minutes(2)))
struct SandboxLimitsTests {
    /// A sandbox with `limits` on `clock`, and raw HTTP to it.
    struct Raw: Sendable {
        let sandbox: SandboxServer
        let transport: URLSessionTransport

        static func with(_ limits: SandboxLimits, clock: ManualClock,
                         _ body: @Sendable (Raw) async throws -> Void) async throws {
            var configuration = SandboxConfiguration(port: 0, seed: 7, listings: 20)
            configuration.limits = limits
            let sandbox = try await SandboxServer.start(configuration, clock: clock, logger: Harness.quietLogger)
            do {
                try await body(Raw(sandbox: sandbox, transport: URLSessionTransport(allowList: HostAllowList(["127.0.0.1:\(sandbox.port)"]))))
                await sandbox.stop()
            } catch {
                await sandbox.stop()
                throw error
            }
        }

        func send(_ method: HTTPRequest.Method, _ path: String, headers: [(name: String, value: String)] = [],
                  body: String = "") async throws -> HTTPResponse {
            try await transport.send(HTTPRequest(method: method, url: sandbox.baseURL + path, headers: headers, body: Array(body.utf8)))
        }

        func json(_ response: HTTPResponse) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        }

        func amazonToken() async throws -> String {
            let c = sandbox.state.amazonCredentials
            let form = "grant_type=refresh_token&client_id=\(c.clientID)&client_secret=\(c.clientSecret)&refresh_token=\(c.refreshToken.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
            let response = try await send(.post, "/amazon/auth/o2/token",
                                          headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
            return try #require(json(response)["access_token"] as? String)
        }

        func itemOffers(token: String, asin: String) async throws -> HTTPResponse {
            try await send(.get, "/amazon/products/pricing/v0/items/\(asin)/offers?MarketplaceId=\(SandboxState.amazonMarketplaceID)&ItemCondition=New",
                           headers: [("x-amz-access-token", token)])
        }

        func ebayToken() async throws -> String {
            let c = sandbox.state.credentials
            let basic = Data("\(c.clientID):\(c.clientSecret)".utf8).base64EncodedString()
            let response = try await send(.post, "/ebay/identity/v1/oauth2/token",
                                          headers: [("Authorization", "Basic " + basic), ("Content-Type", "application/x-www-form-urlencoded")],
                                          body: "grant_type=client_credentials")
            return try #require(json(response)["access_token"] as? String)
        }

        func search(token: String) async throws -> HTTPResponse {
            try await send(.get, "/ebay/buy/browse/v1/item_summary/search?q=sandbox", headers: [("Authorization", "Bearer " + token)])
        }

        /// `GET /_admin/limits`' row for `route`.
        func limitRow(_ route: String) async throws -> [String: Any] {
            let rows = json(try await send(.get, "/_admin/limits"))["routes"] as? [[String: Any]] ?? []
            return try #require(rows.first { $0["route"] as? String == route })
        }

        var asin: String {
            get throws { try #require(sandbox.state.products.compactMap(\.asin).first) }
        }
    }

    @Test("getItemOffers at 0.5/s burst 1: the second call within 2 s is 429 QuotaExceeded with x-amzn-RateLimit-Limit; 2 s later it succeeds")
    func amazonRate() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        try await Raw.with(.production, clock: clock) { raw in
            let token = try await raw.amazonToken()
            let asin = try raw.asin
            let first = try await raw.itemOffers(token: token, asin: asin)
            #expect(first.status == 200)
            #expect(first.header("x-amzn-RateLimit-Limit") == "0.5")

            let second = try await raw.itemOffers(token: token, asin: asin)
            #expect(second.status == 429)
            #expect(second.header("x-amzn-RateLimit-Limit") == "0.5")
            let error = (raw.json(second)["errors"] as? [[String: Any]])?.first
            #expect(error?["code"] as? String == "QuotaExceeded")
            #expect(error?["message"] as? String == "You exceeded your quota for the requested resource.")

            clock.advance(byMilliseconds: 1_999)
            #expect(try await raw.itemOffers(token: token, asin: asin).status == 429)
            clock.advance(byMilliseconds: 1)
            let third = try await raw.itemOffers(token: token, asin: asin)
            #expect(third.status == 200)
            #expect(third.header("x-amzn-RateLimit-Limit") == "0.5")
            // Refused calls took nothing: one token back after 2 s more, not sooner.
            #expect(try await raw.itemOffers(token: token, asin: asin).status == 429)
            #expect(raw.sandbox.state.requestCounts["amazon.offers"] == 5)
        }
    }

    @Test("getOrders at 0.0167/s burst 20: 20 calls at once pass, the 21st is 429 with 0.0167; one token is back after 59.881 s")
    func amazonBurst() async throws {
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        try await Raw.with(.production, clock: clock) { raw in
            let token = try await raw.amazonToken()
            func orders() async throws -> HTTPResponse {
                try await raw.send(.get, "/amazon/orders/v0/orders?MarketplaceIds=\(SandboxState.amazonMarketplaceID)&CreatedAfter=2026-01-01T00:00:00Z",
                                   headers: [("x-amz-access-token", token)])
            }
            for _ in 0..<20 {
                let response = try await orders()
                #expect(response.status == 200)
                #expect(response.header("x-amzn-RateLimit-Limit") == "0.0167")
            }
            let refused = try await orders()
            #expect(refused.status == 429)
            #expect(refused.header("x-amzn-RateLimit-Limit") == "0.0167")
            let row = try await raw.limitRow("amazon.orders")
            #expect(row["burst"] as? Int == 20)
            #expect(row["tokens"] as? Double == 0)
            // 1 / 0.0167 s = 59.880… s.
            clock.advance(byMilliseconds: 59_879)
            #expect(try await orders().status == 429)
            clock.advance(byMilliseconds: 2)
            #expect(try await orders().status == 200)
            #expect(try await orders().status == 429)
        }
    }

    /// Each day's reset is local midnight in America/Los_Angeles: on a DST-change day the next
    /// reset is 23 (March) or 25 (November) hours after the previous one.
    @Test("eBay Browse's daily quota: past it 429 errorId 2001, reset at midnight Pacific, across DST changes",
          arguments: [
            // 2026-03-07 20:00 PST; midnight PST of the 8th is 08:00Z; midnight PDT of the 9th is 07:00Z (23 h later).
            (start: "2026-03-08T04:00:00Z", firstReset: "2026-03-08T08:00:00Z", secondReset: "2026-03-09T07:00:00Z", hours: 23),
            // 2026-10-31 21:00 PDT; midnight PDT of Nov 1 is 07:00Z; midnight PST of Nov 2 is 08:00Z (25 h later).
            (start: "2026-11-01T04:00:00Z", firstReset: "2026-11-01T07:00:00Z", secondReset: "2026-11-02T08:00:00Z", hours: 25),
          ])
    func ebayDailyQuota(start: String, firstReset: String, secondReset: String, hours: Int) async throws {
        #expect(SandboxLimits.production.routes[.search]?.dailyQuota == 5_000)
        var limits = SandboxLimits.production
        limits.routes[.search]?.dailyQuota = 5
        let startAt = try #require(Timestamp(parsing: start))
        let first = try #require(Timestamp(parsing: firstReset))
        let second = try #require(Timestamp(parsing: secondReset))
        #expect(second.secondsSinceEpoch - first.secondsSinceEpoch == Int64(hours) * 3600)
        let clock = ManualClock(startAt)
        try await Raw.with(limits, clock: clock) { raw in
            // Tokens live 2 hours, so one is fetched after each move of the clock (the token
            // endpoint has no quota in the table).
            var token = try await raw.ebayToken()
            for _ in 0..<5 { #expect(try await raw.search(token: token).status == 200) }
            let refused = try await raw.search(token: token)
            #expect(refused.status == 429)
            let error = (raw.json(refused)["errors"] as? [[String: Any]])?.first
            #expect(error?["errorId"] as? Int == 2001)
            #expect(error?["domain"] as? String == "ACCESS")
            #expect(error?["category"] as? String == "REQUEST")
            #expect(error?["message"] as? String == "Too many requests. The request limit has been reached for the resource.")
            var row = try await raw.limitRow("search")
            #expect(row["used"] as? Int == 5)
            #expect(row["remaining"] as? Int == 0)
            #expect(row["reset"] as? String == firstReset)

            clock.advance(to: Timestamp(secondsSinceEpoch: first.secondsSinceEpoch - 1))
            token = try await raw.ebayToken()
            #expect(try await raw.search(token: token).status == 429)
            clock.advance(to: first)
            for _ in 0..<5 { #expect(try await raw.search(token: token).status == 200) }
            #expect(try await raw.search(token: token).status == 429)
            row = try await raw.limitRow("search")
            #expect(row["reset"] as? String == secondReset)

            clock.advance(to: Timestamp(secondsSinceEpoch: second.secondsSinceEpoch - 1))
            token = try await raw.ebayToken()
            #expect(try await raw.search(token: token).status == 429)
            clock.advance(to: second)
            #expect(try await raw.search(token: token).status == 200)
            row = try await raw.limitRow("search")
            #expect(row["used"] as? Int == 1)
        }
    }

    @Test("eBay's OAuth quotas are per grant type: past client_credentials' quota it is 429 errorId 2001, refresh-token grants go on")
    func ebayTokenQuotas() async throws {
        #expect(SandboxLimits.production.routes[.ebayTokenClientCredentials]?.dailyQuota == 1_000)
        #expect(SandboxLimits.production.routes[.ebayTokenRefreshToken]?.dailyQuota == 50_000)
        var limits = SandboxLimits.production
        limits.routes[.ebayTokenClientCredentials]?.dailyQuota = 2
        let clock = ManualClock(try #require(Timestamp(parsing: "2026-06-01T12:00:00Z")))
        try await Raw.with(limits, clock: clock) { raw in
            let c = raw.sandbox.state.credentials
            let basic = "Basic " + Data("\(c.clientID):\(c.clientSecret)".utf8).base64EncodedString()
            func grant(_ body: String) async throws -> HTTPResponse {
                try await raw.send(.post, "/ebay/identity/v1/oauth2/token",
                                   headers: [("Authorization", basic), ("Content-Type", "application/x-www-form-urlencoded")], body: body)
            }
            #expect(try await grant("grant_type=client_credentials").status == 200)
            #expect(try await grant("grant_type=client_credentials").status == 200)
            let refused = try await grant("grant_type=client_credentials")
            #expect(refused.status == 429)
            #expect((raw.json(refused)["errors"] as? [[String: Any]])?.first?["errorId"] as? Int == 2001)
            #expect(try await grant("grant_type=refresh_token&refresh_token=\(c.refreshToken)").status == 200)
            let row = try await raw.limitRow("token.client_credentials")
            #expect(row["remaining"] as? Int == 0)
            // 2026-06-01 is PDT: the next midnight there is 07:00Z on the 2nd.
            #expect(row["reset"] as? String == "2026-06-02T07:00:00Z")
            clock.advance(to: try #require(Timestamp(parsing: "2026-06-02T07:00:00Z")))
            #expect(try await grant("grant_type=client_credentials").status == 200)
        }
    }

    @Test("the generous profile (the default) throttles neither Amazon nor eBay, and advertises the ×100 rates")
    func generous() async throws {
        #expect(SandboxConfiguration().limits == .generous)
        #expect(SandboxLimits(named: "production") == .production)
        #expect(SandboxLimits(named: "strict") == nil)
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        try await Raw.with(.generous, clock: clock) { raw in
            let amazon = try await raw.amazonToken()
            let asin = try raw.asin
            for _ in 0..<10 {
                let response = try await raw.itemOffers(token: amazon, asin: asin)
                #expect(response.status == 200)
                #expect(response.header("x-amzn-RateLimit-Limit") == "50")
            }
            let ebay = try await raw.ebayToken()
            for _ in 0..<10 { #expect(try await raw.search(token: ebay).status == 200) }
            let limits = raw.json(try await raw.send(.get, "/_admin/limits"))
            #expect(limits["profile"] as? String == "generous")
            #expect((limits["routes"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("the production table's Shopify cost bucket is the GraphQL Admin standard plan's 100 points/s")
    func shopifyProduction() async throws {
        #expect(SandboxLimits.production.shopifyRestoreRate == 100)
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        try await Raw.with(.production, clock: clock) { raw in
            let cost = raw.json(try await raw.send(.get, "/_admin/limits"))["shopifyCost"] as? [String: Any]
            #expect(cost?["restoreRate"] as? Double == 100)
            #expect(cost?["maximumAvailable"] as? Double == SandboxLimits.production.shopifyMaximumAvailable)
            #expect(raw.json(try await raw.send(.get, "/_admin/limits"))["profile"] as? String == "production")
        }
    }

    @Test("GET /_admin/listings pages with offset and limit: the pages together are the whole list, in order; a bad offset or limit is 400")
    func adminListingPages() async throws {
        try await Raw.with(.generous, clock: ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))) { raw in
            func skus(_ path: String) async throws -> [String] {
                let body = try await raw.send(.get, path).body
                return ((try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] ?? []).compactMap { $0["sku"] as? String }
            }
            let whole = try await skus("/_admin/listings")
            #expect(whole.count == 20)
            var paged: [String] = []
            for offset in stride(from: 0, to: 21, by: 7) { paged += try await skus("/_admin/listings?offset=\(offset)&limit=7") }
            #expect(paged == whole)
            #expect(try await skus("/_admin/listings?offset=40&limit=7").isEmpty)
            for bad in ["offset=-1&limit=5", "offset=0&limit=0", "offset=0&limit=10001", "offset=x"] {
                #expect(try await raw.send(.get, "/_admin/listings?\(bad)").status == 400, "\(bad)")
            }
        }
    }
}
