import FlipSyncCore

// Our values for the Shopify REST Admin API's shapes. The wire structs (`ShopifyWire.*`) mirror
// Shopify's JSON field names exactly; the public values are what callers use, with money
// parsed exactly (never via Double). Shopify's REST prices are decimal strings without a
// currency: product prices and costs are in the shop's currency, order amounts in the order's.

/// One product variant (Shopify's `ProductVariant`, the fields we use) with its product's title.
public struct ShopifyVariant: Sendable, Hashable {
    public var variantID: Int64
    public var productID: Int64
    /// The product's title (nil where the call returns the variant alone).
    public var productTitle: String?
    public var sku: String?
    public var price: Money
    /// Units available across locations, as Shopify totals them (read-only since 2023).
    public var inventoryQuantity: Int?
    /// The inventory item whose level `inventory_levels/set` changes and whose `cost` is ours.
    public var inventoryItemID: Int64?
    /// The barcode, UPC, or ISBN.
    public var barcode: String?
    public var grams: Int?
    public var weight: Double?
    /// `g`, `kg`, `oz` or `lb`.
    public var weightUnit: String?

    public init(variantID: Int64, productID: Int64, productTitle: String?, sku: String?, price: Money, inventoryQuantity: Int?,
                inventoryItemID: Int64?, barcode: String?, grams: Int?, weight: Double?, weightUnit: String?) {
        self.variantID = variantID
        self.productID = productID
        self.productTitle = productTitle
        self.sku = sku
        self.price = price
        self.inventoryQuantity = inventoryQuantity
        self.inventoryItemID = inventoryItemID
        self.barcode = barcode
        self.grams = grams
        self.weight = weight
        self.weightUnit = weightUnit
    }
}

/// One page of `products.json`, flattened to variants, and the cursor of the next page.
public struct ShopifyProductsPage: Sendable, Hashable {
    public var variants: [ShopifyVariant]
    /// `page_info` of the `Link: <…>; rel="next"` URL; nil on the last page.
    public var nextPageInfo: String?
}

/// An inventory item (Shopify's `InventoryItem`): our unit cost of one variant.
public struct ShopifyInventoryItem: Sendable, Hashable {
    public var id: Int64
    public var sku: String?
    /// The unit cost, in the shop's currency; nil when the merchant has not entered one.
    public var cost: Money?
}

/// A location stock is kept at (Shopify's `Location`).
public struct ShopifyLocation: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var active: Bool
}

/// An inventory item's available quantity at one location (Shopify's `InventoryLevel`).
public struct ShopifyInventoryLevel: Sendable, Hashable {
    public var inventoryItemID: Int64
    public var locationID: Int64
    public var available: Int?
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

/// One line of an order (Shopify's `line_items[]`).
public struct ShopifyLineItem: Sendable, Hashable {
    public var id: Int64
    public var variantID: Int64?
    public var sku: String?
    public var quantity: Int
    /// The unit price before discounts.
    public var price: Money
    /// `fulfilled`, `partial` or nil (not fulfilled).
    public var fulfillmentStatus: String?
}

/// An order (Shopify's `Order`, the fields we use).
public struct ShopifyOrder: Sendable, Hashable {
    public var id: Int64
    /// The order's name as shown to the merchant, e.g. `#1001`.
    public var name: String?
    /// Milliseconds since the epoch (Shopify gives whole seconds).
    public var createdAt: Int64
    public var currency: Currency
    public var lineItems: [ShopifyLineItem]
    /// The sum of `shipping_lines[].price`: what the buyer paid for shipping.
    public var shipping: Money
    public var shippingAddress: ShopifyAddress?
    /// `fulfilled`, `partial`, `restocked` or nil (none fulfilled).
    public var fulfillmentStatus: String?
    /// When it was cancelled, milliseconds since the epoch; nil if it was not.
    public var cancelledAt: Int64?
}

/// One page of `orders.json` and the cursor of the next page.
public struct ShopifyOrdersPage: Sendable, Hashable {
    public var orders: [ShopifyOrder]
    public var nextPageInfo: String?
}

/// A shipping zone (Shopify's `ShippingZone`, the fields we use): where it ships and its flat rates.
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
    struct ProductsResponse: Decodable { var products: [Product] }
    struct Product: Decodable {
        var id: Int64
        var title: String?
        var variants: [Variant]?
    }
    struct VariantResponse: Decodable { var variant: Variant }
    struct Variant: Decodable {
        var id: Int64
        var product_id: Int64
        var sku: String?
        var price: String
        var inventory_quantity: Int?
        var inventory_item_id: Int64?
        var barcode: String?
        var grams: Int?
        var weight: Double?
        var weight_unit: String?
    }
    struct VariantUpdate: Encodable {
        struct Fields: Encodable { var id: Int64; var price: String }
        var variant: Fields
    }

    struct LocationsResponse: Decodable { var locations: [Location] }
    struct Location: Decodable {
        var id: Int64
        var name: String?
        var active: Bool?
    }

    struct InventoryLevelSet: Encodable {
        var location_id: Int64
        var inventory_item_id: Int64
        var available: Int
    }
    struct InventoryLevelResponse: Decodable { var inventory_level: InventoryLevel }
    struct InventoryLevel: Decodable {
        var inventory_item_id: Int64
        var location_id: Int64
        var available: Int?
    }

    struct InventoryItemsResponse: Decodable { var inventory_items: [InventoryItem] }
    struct InventoryItem: Decodable {
        var id: Int64
        var sku: String?
        var cost: String?
    }

    struct OrdersResponse: Decodable { var orders: [Order] }
    struct Order: Decodable {
        var id: Int64
        var name: String?
        var created_at: String
        var currency: String?
        var fulfillment_status: String?
        var cancelled_at: String?
        var line_items: [LineItem]
        var shipping_lines: [ShippingLine]?
        var shipping_address: Address?
    }
    struct LineItem: Decodable {
        var id: Int64
        var variant_id: Int64?
        var sku: String?
        var quantity: Int
        var price: String
        var fulfillment_status: String?
    }
    struct ShippingLine: Decodable { var price: String }

    struct ShippingZonesResponse: Decodable { var shipping_zones: [ShippingZone] }
    struct ShippingZone: Decodable {
        struct Country: Decodable {
            struct Province: Decodable { var code: String? }
            var code: String
            var provinces: [Province]?
        }
        struct WeightRate: Decodable {
            var name: String?
            var price: String
            var weight_low: Double?
            var weight_high: Double?
        }
        struct PriceRate: Decodable {
            var name: String?
            var price: String
            var min_order_subtotal: String?
            var max_order_subtotal: String?
        }
        struct CarrierProvider: Decodable { var id: Int64? }
        var id: Int64
        var name: String?
        var countries: [Country]?
        var weight_based_shipping_rates: [WeightRate]?
        var price_based_shipping_rates: [PriceRate]?
        var carrier_shipping_rate_providers: [CarrierProvider]?
    }
    struct Address: Decodable {
        var zip: String?
        var province_code: String?
        var country_code: String?
        var city: String?
    }
}
