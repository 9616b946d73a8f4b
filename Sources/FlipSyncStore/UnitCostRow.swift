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

    var cost: Money { Money(micros: costMicros, currency: currency.currency) }
}
