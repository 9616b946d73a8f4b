import FlipSyncCore
import GRDB

/// One row of `unit_costs`: what a SKU cost us, from where. An unknown currency is an error
/// naming the SKU, never USD.
struct UnitCostRow: Codable, LedgerRow {
    static let databaseTableName = "unit_costs"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sku"]

    var sku: String
    var costMicros: Int64
    var currency: CurrencyCode
    var source: String
    var updatedAt: Int64

    static func all(_ db: Database) throws -> [Self] { try fetchAllNamed(db, all()) }

    static func cost(_ db: Database, sku: String) throws -> Self? { try fetchOneNamed(db, filter(key: sku)) }

    /// `cost(_:sku:)` through a statement prepared once per connection (one read per sweep task).
    static func cachedCost(_ db: Database, sku: String) throws -> Self? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM unit_costs WHERE sku = ?"), arguments: [sku]).map { try named($0, key: keyColumns) }
    }

    /// The columns by name, not through `Codable` (a sweep reads one row per listing, and
    /// `Codable`'s keyed containers cost several times the read). Text where a number is, or a
    /// NULL, is GRDB's error naming the column, as through `Codable`.
    init(row: Row) throws {
        sku = try row.decode(forColumn: "sku")
        costMicros = try row.decode(forColumn: "cost_micros")
        currency = try CurrencyCode(row: row, "currency")
        source = try row.decode(forColumn: "source")
        updatedAt = try row.decode(forColumn: "updated_at")
    }

    var cost: Money { Money(micros: costMicros, currency: currency.currency) }
}
