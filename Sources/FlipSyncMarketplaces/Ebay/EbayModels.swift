import FlipSyncCore

// Our values for eBay's REST shapes. The wire structs (`Wire*`) mirror eBay's JSON field names
// exactly; the public values are what callers use, with money parsed exactly (never via Double).

/// A Browse `item_summary/search` query.
public struct BrowseQuery: Sendable, Hashable {
    public enum Key: Sendable, Hashable {
        /// `gtin=`: a UPC, EAN or ISBN.
        case gtin(String)
        /// `q=`: keywords.
        case keywords(String)
    }

    public var key: Key
    /// `filter=conditionIds:{1000|1500}`; empty means any condition.
    public var conditionIDs: [Int]
    /// Page size, 1…200 (eBay's maximum).
    public var pageSize: Int

    public init(_ key: Key, conditionIDs: [Int] = [], pageSize: Int = 50) {
        self.key = key
        self.conditionIDs = conditionIDs
        self.pageSize = pageSize
    }
}

/// A competitor's listing from Browse search (eBay's `ItemSummary`).
public struct CompetitorListing: Sendable, Hashable {
    public var itemID: String
    public var title: String
    public var price: Money
    /// The first shipping option's cost; nil when eBay gives none (e.g. local pickup only).
    public var shippingCost: Money?
    public var condition: String?
    public var conditionID: Int?
    public var gtin: String?
    public var seller: Seller?

    public struct Seller: Sendable, Hashable {
        public var username: String
        /// eBay sends a decimal string ("99.8"); kept exact as a `Percent`.
        public var feedbackPercentage: Percent?
        public var feedbackScore: Int?

        public init(username: String, feedbackPercentage: Percent?, feedbackScore: Int?) {
            self.username = username
            self.feedbackPercentage = feedbackPercentage
            self.feedbackScore = feedbackScore
        }
    }

    public init(itemID: String, title: String, price: Money, shippingCost: Money?, condition: String?, conditionID: Int?,
                gtin: String?, seller: Seller?) {
        self.itemID = itemID
        self.title = title
        self.price = price
        self.shippingCost = shippingCost
        self.condition = condition
        self.conditionID = conditionID
        self.gtin = gtin
        self.seller = seller
    }
}

/// One page of a Browse search.
public struct BrowsePage: Sendable, Hashable {
    public var items: [CompetitorListing]
    public var total: Int
    public var offset: Int
    public var limit: Int
    /// eBay's `next` URL is present exactly when another page exists.
    public var hasNext: Bool
}

/// One of our offers (eBay's `EbayOfferDetailsWithAll`, the fields we use).
public struct SellerOffer: Sendable, Hashable {
    public var offerID: String
    public var sku: String
    public var marketplaceID: String?
    public var price: Money?
    public var availableQuantity: Int?
    /// `PUBLISHED` or `UNPUBLISHED`.
    public var status: String?
    /// The first domestic shipping service's cost to the buyer, when the offer overrides its
    /// fulfillment policy (`listingPolicies.shippingCostOverrides[]` with `shippingServiceType`
    /// `DOMESTIC` and `priority` 1); nil otherwise, since the policy's own costs are not part of
    /// the offer.
    public var domesticShippingCost: Money?
    /// `listingPolicies.fulfillmentPolicyId`: the fulfillment (shipping) policy the offer uses.
    public var fulfillmentPolicyID: String? = nil
}

/// A seller's fulfillment (shipping) business policy (eBay's `FulfillmentPolicy`, the fields
/// we use).
public struct FulfillmentPolicy: Sendable, Hashable {
    public var policyID: String
    public var name: String
    public var marketplaceID: String?
    /// `handlingTime.value` in days (`unit` `DAY` or `BUSINESS_DAY`); nil when not set.
    public var handlingDays: Int?
    /// True when the policy offers local pickup only (no shipping).
    public var localPickup: Bool
    /// The `DOMESTIC` shipping option's `costType`: `FLAT_RATE`, `CALCULATED` or `NOT_SPECIFIED`.
    public var domesticCostType: String?
    /// The `DOMESTIC` option's services, by `sortOrder` (the first is what buyers see first).
    public var domesticServices: [Service]

    /// eBay's `ShippingService`, the fields we use.
    public struct Service: Sendable, Hashable {
        public var sortOrder: Int?
        /// `USPS`, `UPS`, `FedEx`.
        public var carrierCode: String?
        /// `USPSGroundAdvantage`, `UPSGround`, `USPSPriority`.
        public var serviceCode: String
        /// What the buyer pays for one unit; absent for calculated shipping.
        public var shippingCost: Money?
        public var freeShipping: Bool
    }
}

/// One of our inventory items (eBay's `InventoryItemWithSkuLocaleGroupid`, the fields we use).
public struct InventoryItem: Sendable, Hashable {
    public var sku: String
    public var title: String?
    public var condition: String?
    public var quantity: Int?
    public var upc: [String]
    public var ean: [String]
    public var aspects: [String: [String]]
}

/// One page of `getInventoryItems`.
public struct InventoryPage: Sendable, Hashable {
    public var items: [InventoryItem]
    public var total: Int
    /// The `offset` to ask for the next page, taken from eBay's `next` URL; nil on the last page.
    /// (eBay documents this call's `offset` as a page number, unlike Browse's record offset, so
    /// callers pass back what eBay gave rather than computing it.)
    public var nextOffset: Int?
    public var hasNext: Bool { nextOffset != nil }
}

/// One order from the Fulfillment API's `getOrders` (eBay's `Order`, the fields we use).
public struct FulfillmentOrder: Sendable, Hashable {
    public var orderID: String
    /// `creationDate`, milliseconds since the epoch.
    public var creationDate: Int64
    /// `orderFulfillmentStatus`: `NOT_STARTED`, `IN_PROGRESS` or `FULFILLED`.
    public var fulfillmentStatus: String?
    /// `cancelStatus.cancelState`: `NONE_REQUESTED`, `IN_PROGRESS` or `CANCELED`.
    public var cancelState: String?
    /// `pricingSummary.deliveryCost`: shipping for the whole order.
    public var deliveryCost: Money?
    /// `fulfillmentStartInstructions[0].shippingStep.shipTo.contactAddress`.
    public var shipTo: Address?
    /// `fulfillmentStartInstructions[0].maxEstimatedDeliveryDate`, milliseconds since the epoch.
    public var maxEstimatedDeliveryDate: Int64?
    public var lineItems: [LineItem]

    /// eBay's `LineItem`, the fields we use.
    public struct LineItem: Sendable, Hashable {
        public var lineItemID: String
        /// Absent for listings not created with a SKU.
        public var sku: String?
        public var quantity: Int
        /// `lineItemCost`: unit price times quantity, before discounts.
        public var lineItemCost: Money?
        /// `deliveryCost.shippingCost`: shipping for every unit of the line (zero when free).
        public var shippingCost: Money?
        /// `lineItemFulfillmentStatus`: `NOT_STARTED`, `IN_PROGRESS` or `FULFILLED`.
        public var fulfillmentStatus: String?
        /// `lineItemFulfillmentInstructions.maxEstimatedDeliveryDate`, milliseconds since the epoch.
        public var maxEstimatedDeliveryDate: Int64?
    }

    /// eBay's `Address`, the fields we use.
    public struct Address: Sendable, Hashable {
        public var postalCode: String?
        public var city: String?
        public var stateOrProvince: String?
        public var countryCode: String?
    }
}

/// One page of `getOrders`.
public struct FulfillmentOrdersPage: Sendable, Hashable {
    public var orders: [FulfillmentOrder]
    /// Orders matching the filter, over every page.
    public var total: Int
    /// The record offset of this page's first order.
    public var offset: Int
    /// eBay's `next` URL is present exactly when another page exists.
    public var hasNext: Bool
}

/// One SKU's change for `bulkUpdatePriceQuantity` (eBay's `PriceQuantity`).
public struct PriceQuantityUpdate: Sendable, Hashable {
    public struct OfferChange: Sendable, Hashable {
        public var offerID: String
        public var availableQuantity: Int?
        public var price: Money?

        public init(offerID: String, availableQuantity: Int? = nil, price: Money? = nil) {
            self.offerID = offerID
            self.availableQuantity = availableQuantity
            self.price = price
        }
    }

    public var sku: String
    /// `shipToLocationAvailability.quantity`: the total quantity across marketplaces.
    public var shipToLocationQuantity: Int?
    public var offers: [OfferChange]

    public init(sku: String, shipToLocationQuantity: Int? = nil, offers: [OfferChange] = []) {
        self.sku = sku
        self.shipToLocationQuantity = shipToLocationQuantity
        self.offers = offers
    }
}

/// eBay's `ErrorDetailV3`, as found in error bodies and per-item results.
public struct EbayErrorDetail: Sendable, Hashable, Codable, CustomStringConvertible {
    public var errorId: Int?
    public var domain: String?
    public var category: String?
    public var message: String?
    public var longMessage: String?

    public init(errorId: Int?, domain: String? = nil, category: String? = nil, message: String?, longMessage: String? = nil) {
        self.errorId = errorId
        self.domain = domain
        self.category = category
        self.message = message
        self.longMessage = longMessage
    }

    public var description: String {
        let text = message ?? longMessage ?? "(no message)"
        return errorId.map { "eBay error \($0): \(text)" } ?? text
    }
}

/// One item's outcome in a `bulkUpdatePriceQuantity` response (eBay's `PriceQuantityResponse`).
public struct PriceQuantityResult: Sendable, Hashable {
    public var statusCode: Int
    public var sku: String?
    public var offerID: String?
    public var errors: [EbayErrorDetail]
    public var warnings: [EbayErrorDetail]

    public var succeeded: Bool { statusCode == 200 }
}

/// What a (chunked) bulk update did: the per-item results of every chunk that was answered,
/// and, if a chunk failed as a whole, the error and the updates whose outcome is not known.
public struct BulkUpdateOutcome: Sendable {
    public var results: [PriceQuantityResult]
    /// Calls made (one per chunk of at most 25 updates).
    public var calls: Int
    /// The failed chunk's updates (eBay may or may not have applied them) and every later
    /// chunk's (not sent); empty when every chunk was answered.
    public var unconfirmed: [PriceQuantityUpdate]
    public var failure: MarketplaceError?
}
