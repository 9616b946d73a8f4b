import FlipSyncCore
import Foundation
import Synchronization

extension SandboxRoute {
    /// eBay's token endpoint as the limits count it: by grant type (faults still use `token`).
    public static let ebayTokenClientCredentials = SandboxRoute("token.client_credentials")
    public static let ebayTokenRefreshToken = SandboxRoute("token.refresh_token")
}

/// One route's production limit: a token bucket (`rate` requests a second, at most `burst`
/// at once) and/or a daily quota shared by the routes of one `quotaGroup`, reset at midnight
/// America/Los_Angeles (eBay's day).
public struct SandboxLimit: Sendable, Hashable {
    /// Requests a second the bucket refills by; nil: no rate limit.
    public var rate: Double?
    /// The bucket's size (requests that may arrive at once).
    public var burst: Int
    /// Calls a Pacific day; nil: none.
    public var dailyQuota: Int?
    /// Routes with the same group share one daily quota (eBay's quotas are per API).
    public var quotaGroup: String?
    /// Where the numbers come from.
    public var source: String

    public init(rate: Double? = nil, burst: Int = 1, dailyQuota: Int? = nil, quotaGroup: String? = nil, source: String) {
        self.rate = rate
        self.burst = burst
        self.dailyQuota = dailyQuota
        self.quotaGroup = quotaGroup
        self.source = source
    }

    /// `x-amzn-RateLimit-Limit`'s value: the rate as Amazon writes it (`0.5`, `5`, `0.0167`).
    var rateHeader: String? {
        guard let rate else { return nil }
        return rate == rate.rounded() ? String(Int(rate)) : String(rate)
    }
}

/// How strict the sandbox is: `.generous` (nothing throttled; the Shopify cost bucket is ten
/// times Shopify's largest plan's, so no query waits: quick demos and tests, the default) or `.production` (each operation's real rate, burst and daily quota).
/// Tests may change one row (`limits.routes[.search]?.dailyQuota = 5`).
public struct SandboxLimits: Sendable, Hashable {
    public var name: String
    public var routes: [SandboxRoute: SandboxLimit]
    /// The Shopify GraphQL Admin API cost bucket: size and points restored a second.
    public var shopifyMaximumAvailable: Double
    public var shopifyRestoreRate: Double

    public init(name: String, routes: [SandboxRoute: SandboxLimit], shopifyMaximumAvailable: Double, shopifyRestoreRate: Double) {
        self.name = name
        self.routes = routes
        self.shopifyMaximumAvailable = shopifyMaximumAvailable
        self.shopifyRestoreRate = shopifyRestoreRate
    }

    /// `generous` or `production`; nil otherwise.
    public init?(named name: String) {
        switch name {
        case "generous": self = .generous
        case "production": self = .production
        default: return nil
        }
    }

    /// Nothing throttled: no route limits, and a Shopify cost bucket of 200,000 points restored at
    /// 100,000 a second, so no query FlipSync sends ever waits (the Shopify client still follows
    /// the bucket it reports). Tests of throttling shrink the bucket (`setShopifyThrottle`) or use
    /// `.production` (Shopify's Standard plan: 2,000 / 100).
    public static let generous = SandboxLimits(name: "generous", routes: [:],
                                               shopifyMaximumAvailable: 200_000, shopifyRestoreRate: 100_000)

    static let spapi = "github.com/amzn/selling-partner-api-models@34dc93fe"
    static let spapiFeeds = spapi + " feeds_2021-06-30.json"
    static let ebayBuyLimits = "developer.ebay.com/develop/api/buy/api_call_limits"
    static let ebaySellLimits = "developer.ebay.com/develop/api/sell/api_call_limits"
    static let ebayOAuthLimits = "developer.ebay.com/api-docs/static/oauth-rate-limits.html"

    /// The real limits, one row a route, each with its source.
    public static let production = SandboxLimits(
        name: "production",
        routes: [
            // Amazon SP-API: each operation's "Usage Plan" table (Rate (requests per second) | Burst).
            // models/product-pricing-api-model/productPricingV0.json, getItemOffers: 0.5 | 1
            .amazonOffers: SandboxLimit(rate: 0.5, burst: 1, source: spapi + " productPricingV0.json getItemOffers"),
            // productPricingV0.json getListingOffersBatch: 0.5 | 1
            .amazonListingOffersBatch: SandboxLimit(rate: 0.5, burst: 1, source: spapi + " productPricingV0.json getListingOffersBatch"),
            // models/listings-items-api-model/listingsItems_2021-08-01.json, searchListingsItems: 5 | 5
            .amazonListings: SandboxLimit(rate: 5, burst: 5, source: spapi + " listingsItems_2021-08-01.json searchListingsItems"),
            // listingsItems_2021-08-01.json, patchListingsItem: 5 | 5
            .amazonPatch: SandboxLimit(rate: 5, burst: 5, source: spapi + " listingsItems_2021-08-01.json patchListingsItem"),
            // models/orders-api-model/ordersV0.json, getOrders: 0.0167 | 20
            .amazonOrders: SandboxLimit(rate: 0.0167, burst: 20, source: spapi + " ordersV0.json getOrders"),
            // ordersV0.json, getOrderItems: 0.5 | 30
            .amazonOrderItems: SandboxLimit(rate: 0.5, burst: 30, source: spapi + " ordersV0.json getOrderItems"),
            // models/feeds-api-model/feeds_2021-06-30.json, createFeedDocument: 0.5 | 15
            .amazonCreateFeedDocument: SandboxLimit(rate: 0.5, burst: 15, source: spapiFeeds + " createFeedDocument"),
            // feeds_2021-06-30.json, createFeed: 0.0083 | 15 (the model says JSON_LISTINGS_FEED's own
            // limit may differ; the table's is the one encoded)
            .amazonCreateFeed: SandboxLimit(rate: 0.0083, burst: 15, source: spapiFeeds + " createFeed"),
            // feeds_2021-06-30.json, getFeed: 2 | 15
            .amazonGetFeed: SandboxLimit(rate: 2, burst: 15, source: spapiFeeds + " getFeed"),
            // feeds_2021-06-30.json, getFeeds: 0.0222 | 10
            .amazonGetFeeds: SandboxLimit(rate: 0.0222, burst: 10, source: spapiFeeds + " getFeeds"),
            // feeds_2021-06-30.json, getFeedDocument: 0.0222 | 10
            .amazonGetFeedDocument: SandboxLimit(rate: 0.0222, burst: 10, source: spapiFeeds + " getFeedDocument"),
            // eBay, default call limits a day (midnight to midnight Pacific).
            // Buy: "Browse API: All methods except getItems: 5000 API calls per day".
            .search: SandboxLimit(dailyQuota: 5_000, quotaGroup: "ebay.browse", source: ebayBuyLimits),
            // Buy: "Browse API: getItems: 5000 API calls per day", its own quota.
            .getItems: SandboxLimit(dailyQuota: 5_000, quotaGroup: "ebay.browse_get_items", source: ebayBuyLimits),
            // Sell: "Account API: 25,000 API calls per day".
            .ebayFulfillmentPolicy: SandboxLimit(dailyQuota: 25_000, quotaGroup: "ebay.account", source: ebaySellLimits),
            // Sell: "Inventory API: 2,000,000 API calls per day" (getOffers, getInventoryItems and
            // bulkUpdatePriceQuantity share it) and "Fulfillment API: 100,000 API calls per day"
            // (2,500,000 after the Application Growth Check). eBay publishes daily limits only, no
            // per-second rate, for both. The copy of ebaySellLimits available here stops after the
            // Analytics API row; these two rows are as that page's table is reproduced in several
            // public repositories' notes on eBay's default limits (read 2026-12-02), which agree.
            .offers: SandboxLimit(dailyQuota: 2_000_000, quotaGroup: "ebay.inventory", source: ebaySellLimits + " (Inventory API row, as reproduced)"),
            .inventoryItems: SandboxLimit(dailyQuota: 2_000_000, quotaGroup: "ebay.inventory", source: ebaySellLimits + " (Inventory API row, as reproduced)"),
            .bulkUpdate: SandboxLimit(dailyQuota: 2_000_000, quotaGroup: "ebay.inventory", source: ebaySellLimits + " (Inventory API row, as reproduced)"),
            .orders: SandboxLimit(dailyQuota: 100_000, quotaGroup: "ebay.fulfillment", source: ebaySellLimits + " (Fulfillment API row, as reproduced)"),
            // OAuth token endpoint, per grant type (the `token` route counts under
            // `token.<grant_type>`): developer.ebay.com/api-docs/static/oauth-rate-limits.html,
            // "Client credentials grant … 1,000 requests/day", "Refresh token grant … 50,000 requests/day".
            .ebayTokenClientCredentials: SandboxLimit(dailyQuota: 1_000, source: ebayOAuthLimits),
            .ebayTokenRefreshToken: SandboxLimit(dailyQuota: 50_000, source: ebayOAuthLimits),
        ],
        // shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits: Standard plan 100 points/second.
        // The bucket's size is not in that table; 2,000 is the size the sandbox already serves.
        shopifyMaximumAvailable: 2_000, shopifyRestoreRate: 100)
}

/// How many requests one limit row refused: over its rate (bucket empty) or over its daily quota.
public struct SandboxLimitRefusals: Sendable, Hashable {
    public var rate = 0
    public var daily = 0
    public var total: Int { rate + daily }
}

extension SandboxState {
    /// The 429s the production limits answered so far (not injected faults), by limit row.
    public var limitRefusals: [SandboxRoute: SandboxLimitRefusals] { limiter.refusals }
}

/// Enforces `SandboxLimits` on the sandbox's clock: token buckets on its monotonic time, daily
/// quotas by the Pacific day of its wall time (`LocalPeriods` over `ZoneRules`).
final class SandboxLimiter: Sendable {
    enum Refusal: Equatable {
        /// The bucket is empty; `retryAfterMilliseconds` until one token is back.
        case rate(limit: String?, retryAfterMilliseconds: Int64)
        /// The day's quota is used; it resets at `resetMilliseconds` (wall).
        case daily(resetMilliseconds: Int64)
    }

    private struct Bucket { var tokens: Double; var last: Int64 }
    private struct Day { var used: Int; var day: Range<Int64> }
    private struct State {
        var buckets: [SandboxRoute: Bucket] = [:]
        var days: [String: Day] = [:]
        var refusals: [SandboxRoute: SandboxLimitRefusals] = [:]
    }

    let limits: SandboxLimits
    private let clock: any SchedulerClock
    /// America/Los_Angeles; UTC if the zone database lacks it.
    let pacific: LocalPeriods
    private let state = Mutex(State())

    init(limits: SandboxLimits, clock: any SchedulerClock) {
        self.limits = limits
        self.clock = clock
        pacific = LocalPeriods(zone: (try? ZoneRules.named("America/Los_Angeles")) ?? .utc)
    }

    private func group(_ route: SandboxRoute, _ limit: SandboxLimit) -> String { limit.quotaGroup ?? route.rawValue }

    /// Takes one call from `route`'s quota and bucket; the refusal when either is empty
    /// (nothing is taken from either then).
    func admit(_ route: SandboxRoute) -> Refusal? {
        guard let limit = limits.routes[route] else { return nil }
        let monotonic = clock.monotonicMilliseconds()
        let wall = clock.wallMilliseconds()
        let pacific = pacific
        return state.withLock { s -> Refusal? in
            let key = group(route, limit)
            var day = s.days[key] ?? Day(used: 0, day: pacific.day(containing: wall))
            if !day.day.contains(wall) { day = Day(used: 0, day: pacific.day(containing: wall)) }
            if let quota = limit.dailyQuota, day.used >= quota {
                s.days[key] = day
                s.refusals[route, default: SandboxLimitRefusals()].daily += 1
                return .daily(resetMilliseconds: day.day.upperBound)
            }
            if let rate = limit.rate {
                var bucket = s.buckets[route] ?? Bucket(tokens: Double(limit.burst), last: monotonic)
                bucket.tokens = min(Double(limit.burst), bucket.tokens + Double(monotonic - bucket.last) / 1000 * rate)
                bucket.last = monotonic
                guard bucket.tokens >= 1 else {
                    s.buckets[route] = bucket
                    s.refusals[route, default: SandboxLimitRefusals()].rate += 1
                    let wait = Int64(((1 - bucket.tokens) / rate * 1000).rounded(.up))
                    return .rate(limit: limit.rateHeader, retryAfterMilliseconds: wait)
                }
                bucket.tokens -= 1
                s.buckets[route] = bucket
            }
            if limit.dailyQuota != nil { day.used += 1 }
            s.days[key] = day
            return nil
        }
    }

    /// The 429s answered so far by the limits, by the table row that refused them.
    var refusals: [SandboxRoute: SandboxLimitRefusals] { state.withLock { $0.refusals } }

    /// `x-amzn-RateLimit-Limit` for `route` under these limits; nil when it has no rate here.
    func rateHeader(_ route: SandboxRoute) -> String? { limits.routes[route]?.rateHeader }

    /// Each limited route: its limit, and now's used/remaining/reset (`GET /_admin/limits`).
    func report() -> [[String: Any]] {
        let monotonic = clock.monotonicMilliseconds()
        let wall = clock.wallMilliseconds()
        let today = pacific.day(containing: wall)
        return state.withLock { s in
            limits.routes.sorted { $0.key.rawValue < $1.key.rawValue }.map { route, limit -> [String: Any] in
                var row: [String: Any] = ["route": route.rawValue, "burst": limit.burst, "source": limit.source]
                if let rate = limit.rate {
                    let bucket = s.buckets[route] ?? Bucket(tokens: Double(limit.burst), last: monotonic)
                    let tokens = min(Double(limit.burst), bucket.tokens + Double(monotonic - bucket.last) / 1000 * rate)
                    row["rate"] = rate
                    row["tokens"] = (tokens * 1000).rounded(.down) / 1000
                }
                if let quota = limit.dailyQuota {
                    let key = group(route, limit)
                    let used = s.days[key].map { $0.day == today ? $0.used : 0 } ?? 0
                    row["quotaGroup"] = key
                    row["dailyQuota"] = quota
                    row["used"] = used
                    row["remaining"] = max(0, quota - used)
                    row["reset"] = Timestamp(secondsSinceEpoch: today.upperBound / 1000).iso8601UTC
                }
                return row
            }
        }
    }
}
