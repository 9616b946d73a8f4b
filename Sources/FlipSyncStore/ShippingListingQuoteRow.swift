import FlipSyncCore
import GRDB

/// One row of `shipping_listing_quotes`: one rate quoted for a listing to one destination. An
/// unknown marketplace or currency is an error naming the sweep, listing, destination and rate.
struct ShippingListingQuoteRow: Codable, LedgerRow {
    static let databaseTableName = "shipping_listing_quotes"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sweep_id", "marketplace", "listing_id", "postal_code", "source", "carrier", "service"]

    var sweepId: Int64
    var marketplace: Coded<MarketplaceName>
    var listingId: String
    var postalCode: String
    var source: String
    var carrier: String
    var service: String
    var serviceKey: String
    var amountMicros: Int64
    var currency: CurrencyCode
    var deliveryDays: Int?
    var billableOz: Int?
    var adequate: Bool
    var runId: Int64
    var quotedAt: Int64

    static func quotes(_ db: Database, sweep: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "sweep_id = ?", arguments: [sweep])
            .order(sql: "marketplace, listing_id, postal_code, amount_micros, carrier, service, source"))
    }

    var record: ListingQuoteRecord {
        ListingQuoteRecord(
            marketplace: marketplace.value, listingID: listingId, destinationPostalCode: postalCode, source: source, carrier: carrier,
            service: service, serviceKey: serviceKey, amountMicros: amountMicros, currency: currency.code, deliveryDays: deliveryDays,
            billableOunces: billableOz, adequate: adequate)
    }
}
