import FlipSyncCore

/// eBay as a `Marketplace`, over an `EbayClient`.
///
/// - `activeListings`: every inventory item (all pages) joined with its published offer on the
///   client's marketplace; items without one are not active listings and are left out.
///   `listingID` is the offer id; `shippingCharged` is what the buyer pays to ship one unit
///   domestically: the offer's priority-1 domestic shipping-cost override, else its fulfillment
///   policy's first domestic service as `listingShipping` reads it (zero for free shipping);
///   nil for calculated shipping, local pickup or an offer without a policy. The policies are
///   read (`getFulfillmentPolicies`, once) only when some offer has no override.
/// - `sweepListings` (the repricing sweep's snapshot, `OfferDeferringMarketplace`): the same
///   from inventory items and remembered offers only; a SKU without a remembered offer is
///   pending (no offer id) until `completeListings` reads its offer for the decide task. getOffers
///   go through the client's Inventory bucket (`offerReadRate`), Browse calls through their own.
/// - `competition`: Browse search by our GTIN in our condition (`matchedByIdentifier`), plus a
///   keyword search by our title in our condition whose results without a GTIN are added as
///   title-only offers. Nothing is filtered for the repricer's sake; offers are left out only
///   when they cannot be priced (no shipping cost, e.g. pickup only, or shipping in another
///   currency than the price) or carry a GTIN other than ours. `isOurs` when the seller's
///   username is `ourUsername` (eBay usernames are compared without case).
/// - `competitions(for:titleMatches:)` (the repricing sweep): listings sharing a GTIN share one
///   GTIN search (`competitionGroups` puts them in one group); the keyword search is made only
///   when title-only offers can be used (`llm_matching` with a matcher) or there is no GTIN.
/// - `competitions(for:options:)`: the same, remembering each GTIN search's competitor ids; in
///   the refresh group (GTINs searched within `research_days`) those ids are read with getItems,
///   20 a call across GTINs, instead of searching again. `competitionCallCounter` counts the
///   Browse and getItems calls this takes, listing by listing, for the sweep's capacity.
/// - `apply`: `bulkUpdatePriceQuantity`, 25 SKUs per call. A change eBay would not accept
///   (price finer than a cent, negative quantity, nothing to change) fails on its own without
///   being sent. A call that fails as a whole throws its error; earlier calls may have been
///   applied, and setting the same price or quantity again is harmless, so the whole set can be
///   retried.
/// - `listingShipping`: each published offer's fulfillment policy and shipping-cost override
///   (see the method).
/// - `orders`: `getOrders` by creation date, every page. The cursor is the ISO 8601
///   `creationDate` of the newest order seen minus `cursorOverlap` (five minutes), never moving
///   back; orders created at or after it are returned, so lines near the cursor come again.
public struct EbayMarketplace: OfferDeferringMarketplace {
    public let client: EbayClient
    /// Our eBay username, to flag our own offers in search results.
    public let ourUsername: String?
    /// At most this many results are read per Browse search (eBay pages 200 at a time).
    public let maxResultsPerSearch: Int
    /// How many `getOffers` calls `activeListings` keeps in flight (the rate limiter still applies).
    public let offerReadsInFlight: Int
    /// The most listings one decide task refreshes from remembered searches: the refresh group
    /// is cut into tasks of this many (`competitionGrouper`), so a night that refreshes the
    /// whole catalog holds one task's listings at a time, not the catalog's.
    public let refreshTaskListings: Int
    public static let defaultRefreshTaskListings = 500
    /// The most GTIN groups (the listings sharing a GTIN, one Browse search) one decide task
    /// searches and decides, one after the other (`decideTaskGroups`, `search_task_gtins`).
    public let searchTaskGTINs: Int
    public static let defaultSearchTaskGTINs = 8
    /// Each SKU's published offer as last read or set; nil: every SKU's offer is read each time.
    public let offerMemory: (any OfferMemory)?
    /// The time remembered offers are stamped with.
    public let clock: any SchedulerClock
    /// Offers read by getOffers are written to `offerMemory` this many at a time as they come,
    /// so a read cut off (a run's timeout) keeps what it read and the next read goes on from there.
    public let rememberEvery: Int

    /// Fulfillment policies read by `sweepListings` (all, once) and `completeListings` (by id),
    /// so a decide task completing its pending listings does not read them again.
    let policyCache = FulfillmentPolicyCache()

    /// How far the orders cursor stays behind the newest order seen.
    public static let cursorOverlap = TimeSpan.seconds(5 * 60)

    public var name: MarketplaceName { .ebay }

    public init(client: EbayClient, ourUsername: String? = nil, maxResultsPerSearch: Int = 400, offerReadsInFlight: Int = 8,
                refreshTaskListings: Int = EbayMarketplace.defaultRefreshTaskListings,
                searchTaskGTINs: Int = EbayMarketplace.defaultSearchTaskGTINs,
                offerMemory: (any OfferMemory)? = nil, clock: any SchedulerClock = SystemSchedulerClock(), rememberEvery: Int = 100) {
        self.client = client
        self.refreshTaskListings = max(1, refreshTaskListings)
        self.searchTaskGTINs = max(1, searchTaskGTINs)
        self.rememberEvery = max(1, rememberEvery)
        self.offerMemory = offerMemory
        self.clock = clock
        self.ourUsername = ourUsername
        self.maxResultsPerSearch = maxResultsPerSearch
        self.offerReadsInFlight = max(1, offerReadsInFlight)
    }
}
