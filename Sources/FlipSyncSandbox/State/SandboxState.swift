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

    // MARK: Updates

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
