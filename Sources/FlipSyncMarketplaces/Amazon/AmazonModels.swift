import FlipSyncCore
import Foundation

// Our values for the Selling Partner API's shapes. The wire structs (`AmazonWire*`) mirror
// Amazon's JSON field names exactly; the public values are what callers use, with money parsed
// exactly (JSON numbers through `Decimal`, never `Double`).

/// The SP-API operations this client calls, each with its own token bucket per seller.
///
/// `rawValue` is the name recorded in the spend ledger (`MeteredCall.operation`).
public enum AmazonOperation: String, Sendable, Hashable, CaseIterable {
    /// Login with Amazon: refresh-token grant.
    case token = "lwa.token"
    case getItemOffers = "pricing.getItemOffers"
    case getListingOffersBatch = "pricing.getListingOffersBatch"
    case searchListingsItems = "listings.searchListingsItems"
    case patchListingsItem = "listings.patchListingsItem"
    case getOrders = "orders.getOrders"
    case getOrderItems = "orders.getOrderItems"
    /// Feeds API 2021-06-30 (JSON_LISTINGS_FEED price updates).
    case createFeedDocument = "feeds.createFeedDocument"
    case createFeed = "feeds.createFeed"
    case getFeed = "feeds.getFeed"
    case getFeeds = "feeds.getFeeds"
    case getFeedDocument = "feeds.getFeedDocument"
    /// The upload to and download from a feed document's presigned URL (Amazon's document
    /// store, not the SP-API host): no usage plan is published; ours is 5 a second, burst 5.
    case feedDocumentTransfer = "feeds.documentTransfer"

    /// Amazon's documented default usage plan for the operation (its API reference's "Usage
    /// Plan" table). LWA publishes none; one request a second, burst 5, is our own cap.
    public var defaultRate: AmazonRate {
        switch self {
        case .token: return AmazonRate(requestsPerSecond: 1, burst: 5)
        case .getItemOffers: return AmazonRate(requestsPerSecond: 0.5, burst: 1)
        case .getListingOffersBatch: return AmazonRate(requestsPerSecond: 0.5, burst: 1)
        case .searchListingsItems: return AmazonRate(requestsPerSecond: 5, burst: 5)
        case .patchListingsItem: return AmazonRate(requestsPerSecond: 5, burst: 5)
        case .getOrders: return AmazonRate(requestsPerSecond: 0.0167, burst: 20)
        case .getOrderItems: return AmazonRate(requestsPerSecond: 0.5, burst: 30)
        // models/feeds-api-model/feeds_2021-06-30.json, each operation's "Usage Plan" table.
        case .createFeedDocument: return AmazonRate(requestsPerSecond: 0.5, burst: 15)
        case .createFeed: return AmazonRate(requestsPerSecond: 0.0083, burst: 15)
        case .getFeed: return AmazonRate(requestsPerSecond: 2, burst: 15)
        case .getFeeds: return AmazonRate(requestsPerSecond: 0.0222, burst: 10)
        case .getFeedDocument: return AmazonRate(requestsPerSecond: 0.0222, burst: 10)
        case .feedDocumentTransfer: return AmazonRate(requestsPerSecond: 5, burst: 5)
        }
    }
}

/// A usage plan: sustained requests per second (fractional: getOrders allows 0.0167) and burst.
public struct AmazonRate: Sendable, Hashable {
    public var requestsPerSecond: Double
    public var burst: Int

    public init(requestsPerSecond: Double, burst: Int) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = burst
    }
}

/// Product Pricing v0 `ItemCondition`.
public enum AmazonItemCondition: String, Sendable, Hashable, CaseIterable {
    case new = "New", used = "Used", collectible = "Collectible", refurbished = "Refurbished", club = "Club"
}

/// One offer from `getItemOffers` (`OfferDetail`).
public struct AmazonOffer: Sendable, Hashable {
    /// `SellerId`; Amazon may omit it, then it is empty.
    public var sellerID: String
    /// `SubCondition`: new, mint, very good, good, acceptable, … (lower-case as Amazon sends it).
    public var subCondition: String
    /// `SellerFeedbackRating.SellerPositiveFeedbackRating`, exact.
    public var positiveFeedback: Percent?
    public var feedbackCount: Int?
    public var listingPrice: Money
    public var shipping: Money
    public var isBuyBoxWinner: Bool
    /// `MyOffer`: the calling seller's own offer.
    public var isMyOffer: Bool
    public var isFulfilledByAmazon: Bool

    public var landed: Money { listingPrice + shipping }
}

/// A Buy Box or lowest price from `Summary` (`LandedPrice`, `ListingPrice`, `Shipping`).
public struct AmazonSummaryPrice: Sendable, Hashable {
    /// `condition` as Amazon sends it (`new`, `used`, …).
    public var condition: String
    public var landed: Money
    public var listing: Money
    public var shipping: Money
}

/// `getItemOffers`' payload: the offers for one ASIN in one condition and the summary's prices.
public struct AmazonItemOffers: Sendable, Hashable {
    public var asin: String
    public var condition: AmazonItemCondition
    public var offers: [AmazonOffer]
    public var buyBoxPrices: [AmazonSummaryPrice]
    public var lowestPrices: [AmazonSummaryPrice]
    public var totalOfferCount: Int
}

/// One request of a `getListingOffersBatch` call: our SKU, in the condition to ask offers for.
public struct AmazonListingOffersRequest: Sendable, Hashable {
    public var sku: String
    public var condition: AmazonItemCondition

    public init(sku: String, condition: AmazonItemCondition) {
        self.sku = sku
        self.condition = condition
    }
}

/// One response of a `getListingOffersBatch` call: the SKU asked about, the entry's HTTP status
/// (`status.statusCode`), and the offers when it is 2xx, or Amazon's errors otherwise.
public struct AmazonListingOffersEntry: Sendable, Hashable {
    public var sku: String
    public var status: Int
    public var offers: AmazonItemOffers?
    /// The entry's `body.errors` as one line, when it has any.
    public var error: String?
}

/// One of our listings from `searchListingsItems` (`Item` with summaries, attributes, offers
/// and fulfillment availability).
public struct AmazonListingItem: Sendable, Hashable {
    public var sku: String
    public var asin: String?
    public var title: String?
    public var productType: String?
    /// `conditionType`, e.g. `new_new`, `used_very_good`.
    public var conditionType: String?
    /// `BUYABLE`, `DISCOVERABLE`.
    public var status: [String]
    /// The B2C offer price in our marketplace (`offers[].price`), or `purchasable_offer`'s `our_price`.
    public var price: Money?
    /// `fulfillmentAvailability` for channel `DEFAULT` (merchant fulfilled).
    public var quantity: Int?
    /// From the `externally_assigned_product_identifier` attribute (UPC/EAN/GTIN), when present.
    public var gtin: String?
}

/// One page of `searchListingsItems`.
public struct AmazonListingsPage: Sendable, Hashable {
    public var items: [AmazonListingItem]
    /// `numberOfResults`: every match, not just this page's.
    public var numberOfResults: Int
    /// `pagination.nextToken`, to pass as `pageToken`; nil on the last page.
    public var nextPageToken: String?
}

/// An issue from `patchListingsItem` (`Issue`).
public struct AmazonListingIssue: Sendable, Hashable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// `ERROR`, `WARNING`, `INFO`.
    public var severity: String
    public var attributeNames: [String]

    public var description: String { "\(severity) \(code): \(message)" }
}

/// `patchListingsItem`'s `ListingsItemSubmissionResponse`.
public struct AmazonSubmission: Sendable, Hashable {
    public enum Status: Sendable, Hashable {
        case accepted, invalid, valid
        case other(String)
    }

    public var sku: String
    public var status: Status
    public var submissionID: String
    public var issues: [AmazonListingIssue]
}

/// The parts of a `ShippingAddress` Amazon returns without a restricted data token.
public struct AmazonAddress: Sendable, Hashable {
    public var postalCode: String?
    public var city: String?
    public var stateOrRegion: String?
    public var countryCode: String?
}

/// An order from `getOrders` (`Order`).
public struct AmazonOrder: Sendable, Hashable {
    public var orderID: String
    /// `PurchaseDate`, milliseconds since the epoch.
    public var purchasedAt: Int64
    /// `OrderStatus`: Pending, Unshipped, PartiallyShipped, Shipped, Canceled, …
    public var status: String
    /// `LatestDeliveryDate`, milliseconds since the epoch.
    public var latestDeliveryAt: Int64?
    public var shippingAddress: AmazonAddress?
    public var orderTotal: Money?
}

/// One page of `getOrders`.
public struct AmazonOrdersPage: Sendable, Hashable {
    public var orders: [AmazonOrder]
    /// `NextToken`; nil on the last page.
    public var nextToken: String?
}

/// A line of an order from `getOrderItems` (`OrderItem`).
public struct AmazonOrderItem: Sendable, Hashable {
    public var orderItemID: String
    public var sku: String
    public var asin: String
    public var quantityOrdered: Int
    /// `ItemPrice`: the line's total for every unit, as Amazon documents it.
    public var itemPrice: Money?
    public var shippingPrice: Money?
}
