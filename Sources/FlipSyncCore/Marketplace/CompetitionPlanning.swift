/// How the repricing sweep asks a channel for competition.
public struct CompetitionOptions: Sendable {
    /// Title-only offers will be judged by a matcher (`llm_matching` with one configured): a
    /// channel makes the searches that find only those (eBay's keyword search).
    public var titleMatches: Bool
    /// The competitor ids earlier searches found, per search; nil: nothing is remembered.
    public var memory: (any CompetitorMemory)?
    /// Remembered searches made at or after this time (milliseconds since the epoch) are
    /// refreshed instead of repeated (`research_days` before the sweep's plan); nil: never.
    public var refreshSince: Int64?
    /// In `competitions(for:options:)`: this group is the one the plan cut to be refreshed.
    public var refresh: Bool
    /// When the reads happen (a search made now is remembered with this time).
    public var now: Int64

    public init(titleMatches: Bool, memory: (any CompetitorMemory)? = nil, refreshSince: Int64? = nil, refresh: Bool = false,
                now: Int64 = 0) {
        self.titleMatches = titleMatches
        self.memory = memory
        self.refreshSince = refreshSince
        self.refresh = refresh
        self.now = now
    }
}

/// Listings whose competition one `decide` task reads together; `refresh` when it is read
/// from remembered searches (eBay: getItems on the competitor ids, batched across GTINs).
public struct CompetitionGroup: Sendable, Hashable {
    public var listings: [MarketplaceListing]
    public var refresh: Bool

    public init(listings: [MarketplaceListing], refresh: Bool = false) {
        self.listings = listings
        self.refresh = refresh
    }
}

/// Counts, listing by listing in the order a sweep takes them, the quota calls reading their
/// competition takes. `adding` is what one more listing adds to the listings taken so far (0
/// for one whose search is already taken); `take` counts it in. `refreshGroup` is the ordinal
/// of the refresh group the listing joins if the channel's grouper puts it in one (refresh
/// groups with a `limit` are cut in the order listings are taken, `RefreshGroupCut`): calls
/// pooled by one refresh task (eBay's getItems, 20 ids a call) are pooled within its group only.
public protocol CompetitionCallCounter: AnyObject {
    func adding(_ listing: MarketplaceListing, refreshGroup: Int) -> [QuotaKey: Int64]
    func take(_ listing: MarketplaceListing, refreshGroup: Int)
    /// Told each page of listings before they are counted (see `CompetitionGrouper.prepare`).
    func prepare(_ listings: [MarketplaceListing]) throws
}

/// The subjects a `rememberedSearches(marketplace:subjects:)` looks for: each once, sorted, and
/// none holding a `|` (a key's subject ends at its first one, so such a subject has no search).
public func searchSubjects(_ subjects: [String]) -> [String] {
    Array(Set(subjects.filter { !$0.utf8.contains(UInt8(ascii: "|")) })).sorted()
}

extension CompetitionCallCounter {
    public func prepare(_ listings: [MarketplaceListing]) throws {}
    /// In refresh group 0 (a walk with one refresh group).
    public func adding(_ listing: MarketplaceListing) -> [QuotaKey: Int64] { adding(listing, refreshGroup: 0) }
    public func take(_ listing: MarketplaceListing) { take(listing, refreshGroup: 0) }
}

/// The rate a channel's competition reads are held to: `requestsPerSecond` with a bucket of
/// `burst`, each request carrying up to `listingsPerRequest` listings; or, with `countsCalls`,
/// each request one of the calls the channel's `competitionCallCounter` counts (eBay: a GTIN
/// search, a keyword search or a getItems call), so the time bound is on those calls rather
/// than on listings.
public struct CompetitionReadRate: Sendable, Hashable {
    public var operation: String
    public var requestsPerSecond: Double
    public var burst: Int
    public var listingsPerRequest: Int
    public var countsCalls: Bool

    public init(operation: String, requestsPerSecond: Double, burst: Int, listingsPerRequest: Int, countsCalls: Bool = false) {
        self.operation = operation
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
        self.listingsPerRequest = listingsPerRequest
        self.countsCalls = countsCalls
    }

    /// The requests that fit in `milliseconds` from a full bucket: the burst plus the rate's
    /// whole requests over that time; at least one.
    public func requests(in milliseconds: Int64) -> Int64 {
        // Micro-requests per millisecond keeps the arithmetic whole: 0.5/s is 500 per ms.
        let microPerSecond = Int64((requestsPerSecond * 1_000_000).rounded(.down))
        return Swift.max(1, Int64(burst) + microPerSecond * Swift.max(0, milliseconds) / 1_000_000_000)
    }
}

/// One remembered search: the competitor ids it found and when it was made.
public struct RememberedSearch: Sendable, Hashable {
    public var itemIDs: [String]
    public var searchedAt: Int64

    public init(itemIDs: [String], searchedAt: Int64) {
        self.itemIDs = itemIDs
        self.searchedAt = searchedAt
    }
}

/// The competitor ids each search found, kept between sweeps (the run ledger's
/// `competitor_searches` and `competitor_items`), so a later sweep can refresh them by id.
public protocol CompetitorMemory: Sendable {
    /// Every remembered search of `marketplace`, by search key.
    func rememberedSearches(marketplace: MarketplaceName) throws -> [String: RememberedSearch]
    /// The remembered searches of `marketplace` whose subject is one of `subjects`, by search
    /// key. A key's subject is its text before the first `|` (eBay's GTIN), the whole key
    /// when it has none.
    func rememberedSearches(marketplace: MarketplaceName, subjects: [String]) throws -> [String: RememberedSearch]
    /// Replaces what `key`'s search found (ids in the order found) and when it was made.
    func rememberSearch(marketplace: MarketplaceName, key: String, _ search: RememberedSearch) async throws
    /// Drops ids a refresh no longer returned (ended listings) from every search of `marketplace`.
    func forgetItems(marketplace: MarketplaceName, itemIDs: [String]) throws
}

/// What a plan may ask of the quota ledger: the calls its job may still use of each limited
/// API today (the limit less what is used, less the reserves of other jobs).
public protocol QuotaAllowance: Sendable {
    func remaining(for job: String?) -> [QuotaKey: Int64]
}

/// A SKU's published offer on a channel as last read (or as FlipSync last set its price and
/// quantity), so a channel whose offers are read one SKU at a time (eBay's getOffers) need not
/// read them again every sweep.
public struct RememberedOffer: Sendable, Hashable {
    public var sku: String
    public var offerID: String
    public var marketplaceID: String?
    public var price: Money?
    public var availableQuantity: Int?
    public var domesticShippingCost: Money?
    public var fulfillmentPolicyID: String?
    /// When it was read or last set (milliseconds since the epoch).
    public var updatedAt: Int64

    public init(sku: String, offerID: String, marketplaceID: String?, price: Money?, availableQuantity: Int?,
                domesticShippingCost: Money?, fulfillmentPolicyID: String?, updatedAt: Int64) {
        self.sku = sku
        self.offerID = offerID
        self.marketplaceID = marketplaceID
        self.price = price
        self.availableQuantity = availableQuantity
        self.domesticShippingCost = domesticShippingCost
        self.fulfillmentPolicyID = fulfillmentPolicyID
        self.updatedAt = updatedAt
    }
}

/// Each SKU's published offer, kept between runs (the run ledger's `listing_offers`).
public protocol OfferMemory: Sendable {
    func rememberedOffers(marketplace: MarketplaceName) throws -> [String: RememberedOffer]
    /// The remembered offers of these SKUs only (a page of listings, a batch of changes), by
    /// SKU; SKUs without one are absent. The default filters `rememberedOffers(marketplace:)`.
    func rememberedOffers(marketplace: MarketplaceName, skus: [String]) throws -> [String: RememberedOffer]
    /// Replaces what is remembered of these offers' SKUs with what a read found, each offer's
    /// `updatedAt` the time its read was asked. An offer whose SKU had a price change in flight
    /// when its read was asked is left out: the answer may predate the change. In flight = sent
    /// (`forgetOffers`) and neither settled before the read was asked (`settleOffers`) nor sent
    /// more than `OfferChanges.inFlightBound` before it (a sender that died never settles).
    func rememberOffers(marketplace: MarketplaceName, _ offers: [RememberedOffer]) async throws
    /// A price change to these SKUs is about to be sent, at `sentAt`: their offers are
    /// forgotten (the next read is eBay's), and the change is recorded in flight.
    func forgetOffers(marketplace: MarketplaceName, skus: [String], sentAt: Int64) throws
    /// The changes to `skus` were answered at `at`: `offers` (as the answers left them) are
    /// remembered whatever their reads, and from `at` on a read of these SKUs is remembered again.
    func settleOffers(marketplace: MarketplaceName, skus: [String], offers: [RememberedOffer], at: Int64) throws
}

/// How long a price change counts as in flight when its sender never settles it (killed
/// mid-call): far longer than one bulk update with its retries can take, so a read asked
/// within it is never remembered; after it, reads are remembered again.
public enum OfferChanges {
    public static let inFlightBound: Int64 = 3_600_000
}

extension OfferMemory {
    public func rememberedOffers(marketplace: MarketplaceName, skus: [String]) throws -> [String: RememberedOffer] {
        guard !skus.isEmpty else { return [:] }
        let all = try rememberedOffers(marketplace: marketplace)
        var found: [String: RememberedOffer] = [:]
        for sku in skus { if let offer = all[sku] { found[sku] = offer } }
        return found
    }
}
