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
    init(row: Row) throws { try self.init(RecordColumns(row: row, names: Self.columns, start: nil)) }

    /// The columns in the order `init(row:startingAt:)` reads them.
    static let columns = ["sku", "cost_micros", "currency", "source", "updated_at"]

    /// The `columns` at `index` onwards of a join's row (`RepricingStore.decideInputs`).
    init(row: Row, startingAt index: Int) throws { try self.init(RecordColumns(row: row, names: Self.columns, start: index)) }

    private init(_ c: RecordColumns) throws {
        sku = try c.decode(0)
        costMicros = try c.decode(1)
        currency = CurrencyCode(try c.currency(2))
        source = try c.decode(3)
        updatedAt = try c.decode(4)
    }

    var cost: Money { Money(micros: costMicros, currency: currency.currency) }
}
