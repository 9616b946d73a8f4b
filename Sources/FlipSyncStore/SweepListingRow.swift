import FlipSyncCore
import GRDB

/// One row of `sweep_listings`: a listing as a repricing sweep saw it. An unknown marketplace,
/// currency or condition is an error naming the sweep, marketplace and SKU, never a guess.
struct SweepListingRow: Codable, LedgerRow {
    static let databaseTableName = "sweep_listings"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sweep_id", "marketplace", "sku"]

    var sweepId: Int64
    var marketplace: Coded<MarketplaceName>
    var sku: String
    var listingId: String
    var title: String
    var gtin: String?
    var asin: String?
    var condition: Coded<ItemCondition>
    var priceMicros: Int64
    var currency: CurrencyCode
    var quantity: Int
    var shippingMicros: Int64?

    /// A sweep's listings on one marketplace, by SKU.
    static func listings(_ db: Database, sweep: Int64, marketplace: MarketplaceName) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "sweep_id = ? AND marketplace = ?", arguments: [sweep, marketplace.rawValue]).order(sql: "sku"))
    }

    static func listings(_ db: Database, sweep: Int64, marketplace: MarketplaceName, after: String?, limit: Int) throws -> [Self] {
        let request = after.map {
            filter(sql: "sweep_id = ? AND marketplace = ? AND sku > ?", arguments: [sweep, marketplace.rawValue, $0])
        } ?? filter(sql: "sweep_id = ? AND marketplace = ?", arguments: [sweep, marketplace.rawValue])
        return try fetchAllNamed(db, request.order(sql: "sku").limit(Swift.max(0, limit)))
    }

    static func listing(_ db: Database, sweep: Int64, marketplace: MarketplaceName, sku: String) throws -> Self? {
        try fetchOneNamed(db, filter(sql: "sweep_id = ? AND marketplace = ? AND sku = ?", arguments: [sweep, marketplace.rawValue, sku]))
    }

    /// `listing(_:sweep:marketplace:sku:)` through a statement prepared once per connection: a
    /// sweep's decide wave reads one listing per task.
    static func cachedListing(_ db: Database, sweep: Int64, marketplace: MarketplaceName, sku: String) throws -> Self? {
        let statement = try db.cachedStatement(sql: "SELECT * FROM sweep_listings WHERE sweep_id = ? AND marketplace = ? AND sku = ?")
        return try Row.fetchOne(statement, arguments: [sweep, marketplace.rawValue, sku]).map { try named($0, key: keyColumns) }
    }

    static func listings(_ db: Database, sweep: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "sweep_id = ?", arguments: [sweep]).order(sql: "marketplace, sku"))
    }

    var listing: MarketplaceListing {
        MarketplaceListing(
            marketplace: marketplace.value, sku: sku, listingID: listingId, gtin: gtin, asin: asin, title: title,
            condition: condition.value, price: Money(micros: priceMicros, currency: currency.currency), quantity: quantity,
            shippingCharged: shippingMicros.map { Money(micros: $0, currency: currency.currency) })
    }
}

extension SweepListingRow {
    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws {
        sweepId = try row.decode(forColumn: "sweep_id")
        marketplace = try Coded(row: row, "marketplace")
        sku = try row.decode(forColumn: "sku")
        listingId = try row.decode(forColumn: "listing_id")
        title = try row.decode(forColumn: "title")
        gtin = try row.decode(forColumn: "gtin")
        asin = try row.decode(forColumn: "asin")
        condition = try Coded(row: row, "condition")
        priceMicros = try row.decode(forColumn: "price_micros")
        currency = try CurrencyCode(row: row, "currency")
        quantity = try row.decode(forColumn: "quantity")
        shippingMicros = try row.decode(forColumn: "shipping_micros")
    }
}
