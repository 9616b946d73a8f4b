import FlipSyncCore

// Our values for the Shopify GraphQL Admin API's shapes. The wire structs (`ShopifyWire.*`) mirror Shopify's JSON field names
// exactly; the public values are what callers use, with money parsed exactly (never via
// Double) and ids as the numbers at the end of Shopify's GIDs (`gid://shopify/ProductVariant/N`).

/// One product variant (Shopify's `ProductVariant`, the fields we use) with its product and
/// inventory item.
public struct ShopifyVariant: Sendable, Hashable {
    public var variantID: Int64
    public var productID: Int64
    /// The product's title.
    public var productTitle: String?
    public var sku: String?
    public var price: Money
    /// Units available at the stock location (`inventoryLevel.quantities(names: ["available"])`);
    /// nil when the item is not stocked there.
    public var available: Int?
    /// The inventory item whose quantity `inventorySetQuantities` sets and whose `unitCost` is ours.
    public var inventoryItemID: Int64?
    /// The inventory item's unit cost, in the shop's currency; nil when none was entered.
    public var unitCost: Money?
    /// The barcode, UPC, or ISBN.
    public var barcode: String?
    public var weight: Double?
    /// `g`, `kg`, `oz` or `lb` (from GraphQL's `GRAMS`, `KILOGRAMS`, `OUNCES`, `POUNDS`).
    public var weightUnit: String?

    public init(variantID: Int64, productID: Int64, productTitle: String?, sku: String?, price: Money, available: Int?,
                inventoryItemID: Int64?, unitCost: Money? = nil, barcode: String?, weight: Double?, weightUnit: String?) {
        self.variantID = variantID
        self.productID = productID
        self.productTitle = productTitle
        self.sku = sku
        self.price = price
        self.available = available
        self.inventoryItemID = inventoryItemID
        self.unitCost = unitCost
        self.barcode = barcode
        self.weight = weight
        self.weightUnit = weightUnit
    }
}

/// One page of `productVariants` and the cursor of the next page.
public struct ShopifyVariantsPage: Sendable, Hashable {
    public var variants: [ShopifyVariant]
    /// `pageInfo.endCursor` when `hasNextPage`; nil on the last page.
    public var nextCursor: String?
}

/// What one batched `inventorySetQuantities` did: all applied; nothing, because the compares at
/// these indices were stale; or nothing, refused for another reason.
public enum ShopifyBatchInventorySet: Sendable, Hashable {
    case applied
    case stale(Set<Int>)
    /// Another user error; `index` is the quantity it names, if it names one.
    case refused(String, index: Int?)
}

/// What `inventorySetQuantities` did with one quantity.
public enum ShopifyInventorySet: Sendable, Hashable {
    case applied
    /// `COMPARE_QUANTITY_STALE`: the quantity is no longer the one compared (a concurrent sale
    /// or change); nothing was written.
    case stale
    /// Another user error: Shopify's code and message.
    case refused(String)
}

/// A location stock is kept at (Shopify's `Location`).
public struct ShopifyLocation: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var active: Bool
}

/// A shipping address's parts that rates and promises depend on.
public struct ShopifyAddress: Sendable, Hashable {
    public var zip: String?
    /// ISO 3166-2 subdivision code without the country, e.g. `NY`.
    public var provinceCode: String?
    /// ISO 3166-1 alpha-2, e.g. `US`.
    public var countryCode: String?
    public var city: String?
}

/// One line of an order (Shopify's `LineItem`).
public struct ShopifyLineItem: Sendable, Hashable {
    public var id: Int64
    public var variantID: Int64?
    public var sku: String?
    public var quantity: Int
    /// The unit price before discounts.
    public var price: Money
    /// `fulfilled` (nothing left to fulfil) or nil.
    public var fulfillmentStatus: String?
}

/// An order (Shopify's `Order`, the fields we use).
public struct ShopifyOrder: Sendable, Hashable {
    public var id: Int64
    /// The order's name as shown to the merchant, e.g. `#1001`.
    public var name: String?
    /// Milliseconds since the epoch (Shopify gives whole seconds).
    public var createdAt: Int64
    /// When it last changed, as Shopify wrote it (ISO 8601): the orders cursor.
    public var updatedAt: String
    public var currency: Currency
    public var lineItems: [ShopifyLineItem]
    /// `totalShippingPriceSet.shopMoney`: what the buyer paid for shipping.
    public var shipping: Money
    public var shippingAddress: ShopifyAddress?
    /// `fulfilled`, `partial` or nil (none fulfilled), from `displayFulfillmentStatus`.
    public var fulfillmentStatus: String?
    /// When it was cancelled, milliseconds since the epoch; nil if it was not.
    public var cancelledAt: Int64?
}

/// One page of the `orders` query and the cursor of the next page.
public struct ShopifyOrdersPage: Sendable, Hashable {
    public var orders: [ShopifyOrder]
    public var nextCursor: String?
}

/// A shipping zone (a delivery profile's `DeliveryLocationGroupZone`, the fields we use): where
/// it ships and its flat rates (`ShopifyClient.shippingZones()` says how they are read).
public struct ShopifyShippingZone: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var countries: [Country]
    public var weightRates: [WeightRate]
    public var priceRates: [PriceRate]
    /// Carrier-calculated rate providers (their rates are computed at checkout, not listed).
    public var carrierRateProviders: Int

    public struct Country: Sendable, Hashable {
        /// ISO 3166-1 alpha-2, or `*` for the rest of the world.
        public var code: String
        /// Empty: the whole country.
        public var provinceCodes: [String]
    }

    /// A rate for orders whose weight is within `lowGrams…highGrams` (no upper bound when nil).
    public struct WeightRate: Sendable, Hashable {
        public var name: String
        public var price: Money
        public var lowGrams: Int
        public var highGrams: Int?

        public func applies(grams: Int) -> Bool { grams >= lowGrams && highGrams.map { grams <= $0 } ?? true }
    }

    /// A rate for orders whose subtotal is within `minSubtotal…maxSubtotal` (open where nil).
    public struct PriceRate: Sendable, Hashable {
        public var name: String
        public var price: Money
        public var minSubtotal: Money?
        public var maxSubtotal: Money?

        public func applies(subtotal: Money) -> Bool {
            (minSubtotal.map { subtotal.micros >= $0.micros } ?? true) && (maxSubtotal.map { subtotal.micros <= $0.micros } ?? true)
        }
    }
}

/// Shopify's JSON, field for field.
enum ShopifyWire {
    // GraphQL envelope: `data`, `errors[]` and `extensions.cost`.
    struct ErrorsEnvelope: Decodable {
        var errors: [GraphQLError]?
        var extensions: Extensions?
    }
    struct DataEnvelope<T: Decodable>: Decodable { var data: T }
    struct GraphQLError: Decodable {
        struct Extensions: Decodable { var code: String? }
        var message: String
        var extensions: Extensions?
    }
    struct Extensions: Decodable { var cost: Cost? }
    struct Cost: Decodable {
        var requestedQueryCost: Double?
        var actualQueryCost: Double?
        var throttleStatus: ShopifyCostLimit.ThrottleStatus?
    }
    struct UserError: Decodable {
        var field: [String]?
        var message: String
        var code: String?
    }
    struct PageInfo: Decodable {
        var hasNextPage: Bool
        var endCursor: String?
    }
    struct Connection<Node: Decodable>: Decodable {
        var nodes: [Node]
        var pageInfo: PageInfo
    }
    struct Edge<Node: Decodable>: Decodable {
        var cursor: String
        var node: Node
    }
    /// A connection read through `edges`, for the cursor of each node.
    struct EdgeConnection<Node: Decodable>: Decodable {
        var edges: [Edge<Node>]
        var pageInfo: PageInfo
    }
    struct MoneyV2: Decodable {
        var amount: String
        var currencyCode: String
    }
    struct MoneyBag: Decodable { var shopMoney: MoneyV2 }

    struct VariantsData: Decodable { var productVariants: Connection<Variant> }
    struct VariantData: Decodable { var productVariant: Variant? }
    struct Variant: Decodable {
        struct Product: Decodable {
            var id: String
            var title: String?
        }
        var id: String
        var sku: String?
        var price: String
        var barcode: String?
        var product: Product
        var inventoryItem: InventoryItem?
    }
    struct InventoryItem: Decodable {
        struct Measurement: Decodable {
            struct Weight: Decodable {
                var unit: String
                var value: Double
            }
            var weight: Weight?
        }
        struct Level: Decodable {
            struct Quantity: Decodable {
                var name: String
                var quantity: Int
            }
            var quantities: [Quantity]
        }
        var id: String
        var unitCost: MoneyV2?
        var measurement: Measurement?
        var inventoryLevel: Level?
    }
    struct InventoryItemData: Decodable { var inventoryItem: InventoryItem? }

    struct CountData: Decodable {
        struct Count: Decodable { var count: Int }
        var productVariantsCount: Count
    }
    struct BulkRunData: Decodable {
        struct Payload: Decodable {
            struct Operation: Decodable { var id: String }
            var bulkOperation: Operation?
            var userErrors: [UserError]
        }
        var bulkOperationRunQuery: Payload?
    }
    struct BulkPollData: Decodable {
        struct Operation: Decodable {
            var id: String
            var status: String
            var errorCode: String?
            var url: String?
        }
        var currentBulkOperation: Operation?
    }

    struct LocationsData: Decodable { var locations: Connection<Location> }
    struct Location: Decodable {
        var id: String
        var name: String?
        var isActive: Bool?
    }

    struct BulkUpdateData: Decodable { var productVariantsBulkUpdate: MutationPayload? }
    struct SetQuantitiesData: Decodable { var inventorySetQuantities: MutationPayload? }
    struct MutationPayload: Decodable { var userErrors: [UserError] }

    struct OrdersData: Decodable { var orders: Connection<Order> }
    struct Order: Decodable {
        var id: String
        var name: String?
        var createdAt: String
        var updatedAt: String
        var cancelledAt: String?
        var displayFulfillmentStatus: String?
        var currencyCode: String?
        var totalShippingPriceSet: MoneyBag?
        var shippingAddress: Address?
        var lineItems: Connection<LineItem>
    }
    struct OrderLinesData: Decodable {
        struct Lines: Decodable { var lineItems: Connection<LineItem> }
        var order: Lines?
    }
    struct LineItem: Decodable {
        var id: String
        var sku: String?
        var quantity: Int
        var unfulfilledQuantity: Int?
        var originalUnitPriceSet: MoneyBag
    }
    struct Address: Decodable {
        var zip: String?
        var provinceCode: String?
        var countryCodeV2: String?
        var city: String?
    }

    // Delivery profiles (shipping zones).
    struct DeliveryProfilesData: Decodable { var deliveryProfiles: Connection<DeliveryProfile> }
    struct DeliveryProfile: Decodable {
        struct LocationGroup: Decodable {
            struct Group: Decodable { var id: String }
            var locationGroup: Group
        }
        var id: String
        var name: String?
        var profileLocationGroups: [LocationGroup]
    }
    struct DeliveryZonesData: Decodable {
        struct Profile: Decodable { var profileLocationGroups: [Group] }
        struct Group: Decodable { var locationGroupZones: EdgeConnection<LocationGroupZone> }
        var deliveryProfile: Profile?
    }
    /// `zoneRatesQuery`: one zone's id and a page of its rates.
    struct ZoneRatesData: Decodable {
        struct Profile: Decodable { var profileLocationGroups: [Group] }
        struct Group: Decodable { var locationGroupZones: Connections }
        struct Connections: Decodable { var nodes: [ZoneRates] }
        struct ZoneRates: Decodable {
            struct Zone: Decodable { var id: String }
            var zone: Zone
            var methodDefinitions: Connection<MethodDefinition>
        }
        var deliveryProfile: Profile?
    }
    struct LocationGroupZone: Decodable {
        struct Zone: Decodable {
            struct Country: Decodable {
                struct Code: Decodable {
                    var countryCode: String?
                    var restOfWorld: Bool
                }
                struct Province: Decodable { var code: String }
                var code: Code
                var provinces: [Province]?
            }
            var id: String
            var name: String
            var countries: [Country]
        }
        var zone: Zone
        var methodDefinitions: Connection<MethodDefinition>
    }
    struct MethodDefinition: Decodable {
        /// `DeliveryRateProvider`: `DeliveryRateDefinition` (a flat `price`) or `DeliveryParticipant` (carrier-calculated).
        struct RateProvider: Decodable {
            var __typename: String
            var price: MoneyV2?
        }
        struct Condition: Decodable {
            /// `DeliveryConditionCriteria`: `Weight` (`unit`, `value`) or `MoneyV2` (`amount`, `currencyCode`).
            struct Criteria: Decodable {
                var __typename: String
                var unit: String?
                var value: Double?
                var amount: String?
                var currencyCode: String?
            }
            var field: String
            var `operator`: String
            var conditionCriteria: Criteria
        }
        var id: String
        var name: String
        var active: Bool
        var rateProvider: RateProvider
        var methodConditions: [Condition]
    }
}
