/// The one interface the workflows use to act on a sales channel (eBay, Amazon, Shopify).
///
/// Implementations live in `FlipSyncMarketplaces` (one per API, each over the real API's
/// shapes); the workflows in this module only see these values, so a repricing decision or a
/// stock sync reads the same whatever the channel.
///
/// Errors: implementations throw errors that conform to `RetryClassified` (the marketplace
/// clients' `MarketplaceError` does), so the run coordinator knows whether a retry can help,
/// or `CancellationError` when the task is cancelled.
public protocol Marketplace: Sendable {
    var name: MarketplaceName { get }

    /// Our active listings on this channel, every page.
    func activeListings() async throws -> [MarketplaceListing]

    /// The price each of `skus` has on the channel now, read from the channel itself and never
    /// from anything remembered: what says whether a price change interrupted mid-call landed
    /// (a remembered price can predate it, whoever remembered it). A SKU without a live
    /// listing is absent. The default reads `activeListings()`; eBay reads only these SKUs'
    /// offers (getOffers), bypassing its offer memory.
    func livePrices(skus: [String]) async throws -> [String: Money]

    /// Other sellers' offers for the same item (by identifier, and where the API can, by
    /// similar title), cheapest landed price first, plus the Buy Box where the channel has one.
    /// Our own offers may be included, flagged `isOurs`.
    func competition(for listing: MarketplaceListing) async throws -> Competition

    /// The competition for several listings, read as the channel's batch endpoints allow:
    /// one result per listing, in the same order. A failure of one listing only (Amazon's
    /// 404 inside a batch) is that listing's `.failed`; a failure of the whole read is thrown.
    /// `titleMatches` false says offers found by similar title only will not be used (no
    /// matcher judges them), so a channel may skip the searches that find only those (eBay's
    /// keyword search). The default reads each listing with `competition(for:)`.
    func competitions(for listings: [MarketplaceListing], titleMatches: Bool) async throws -> [CompetitionLookup]

    /// The competition as the repricing sweep reads it: `competitions(for:titleMatches:)`, with
    /// the remembered searches a channel may refresh instead of repeating (eBay's getItems).
    /// The default ignores the memory.
    func competitions(for listings: [MarketplaceListing], options: CompetitionOptions) async throws -> [CompetitionLookup]

    /// How the repricing sweep cuts listings into groups whose competition is read together
    /// (one `decide` task each), listing by listing (`CompetitionGrouper`): Amazon, 20 SKUs
    /// (`getListingOffersBatch`); eBay, the listings sharing a GTIN, and those with a fresh
    /// remembered search in one `refresh` group. The default: each listing alone.
    func competitionGrouper(options: CompetitionOptions) -> any CompetitionGrouper

    /// How many of the sweep's competition groups one `decide` task takes, refresh groups
    /// apart (each stays a task of its own): the task reads, decides and saves its groups one
    /// after the other, so it spends no more calls than a task per group would and a retry
    /// repeats no group already decided, while the sweep records one task, not one per group.
    /// 1 by default; eBay's `search_task_gtins`.
    var decideTaskGroups: Int { get }

    /// Counts the quota calls reading competition takes, listing by listing, for the sweep's
    /// capacity; nil when the channel's competition reads count against no daily quota.
    func competitionCallCounter(options: CompetitionOptions) -> (any CompetitionCallCounter)?

    /// The request rate the channel's competition reads are limited to (Amazon's
    /// `getListingOffersBatch`; eBay's Browse calls at the client's configured rate), for the
    /// sweep's capacity within its timeout; nil when none.
    var competitionReadRate: CompetitionReadRate? { get }

    /// How many changes the sync hands `apply` at once (each batch recorded before it is sent):
    /// 25 by default; Shopify 250, what one `inventorySetQuantities` takes.
    var pushBatchSize: Int { get }

    /// Applies price and/or quantity changes, batched as the API allows (eBay: 25 per call),
    /// and returns one result per change, in the same order.
    func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult]

    /// Order lines created after `cursor` (nil: the channel's first page of recent orders),
    /// every page, and the cursor to persist for next time. A line may be returned again
    /// (cursors overlap on purpose); callers apply each `(marketplace, orderID, lineID)` once.
    func orders(since cursor: String?) async throws -> OrdersPage

    /// Our active listings' shipping settings as buyers see them: what one unit's shipping is
    /// charged to a domestic address, the handling time and the advertised service, where the
    /// channel says. Channels whose API cannot read them throw `UnsupportedByChannel` (the
    /// default).
    func listingShipping() async throws -> [ListingShipping]
}

extension Marketplace {
    public func livePrices(skus: [String]) async throws -> [String: Money] {
        let wanted = Set(skus)
        var prices: [String: Money] = [:]
        for listing in try await activeListings() where wanted.contains(listing.sku) && prices[listing.sku] == nil {
            prices[listing.sku] = listing.price
        }
        return prices
    }

    public func competitions(for listings: [MarketplaceListing], titleMatches: Bool) async throws -> [CompetitionLookup] {
        var results: [CompetitionLookup] = []
        for listing in listings { results.append(.found(try await competition(for: listing))) }
        return results
    }

    public func competitions(for listings: [MarketplaceListing], options: CompetitionOptions) async throws -> [CompetitionLookup] {
        try await competitions(for: listings, titleMatches: options.titleMatches)
    }

    public func competitionGrouper(options: CompetitionOptions) -> any CompetitionGrouper { SingleListingGrouper() }

    public var decideTaskGroups: Int { 1 }

    public func competitionCallCounter(options: CompetitionOptions) -> (any CompetitionCallCounter)? { nil }

    public var competitionReadRate: CompetitionReadRate? { nil }

    public var pushBatchSize: Int { 25 }

    public func listingShipping() async throws -> [ListingShipping] {
        throw UnsupportedByChannel(marketplace: name, operation: "reading listings' shipping settings",
                                   reason: "this channel's client has no read of them")
    }
}

/// A channel cannot do what was asked of it through its API: permanent, never retried.
public struct UnsupportedByChannel: RetryClassified, Sendable, Hashable, CustomStringConvertible {
    public var marketplace: MarketplaceName
    public var operation: String
    public var reason: String

    public init(marketplace: MarketplaceName, operation: String, reason: String) {
        self.marketplace = marketplace
        self.operation = operation
        self.reason = reason
    }

    public var description: String { "\(marketplace.rawValue) does not support \(operation): \(reason)" }
    public var taskFailure: TaskFailure { .permanent(description) }
}

/// One listing's shipping settings, as the channel charges the buyer (domestic, one unit).
public struct ListingShipping: Sendable, Hashable {
    public var marketplace: MarketplaceName
    public var sku: String
    /// eBay offer id, Shopify variant id.
    public var listingID: String
    public var price: Money?
    /// What the buyer is charged to ship one unit with the listing's first (default) service:
    /// zero for free shipping. Nil when the channel computes it at checkout (calculated
    /// shipping) or no rate applies; `note` says which.
    public var charge: Money?
    /// Days from the sale to the parcel leaving, as the listing promises (eBay's handling
    /// time); nil where the channel has none (Shopify).
    public var handlingDays: Int?
    /// The advertised service as a service key (`usps-ground-advantage`), when the channel
    /// names a carrier service (eBay); nil for Shopify's named rates.
    public var serviceKey: String?
    /// Where the settings come from, for people: `eBay fulfillment policy 6000000001 "Free
    /// shipping"`, `Shopify zone "Domestic", rate "Standard"`.
    public var policy: String
    /// Why `charge` is nil, or anything else a reader of the row should know.
    public var note: String?

    public init(marketplace: MarketplaceName, sku: String, listingID: String, price: Money? = nil, charge: Money?,
                handlingDays: Int?, serviceKey: String?, policy: String, note: String? = nil) {
        self.marketplace = marketplace
        self.sku = sku
        self.listingID = listingID
        self.price = price
        self.charge = charge
        self.handlingDays = handlingDays
        self.serviceKey = serviceKey
        self.policy = policy
        self.note = note
    }
}

/// An error that says whether retrying can help.
public protocol RetryClassified: Error {
    var taskFailure: TaskFailure { get }
}

/// An item's condition, normalised across channels' vocabularies.
public enum ItemCondition: String, Sendable, Hashable, Codable, CaseIterable {
    case new
    case newOther = "new-other"
    case refurbished
    case used
    case forParts = "for-parts"
}

/// One of our listings as a channel shows it now.
public struct MarketplaceListing: Sendable, Hashable {
    public var marketplace: MarketplaceName
    public var sku: String
    /// The channel's id for what we update: eBay offer id, Amazon ASIN, Shopify variant id.
    public var listingID: String
    public var gtin: String?
    public var asin: String?
    public var title: String
    public var condition: ItemCondition
    public var price: Money
    public var quantity: Int
    /// What the buyer pays us for shipping, where the channel says.
    public var shippingCharged: Money?

    public init(marketplace: MarketplaceName, sku: String, listingID: String, gtin: String? = nil, asin: String? = nil,
                title: String, condition: ItemCondition, price: Money, quantity: Int, shippingCharged: Money? = nil) {
        self.marketplace = marketplace
        self.sku = sku
        self.listingID = listingID
        self.gtin = gtin
        self.asin = asin
        self.title = title
        self.condition = condition
        self.price = price
        self.quantity = quantity
        self.shippingCharged = shippingCharged
    }
}

/// Another seller's offer, as the channel shows it.
public struct CompetitorOffer: Sendable, Hashable {
    public var offerID: String
    public var title: String
    /// True when the channel matched it to our item by GTIN/ASIN; false for a similar title only.
    public var matchedByIdentifier: Bool
    public var price: Money
    public var shipping: Money
    public var condition: ItemCondition
    public var sellerID: String
    /// Positive feedback share, when the channel gives one.
    public var sellerFeedback: Percent?
    /// Our own offer, shown back to us (Amazon's offers list includes it).
    public var isOurs: Bool
    public var isBuyBoxWinner: Bool

    /// Price plus shipping: what the buyer pays, and what competition is measured by.
    public var landed: Money { price + shipping }

    public init(offerID: String, title: String, matchedByIdentifier: Bool, price: Money, shipping: Money,
                condition: ItemCondition, sellerID: String, sellerFeedback: Percent?, isOurs: Bool = false,
                isBuyBoxWinner: Bool = false) {
        self.offerID = offerID
        self.title = title
        self.matchedByIdentifier = matchedByIdentifier
        self.price = price
        self.shipping = shipping
        self.condition = condition
        self.sellerID = sellerID
        self.sellerFeedback = sellerFeedback
        self.isOurs = isOurs
        self.isBuyBoxWinner = isBuyBoxWinner
    }
}

/// The competition for one listing.
public struct Competition: Sendable, Hashable {
    public var offers: [CompetitorOffer]
    /// The Buy Box landed price (Amazon), when there is one.
    public var buyBox: Money?

    public init(offers: [CompetitorOffer], buyBox: Money? = nil) {
        self.offers = offers
        self.buyBox = buyBox
    }
}

/// One listing's competition as a batch read found it: the competition, or why that listing's
/// part of the batch failed (the rest of the batch stands).
public enum CompetitionLookup: Sendable, Hashable {
    case found(Competition)
    case failed(String)
}

/// A price and/or quantity change to one listing.
public struct ListingChange: Sendable, Hashable {
    public var sku: String
    public var listingID: String
    public var price: Money?
    public var quantity: Int?

    public init(sku: String, listingID: String, price: Money? = nil, quantity: Int? = nil) {
        self.sku = sku
        self.listingID = listingID
        self.price = price
        self.quantity = quantity
    }
}

/// What became of one change: applied, or refused with the API's reason.
public struct ListingChangeResult: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case applied
        case failed(String)
    }

    public var sku: String
    public var listingID: String
    public var outcome: Outcome

    public init(sku: String, listingID: String, outcome: Outcome) {
        self.sku = sku
        self.listingID = listingID
        self.outcome = outcome
    }
}

/// A shipping destination, as much of it as the channel gives.
public struct Destination: Sendable, Hashable {
    public var postalCode: String
    public var country: String
    public var region: String?

    public init(postalCode: String, country: String, region: String? = nil) {
        self.postalCode = postalCode
        self.country = country
        self.region = region
    }
}

/// One line of one order.
public struct OrderLine: Sendable, Hashable {
    public var marketplace: MarketplaceName
    public var orderID: String
    public var lineID: String
    public var sku: String
    public var quantity: Int
    /// When the buyer placed it, milliseconds since the epoch.
    public var placedAt: Int64
    /// What the buyer paid for the item(s) and for shipping on this line.
    public var itemPrice: Money?
    public var shippingPaid: Money?
    public var destination: Destination?
    /// The latest delivery the channel promised the buyer, milliseconds since the epoch.
    public var deliverBy: Int64?
    /// Still to ship (not shipped, not cancelled).
    public var open: Bool

    public init(marketplace: MarketplaceName, orderID: String, lineID: String, sku: String, quantity: Int, placedAt: Int64,
                itemPrice: Money? = nil, shippingPaid: Money? = nil, destination: Destination? = nil, deliverBy: Int64? = nil,
                open: Bool = true) {
        self.marketplace = marketplace
        self.orderID = orderID
        self.lineID = lineID
        self.sku = sku
        self.quantity = quantity
        self.placedAt = placedAt
        self.itemPrice = itemPrice
        self.shippingPaid = shippingPaid
        self.destination = destination
        self.deliverBy = deliverBy
        self.open = open
    }
}

/// Order lines and the cursor to persist for the next call.
public struct OrdersPage: Sendable, Hashable {
    public var lines: [OrderLine]
    public var cursor: String?

    public init(lines: [OrderLine], cursor: String?) {
        self.lines = lines
        self.cursor = cursor
    }

    /// The most units one order line may carry. A channel's answer with a line outside
    /// `0...maxLineQuantity` is malformed: a negative quantity would add stock, a huge one
    /// overflow a label's cost.
    public static let maxLineQuantity = 1_000_000

    /// This page, unless a line's quantity is outside `0...maxLineQuantity`: then a permanent
    /// task failure naming the first such line, so nothing of the page is applied and its
    /// cursor is not moved.
    public func checked() throws(TaskFailure) -> OrdersPage {
        if let bad = lines.first(where: { !(0...Self.maxLineQuantity).contains($0.quantity) }) {
            throw .permanent("\(bad.marketplace.rawValue) order \(bad.orderID) line \(bad.lineID): quantity \(bad.quantity) is outside "
                + "0…\(Self.maxLineQuantity); the page of \(lines.count) lines is not applied")
        }
        return self
    }
}
