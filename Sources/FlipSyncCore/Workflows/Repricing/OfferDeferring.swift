/// A channel whose listings' offers are read one SKU a call (eBay's `getOffers`): the sweep's
/// listings read takes what planning needs (SKU, GTIN, condition, stock) from the channel's
/// cheap paged read, and a listing whose offer is not known yet is *pending* in the snapshot
/// (`offerPending`: no offer id, a zero price). Only the pending listings the plan selects have
/// their offer read, by their decide task before its competition read; the plan counts those
/// reads against the time left at `offerReadRate`.
public protocol OfferDeferringMarketplace: Marketplace {
    /// The sweep's snapshot: every listing, complete when its offer is known (remembered),
    /// pending otherwise.
    func sweepListings() async throws -> [MarketplaceListing]

    /// The same snapshot page by page, in the same order: `body` is handed each page's listings
    /// as the channel's paged read gives them (eBay: 200 inventory items a page), so the sweep
    /// writes them and lets them go instead of holding every listing. The default hands
    /// `sweepListings()` over as one page.
    func sweepListingPages(_ body: ([MarketplaceListing]) async throws -> Void) async throws

    /// The pending listings with their offers read (and remembered): the complete listing, or
    /// nil for a SKU that has no published offer (not an active listing), in order.
    ///
    /// The decide task reads a pending listing's competition while its offer is read, so this
    /// channel's `competitions(for:options:)` must read only what a pending listing already
    /// holds: its SKU, GTIN, title, condition and quantity (never its price, offer id or
    /// shipping charged).
    func completeListings(_ pending: [MarketplaceListing]) async throws -> [MarketplaceListing?]

    /// The rate the offer reads go at (their own token bucket), for the sweep's time bound.
    var offerReadRate: CompetitionReadRate { get }
}

extension OfferDeferringMarketplace {
    public func sweepListingPages(_ body: ([MarketplaceListing]) async throws -> Void) async throws {
        try await body(try await sweepListings())
    }
}

extension MarketplaceListing {
    /// A sweep snapshot's listing whose offer is not read yet (`OfferDeferringMarketplace`): it
    /// has no offer id and its price is a placeholder zero.
    public var offerPending: Bool { listingID.isEmpty }
}

/// A channel whose active listings come a page a call (Amazon's `searchListingsItems`, by page
/// token): the sweep's listings read writes each page into the snapshot and lets it go instead
/// of holding every listing.
public protocol PagedListingsMarketplace: Marketplace {
    /// `activeListings()` page by page, in the same order: `body` is handed each page's
    /// listings before the next page is read.
    func activeListingPages(_ body: ([MarketplaceListing]) async throws -> Void) async throws
}
