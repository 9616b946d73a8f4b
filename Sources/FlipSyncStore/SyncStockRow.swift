import FlipSyncCore
import GRDB

/// One row of `sync_stock`: a SKU's on-hand units, the sync's one source of truth.
struct SyncStockRow: Codable, LedgerRow {
    static let databaseTableName = "sync_stock"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["sku"]

    var sku: String
    var onHand: Int
    var seededFrom: String
    var seededAt: Int64
    var updatedAt: Int64

    static func all(_ db: Database) throws -> [Self] { try fetchAllNamed(db, all()) }
}

extension SyncStockRow {
    /// Reads go through here, column by column, never through `Codable`.
    init(row: Row) throws {
        sku = try row.decode(forColumn: "sku")
        onHand = try row.decode(forColumn: "on_hand")
        seededFrom = try row.decode(forColumn: "seeded_from")
        seededAt = try row.decode(forColumn: "seeded_at")
        updatedAt = try row.decode(forColumn: "updated_at")
    }
}
