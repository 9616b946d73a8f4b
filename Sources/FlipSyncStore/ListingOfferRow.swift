import FlipSyncCore
import GRDB

/// One row of `listing_offers`: a SKU's published offer as last read or set. An unknown
/// marketplace or currency, or a price or shipping cost without its currency, is an error naming
/// the marketplace and SKU, never a dropped amount.
struct ListingOfferRow: Codable, LedgerRow {
    static let databaseTableName = "listing_offers"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["marketplace", "sku"]

    var marketplace: Coded<MarketplaceName>
    var sku: String
    var offerId: String
    var marketplaceId: String?
    var priceMicros: Int64?
    var priceCurrency: CurrencyCode?
    var availableQuantity: Int?
    var shippingMicros: Int64?
    var shippingCurrency: CurrencyCode?
    var fulfillmentPolicyId: String?
    var updatedAt: Int64

    static func offers(_ db: Database, marketplace: MarketplaceName) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "marketplace = ?", arguments: [marketplace.rawValue]))
    }

    /// These SKUs' rows (a SKU given twice, its row twice), through one prepared statement
    /// whatever their count: a decide task reads its listings' offers on its path, and an
    /// `IN (?, …)` of its own length was a statement prepared on every read.
    static func offers(_ db: Database, marketplace: MarketplaceName, skus: [String]) throws -> [Self] {
        try fetchAllNamed(db, cachedSQL: offersOfSKUs, arguments: [JSONText.array(skus), marketplace.rawValue])
    }

    /// `CROSS JOIN` keeps the SKUs' list the outer loop, each SKU one primary-key lookup; with a
    /// plain `JOIN` SQLite walked every offer of the marketplace and the list for each.
    static let offersOfSKUs = """
        SELECT o.* FROM json_each(?) AS j CROSS JOIN listing_offers AS o WHERE o.marketplace = ? AND o.sku = j.value
        """

    func check() throws {
        try pair(priceMicros, priceCurrency, "price_micros")
        try pair(shippingMicros, shippingCurrency, "shipping_micros")
    }

    var offer: RememberedOffer {
        RememberedOffer(sku: sku, offerID: offerId, marketplaceID: marketplaceId, price: money(priceMicros, priceCurrency),
                        availableQuantity: availableQuantity, domesticShippingCost: money(shippingMicros, shippingCurrency),
                        fulfillmentPolicyID: fulfillmentPolicyId, updatedAt: updatedAt)
    }
}

extension ListingOfferRow {
    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws {
        marketplace = try Coded(row: row, "marketplace")
        sku = try row.decode(forColumn: "sku")
        offerId = try row.decode(forColumn: "offer_id")
        marketplaceId = try row.decode(forColumn: "marketplace_id")
        priceMicros = try row.decode(forColumn: "price_micros")
        priceCurrency = try CurrencyCode.optional(row: row, "price_currency")
        availableQuantity = try row.decode(forColumn: "available_quantity")
        shippingMicros = try row.decode(forColumn: "shipping_micros")
        shippingCurrency = try CurrencyCode.optional(row: row, "shipping_currency")
        fulfillmentPolicyId = try row.decode(forColumn: "fulfillment_policy_id")
        updatedAt = try row.decode(forColumn: "updated_at")
    }
}
