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
    /// The columns in the order `init(row:startingAt:)` reads them.
    static let columns = ["sweep_id", "marketplace", "sku", "listing_id", "title", "gtin", "asin", "condition", "price_micros",
                          "currency", "quantity", "shipping_micros"]

    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws { try self.init(RecordColumns(row: row, names: Self.columns, start: nil)) }

    /// The `columns` at `index` onwards of a join's row (`RepricingStore.decideInputs`).
    init(row: Row, startingAt index: Int) throws { try self.init(RecordColumns(row: row, names: Self.columns, start: index)) }

    private init(_ c: RecordColumns) throws {
        sweepId = try c.decode(0)
        marketplace = Coded(try c.code(1))
        sku = try c.decode(2)
        listingId = try c.decode(3)
        title = try c.decode(4)
        gtin = try c.decode(5)
        asin = try c.decode(6)
        condition = Coded(try c.code(7))
        priceMicros = try c.decode(8)
        currency = CurrencyCode(try c.currency(9))
        quantity = try c.decode(10)
        shippingMicros = try c.decode(11)
    }
}
