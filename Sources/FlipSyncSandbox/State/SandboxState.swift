import FlipSyncCore
import Foundation
import Synchronization

/// The credentials the sandbox accepts at its token endpoint.
public struct SandboxCredentials: Sendable, Hashable {
    public var clientID: String
    public var clientSecret: String
    public var refreshToken: String

    public init(clientID: String, clientSecret: String, refreshToken: String) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
    }

    /// What `flipsync-sandbox` accepts when run standalone (development only; not secrets).
    public static let development = SandboxCredentials(clientID: "sandbox-client", clientSecret: "sandbox-secret",
                                                       refreshToken: "sandbox-refresh-token")
    /// The same, for Amazon's LWA token endpoint.
    public static let amazonDevelopment = SandboxCredentials(clientID: "amzn1.application-oa2-client.sandbox",
                                                             clientSecret: "sandbox-lwa-secret",
                                                             refreshToken: "Atzr|sandbox-refresh-token")

    /// The credentials named in `config/flipsync.toml` (`ebay-client-id`, `ebay-client-secret`,
    /// `ebay-refresh-token`), read from a credentials directory so the daemon and the sandbox
    /// agree. A trailing newline in a file is ignored. Nil if any file is missing or empty.
    public init?(directory: String, names: (clientID: String, clientSecret: String, refreshToken: String) =
                    ("ebay-client-id", "ebay-client-secret", "ebay-refresh-token")) {
        func read(_ name: String) -> String? {
            guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { return nil }
            let value = text.hasSuffix("\n") ? String(text.dropLast()) : text
            return value.isEmpty ? nil : value
        }
        guard let id = read(names.clientID), let secret = read(names.clientSecret), let refresh = read(names.refreshToken) else {
            return nil
        }
        self.init(clientID: id, clientSecret: secret, refreshToken: refresh)
    }
}

/// The routes faults can be injected into, by name (`"token"`, `"amazon.offers"`, …). Each
/// API's routes file declares its own in an extension; `SandboxRoute.all` lists them for the
/// admin endpoint's validation.
public struct SandboxRoute: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// eBay's routes.
extension SandboxRoute {
    public static let token = SandboxRoute("token")
    public static let search = SandboxRoute("search")
    /// Browse `getItems` (`GET /buy/browse/v1/item/?item_ids=…`).
    public static let getItems = SandboxRoute("get_items")
    public static let offers = SandboxRoute("offers")
    public static let inventoryItems = SandboxRoute("inventory_items")
    public static let bulkUpdate = SandboxRoute("bulk_update")
}

/// A fault applied to the next `remaining` requests of one route (all of them if nil). With
/// `percent`, each request of the route draws whether the fault applies to it, with that
/// probability, from the sandbox's seeded generator (a run with the same seed and the same
/// requests draws the same); a request it misses is not faulted by it and does not use up
/// `remaining`. The first of a route's faults that applies is the one used. `kind` is a free
/// label: the sandbox counts the faults it applied by route and by kind (`faultsApplied`).
///
/// Applied by `SandboxFaultMiddleware`, in this order: `latencyMilliseconds`, then `expireTokens`
/// (eBay's and Amazon's issued tokens expire, so the request fails authentication; Shopify answers
/// 401), then `status` (in the provider's error shape; 429 carries `Retry-After: retryAfterSeconds`;
/// `errorId` is eBay's), then `redirectTo` (a 302 to that URL), then `malformed` (a 2xx answer's
/// body cut off).
public struct SandboxFault: Sendable, Hashable, Codable {
    public var route: SandboxRoute
    public var remaining: Int?
    public var latencyMilliseconds: Int?
    public var expireTokens: Bool?
    public var status: Int?
    public var retryAfterSeconds: Int?
    public var errorId: Int?
    public var message: String?
    public var redirectTo: String?
    public var malformed: Bool?
    public var percent: Int?
    public var kind: String?
    /// Amazon's routes: `x-amzn-RateLimit-Limit` on the error (the production limiter sets it).
    public var rateLimitLimit: String?

    public init(route: SandboxRoute, remaining: Int? = nil, latencyMilliseconds: Int? = nil, expireTokens: Bool? = nil,
                status: Int? = nil, retryAfterSeconds: Int? = nil, errorId: Int? = nil, message: String? = nil,
                redirectTo: String? = nil, malformed: Bool? = nil, percent: Int? = nil, kind: String? = nil,
                rateLimitLimit: String? = nil) {
        self.percent = percent
        self.kind = kind
        self.rateLimitLimit = rateLimitLimit
        self.redirectTo = redirectTo
        self.route = route
        self.remaining = remaining
        self.latencyMilliseconds = latencyMilliseconds
        self.expireTokens = expireTokens
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.errorId = errorId
        self.message = message
        self.malformed = malformed
    }
}

/// One applied price/quantity change, in the order applied, on any channel.
public struct AppliedUpdate: Sendable, Hashable, Codable {
    public var sequence: Int
    public var marketplace: MarketplaceName
    public var sku: String
    public var offerId: String?
    public var oldPriceMicros: Int64
    public var newPriceMicros: Int64
    public var oldQuantity: Int
    public var newQuantity: Int
    public var atMilliseconds: Int64
    /// Whether the request set a price / a quantity (a field it carried, even one equal to
    /// what the listing had): a resent price shows as a price sent that changed nothing.
    public var priceSent: Bool
    public var quantitySent: Bool
}

/// Everything the sandbox knows, behind one lock. Reads return copies.
public final class SandboxState: Sendable {
    struct IssuedToken {
        /// eBay's grants, and Amazon LWA's access tokens.
        enum Kind: String { case application, user, amazon }
        var kind: Kind
        var expiresAt: Int64
    }

    struct Inner {
        var listings: [SandboxListing]
        var indexBySKU: [String: Int]
        var products: [String: SandboxProduct]
        /// Amazon's and Shopify's listings, by SKU (eBay's are `listings`). Any change drops the
        /// sorted copies `channelListings` keeps.
        var channels: [MarketplaceName: [String: SandboxChannelListing]] { didSet { sortedChannels = [:] } }
        /// Units on the shelf, by SKU: what every channel sells from.
        var stock: [String: Int]
        var orders: [SandboxOrder] = []
        var oversells: [SandboxOversell] = []
        var feed: OrderFeed
        /// Draws `percent` faults' dice.
        var faultRandom: SeededGenerator
        var tokens: [String: IssuedToken] = [:]
        var tokensIssued: [String: Int] = [:]
        var tokenCounter = 0
        var updates: [AppliedUpdate] = []
        var faults: [SandboxFault] = []
        /// Faults applied so far, by route and by kind.
        var faultsByRoute: [String: Int] = [:]
        var faultsByKind: [String: Int] = [:]
        var requests: [String: Int] = [:]
        var inFlight: [SandboxRoute: Int] = [:]
        var inFlightWaiters: [(route: SandboxRoute, continuation: CheckedContinuation<Void, Never>)] = []
        var updateWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var stopping = false
        /// Competitor listings ended (`endCompetitorItem`): no longer found by search or getItems.
        var endedItems: Set<String> = []
        /// Shopify's listings by variant id, by inventory item id, and a product's SKUs: the
        /// GraphQL routes look them up without scanning every listing.
        var shopifyIndex = ShopifyListingIndex()
        /// Shopify GraphQL queries answered `THROTTLED`.
        var shopifyThrottled = 0
        /// Shopify GraphQL request bodies parsed (`ShopifyGraphQLRequest`): one per request.
        var shopifyGraphQLParses = 0
        /// `channels[marketplace]` in SKU order, kept until any channel's listings change
        /// (`channelListings` is read per request: sorting 20,000 listings each time is not free).
        var sortedChannels: [MarketplaceName: [SandboxChannelListing]] = [:]
    }

    let inner: Mutex<Inner>
    /// Competitor offers never change once seeded, so they and their search index live outside the lock.
    let competitorIndex: CompetitorIndex
    /// Each competitor offer's index in `competitorIndex.offers`, by item id (getItems).
    let competitorByID: [String: Int]
    /// eBay's credentials.
    public let credentials: SandboxCredentials
    public let amazonCredentials: SandboxCredentials
    public let shopifyAccessToken: String
    /// The EasyPost key (`Basic base64("KEY:")`) and the OpenAI key (`Bearer KEY`) accepted.
    public let easyPostAPIKey: String
    public let openAIAPIKey: String
    /// The Shopify GraphQL Admin API's cost bucket (`SandboxShopify.maximumAvailable` points,
    /// `restoreRate` a second until `setShopifyThrottle` changes it).
    public let shopifyCost: ShopifyCostBucket
    /// The Shopify shop's bulk operations (`bulkOperationRunQuery`).
    public let shopifyBulk = ShopifyBulkStore()
    /// The Shopify shop's delivery profiles (`deliveryProfiles`), with the zones tests add.
    public let shopifyDelivery = ShopifyDeliveryStore()
    /// Amazon's Feeds API documents and feeds (`SandboxAmazonFeeds`).
    public let amazonFeeds = SandboxAmazonFeeds()
    public let tokenLifetime: TimeSpan
    let clock: any SchedulerClock
    /// The limits enforced (`SandboxLimits.generous` unless configured).
    let limiter: SandboxLimiter
    public var limits: SandboxLimits { limiter.limits }

    public init(catalog: SeededCatalog, credentials: SandboxCredentials, tokenLifetime: TimeSpan, clock: any SchedulerClock,
                ordersPerHour: Int = 0, seed: UInt64 = 1, amazonCredentials: SandboxCredentials = .amazonDevelopment,
                shopifyAccessToken: String = "sandbox-shopify-token",
                easyPostAPIKey: String = SandboxServer.easyPostAPIKey, openAIAPIKey: String = SandboxServer.openAIAPIKey,
                limits: SandboxLimits = .generous, amazonTenths: Int = 6) {
        limiter = SandboxLimiter(limits: limits, clock: clock)
        self.easyPostAPIKey = easyPostAPIKey
        self.openAIAPIKey = openAIAPIKey
        self.credentials = credentials
        self.amazonCredentials = amazonCredentials
        self.shopifyAccessToken = shopifyAccessToken
        shopifyCost = ShopifyCostBucket(maximumAvailable: limits.shopifyMaximumAvailable, restoreRate: limits.shopifyRestoreRate,
                                        clock: clock)
        self.tokenLifetime = tokenLifetime
        self.clock = clock
        let index = Dictionary(uniqueKeysWithValues: catalog.listings.enumerated().map { ($1.sku, $0) })
        let channels = SeededCatalog.channels(for: catalog.listings, seed: seed, amazonTenths: amazonTenths)
        competitorIndex = CompetitorIndex(catalog.competitors)
        competitorByID = Dictionary(catalog.competitors.enumerated().map { ($1.itemId, $0) }, uniquingKeysWith: { a, _ in a })
        inner = Mutex(Inner(
            listings: catalog.listings, indexBySKU: index,
            products: Dictionary(uniqueKeysWithValues: channels.products.map { ($0.sku, $0) }),
            channels: [.amazon: Dictionary(uniqueKeysWithValues: channels.amazon.map { ($0.sku, $0) }),
                       .shopify: Dictionary(uniqueKeysWithValues: channels.shopify.map { ($0.sku, $0) })],
            stock: Dictionary(uniqueKeysWithValues: channels.products.map { ($0.sku, $0.initialStock) }),
            feed: OrderFeed(seed: seed, ordersPerHour: ordersPerHour, startMilliseconds: clock.wallMilliseconds()),
            faultRandom: SeededGenerator(seed: seed ^ 0xFA17_FA17_FA17_FA17),
            shopifyIndex: ShopifyListingIndex(channels.shopify)))
    }

    // MARK: Inspection

    public var listings: [SandboxListing] { inner.withLock { $0.listings } }
    public var competitors: [SandboxCompetitorOffer] { competitorIndex.offers }
    /// Browse search's matches, in catalog order: the competitor offers with `gtin`, whose
    /// lower-cased title contains every one of `keywords` (lower-case, without spaces), and whose
    /// condition id is one of `conditionIDs` (nil: no constraint). Exactly what filtering
    /// `competitors` gives, without scanning them (see `CompetitorIndex`).
    public func searchCompetitors(gtin: String?, keywords: [String]?, conditionIDs: Set<Int>?) -> [SandboxCompetitorOffer] {
        let ended = inner.withLock { $0.endedItems }
        let found = competitorIndex.matches(gtin: gtin, keywords: keywords, conditionIDs: conditionIDs).map { competitorIndex.offers[Int($0)] }
        return ended.isEmpty ? found : found.filter { !ended.contains($0.itemId) }
    }
    /// The competitor listing with this item id, unless unknown or ended (Browse getItems).
    public func competitorItem(id: String) -> SandboxCompetitorOffer? {
        guard let index = competitorByID[id], !inner.withLock({ $0.endedItems.contains(id) }) else { return nil }
        return competitorIndex.offers[index]
    }
    /// Ends a competitor listing: search and getItems no longer return it.
    public func endCompetitorItem(_ id: String) { _ = inner.withLock { $0.endedItems.insert(id) } }
    /// The competitor offers with `gtin`, in catalog order.
    public func competitors(gtin: String) -> [SandboxCompetitorOffer] {
        searchCompetitors(gtin: gtin, keywords: nil, conditionIDs: nil)
    }
    /// `limit` of our listings from the `start`th, and how many there are: one page copied under
    /// the lock, not the whole array.
    func listingsPage(start: Int, limit: Int) -> (page: [SandboxListing], total: Int) {
        inner.withLock { s in (Array(s.listings.dropFirst(start).prefix(limit)), s.listings.count) }
    }
    public var updates: [AppliedUpdate] { inner.withLock { $0.updates } }
    /// Gives `sku` a new offer id (as eBay does when an offer is deleted and created again) and
    /// returns it; the old id is then answered 25713 by bulkUpdatePriceQuantity.
    @discardableResult
    public func replaceOffer(sku: String) -> String? {
        inner.withLock { s in
            guard let index = s.indexBySKU[sku] else { return nil }
            let fresh = String((Int64(s.listings[index].offerId) ?? 0) + 900_000_000_000)
            s.listings[index].offerId = fresh
            return fresh
        }
    }

    /// Adds `listing` at the end of the eBay catalog, as a seller listing an item while a sweep
    /// reads the inventory; a SKU already listed is left as it is.
    public func appendListing(_ listing: SandboxListing) {
        inner.withLock { s in
            guard s.indexBySKU[listing.sku] == nil else { return }
            s.indexBySKU[listing.sku] = s.listings.count
            s.listings.append(listing)
        }
    }

    public func listing(sku: String) -> SandboxListing? { inner.withLock { s in s.indexBySKU[sku].map { s.listings[$0] } } }
    /// Tokens issued so far, by grant (`application`, `user`).
    public var tokensIssued: [String: Int] { inner.withLock { $0.tokensIssued } }
    /// Requests received so far, by route (admin routes not counted).
    public var requestCounts: [String: Int] { inner.withLock { $0.requests } }
    /// Faults applied so far (requests answered with an injected fault), by route and by the
    /// faults' `kind` (those without one under `""`).
    public var faultsApplied: (byRoute: [String: Int], byKind: [String: Int]) {
        inner.withLock { ($0.faultsByRoute, $0.faultsByKind) }
    }

    // MARK: Tokens

    func issueToken(kind: IssuedToken.Kind) -> String {
        // A malformed fault replaces the answer: the token is never handed out, so none is issued.
        if SandboxFaultMiddleware.answerDiscarded { return "" }
        let now = clock.monotonicMilliseconds()
        return inner.withLock { s in
            s.tokenCounter += 1
            var rng = SeededGenerator(seed: UInt64(s.tokenCounter) &* 0x2545_F491_4F6C_DD1D ^ UInt64(bitPattern: now))
            let token = "v^1.1#i^1#sandbox#\(kind.rawValue)#\(s.tokenCounter)#\(String(rng.next(), radix: 36))\(String(rng.next(), radix: 36))"
            s.tokens[token] = IssuedToken(kind: kind, expiresAt: now + tokenLifetime.milliseconds)
            s.tokensIssued[kind.rawValue, default: 0] += 1
            return token
        }
    }

    enum TokenCheck { case valid(IssuedToken.Kind), missing, invalid, expired }

    func check(bearer: String?) -> TokenCheck {
        guard let bearer, bearer.hasPrefix("Bearer ") else { return .missing }
        let now = clock.monotonicMilliseconds()
        return inner.withLock { s in
            guard let token = s.tokens[String(bearer.dropFirst(7))] else { return .invalid }
            return token.expiresAt > now ? .valid(token.kind) : .expired
        }
    }

    /// Every token issued so far expires now (as if their lifetime had passed).
    public func expireAllTokens() {
        let now = clock.monotonicMilliseconds()
        inner.withLock { s in
            for key in s.tokens.keys { s.tokens[key]?.expiresAt = now }
        }
    }

    // MARK: Faults

    public func inject(_ fault: SandboxFault) { inner.withLock { $0.faults.append(fault) } }
    public func clearFaults() { inner.withLock { $0.faults.removeAll() } }

    /// Counts the request, then applies the limits (`SandboxLimiter`): a refused request is
    /// answered as a 429 fault would be (eBay: errorId 2001; Amazon: `QuotaExceeded` with
    /// `x-amzn-RateLimit-Limit`), and uses up no injected fault. Otherwise takes the first fault
    /// for `route` that applies to it (a `percent` fault draws whether it does), using up one of
    /// its `remaining`, and counts the fault applied. `SandboxFaultMiddleware` calls this for
    /// every faultable request, so it is the one place limits and faults apply. `limitAs` is the table row that counts the
    /// call when it is not `route`'s own (eBay's token endpoint: `token.client_credentials`,
    /// `token.refresh_token`).
    func begin(_ route: SandboxRoute, limitAs: SandboxRoute? = nil) -> SandboxFault? {
        inner.withLock { $0.requests[route.rawValue, default: 0] += 1 }
        if let refusal = limiter.admit(limitAs ?? route) {
            switch refusal {
            case .rate(let limit, _):
                return SandboxFault(route: route, status: 429, errorId: 2001, rateLimitLimit: limit)
            case .daily:
                return SandboxFault(route: route, status: 429, errorId: 2001, rateLimitLimit: limiter.rateHeader(route))
            }
        }
        return inner.withLock { s in
            for index in s.faults.indices where s.faults[index].route == route {
                let fault = s.faults[index]
                if let percent = fault.percent, Int.random(in: 0..<100, using: &s.faultRandom) >= percent { continue }
                if let remaining = fault.remaining {
                    if remaining <= 1 { s.faults.remove(at: index) } else { s.faults[index].remaining = remaining - 1 }
                }
                s.faultsByRoute[route.rawValue, default: 0] += 1
                s.faultsByKind[fault.kind ?? "", default: 0] += 1
                return fault
            }
            return nil
        }
    }

    /// Holds a request for `milliseconds`, counted as in flight; returns early when the server stops.
    func hold(_ route: SandboxRoute, milliseconds: Int) async {
        let waiters = inner.withLock { s in
            s.inFlight[route, default: 0] += 1
            let ready = s.inFlightWaiters.filter { $0.route == route }
            s.inFlightWaiters.removeAll { $0.route == route }
            return ready
        }
        for waiter in waiters { waiter.continuation.resume() }
        defer { inner.withLock { $0.inFlight[route, default: 1] -= 1 } }
        // Short slices so a stopping server is not held up by an injected delay.
        let deadline = clock.monotonicMilliseconds() + Int64(milliseconds)
        while clock.monotonicMilliseconds() < deadline, !inner.withLock({ $0.stopping }), !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(min(20, max(1, deadline - clock.monotonicMilliseconds()))))
        }
    }

    /// Requests to `route` being held by an injected latency right now (for tests that check
    /// which calls are in flight together).
    public func heldCount(_ route: SandboxRoute) -> Int { inner.withLock { $0.inFlight[route, default: 0] } }

    /// Returns once a request to `route` is being held by an injected latency (for tests that
    /// must act while a request is in flight, without sleeping).
    public func waitUntilHeld(_ route: SandboxRoute) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let already = inner.withLock { s in
                if s.inFlight[route, default: 0] > 0 { return true }
                s.inFlightWaiters.append((route, continuation))
                return false
            }
            if already { continuation.resume() }
        }
    }

    /// Returns once at least `count` updates have been applied in all (for tests that must know
    /// a request in flight has landed, without sleeping). Returns at once when the server stops.
    public func waitForUpdates(count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = inner.withLock { s in
                if s.updates.count >= count || s.stopping { return true }
                s.updateWaiters.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func releaseUpdateWaiters() {
        let ready = inner.withLock { s in
            let count = s.updates.count
            let ready = s.updateWaiters.filter { $0.count <= count || s.stopping }
            s.updateWaiters.removeAll { $0.count <= count || s.stopping }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    func markStopping() {
        let waiters = inner.withLock { s in
            s.stopping = true
            defer { s.inFlightWaiters.removeAll() }
            return s.inFlightWaiters
        }
        for waiter in waiters { waiter.continuation.resume() }
        releaseUpdateWaiters()
    }

    // MARK: Updates

    func apply(sku: String, offerId: String?, priceMicros: Int64?, quantity: Int?) {
        let now = clock.wallMilliseconds()
        defer { releaseUpdateWaiters() }
        inner.withLock { s in
            guard let index = s.indexBySKU[sku] else { return }
            let old = s.listings[index]
            if let priceMicros { s.listings[index].priceMicros = priceMicros }
            if let quantity { s.listings[index].quantity = quantity }
            s.updates.append(AppliedUpdate(sequence: s.updates.count + 1, marketplace: .ebay, sku: sku, offerId: offerId,
                                           oldPriceMicros: old.priceMicros, newPriceMicros: s.listings[index].priceMicros,
                                           oldQuantity: old.quantity, newQuantity: s.listings[index].quantity,
                                           atMilliseconds: now, priceSent: priceMicros != nil, quantitySent: quantity != nil))
        }
    }
}
