import FlipSyncCore
import GRDB

/// One row of `shipping_listings`: a listing's shipping settings as a sweep read them. An
/// unknown marketplace or currency, or an amount without its currency, is an error naming the
/// sweep, marketplace and listing, never eBay or a dropped amount.
struct ShippingListingRow: Codable, LedgerRow {
    static let databaseTableName = "shipping_listings"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sweep_id", "marketplace", "listing_id"]

    var sweepId: Int64
    var marketplace: Coded<MarketplaceName>
    var listingId: String
    var sku: String
    var priceMicros: Int64?
    var priceCurrency: CurrencyCode?
    var chargeMicros: Int64?
    var chargeCurrency: CurrencyCode?
    var handlingDays: Int?
    var serviceKey: String?
    var policy: String
    var note: String?
    var runId: Int64
    var recordedAt: Int64

    func check() throws {
        try pair(priceMicros, priceCurrency, "price_micros")
        try pair(chargeMicros, chargeCurrency, "charge_micros")
    }

    /// A sweep's listings with no verdict yet.
    static func unjudged(_ db: Database, sweep: Int64) throws -> [Self] {
        try fetchAllNamed(db, sql: """
            SELECT l.* FROM shipping_listings l
            LEFT JOIN shipping_listing_verdicts v
              ON v.sweep_id = l.sweep_id AND v.marketplace = l.marketplace AND v.listing_id = l.listing_id
            WHERE v.sweep_id IS NULL AND l.sweep_id = ?
            ORDER BY l.marketplace, l.listing_id
            """, arguments: [sweep])
    }

    static func listing(_ db: Database, sweep: Int64, marketplace: MarketplaceName, listingID: String) throws -> Self? {
        try fetchOneNamed(db, filter(sql: "sweep_id = ? AND marketplace = ? AND listing_id = ?",
                                     arguments: [sweep, marketplace.rawValue, listingID]))
    }

    var listing: ListingShipping {
        ListingShipping(
            marketplace: marketplace.value, sku: sku, listingID: listingId, price: money(priceMicros, priceCurrency),
            charge: money(chargeMicros, chargeCurrency), handlingDays: handlingDays, serviceKey: serviceKey, policy: policy, note: note)
    }
}
