import FlipSyncCore
import GRDB

/// One row of `sync_channel_quantities`: what a listing should show (last pushed or seen, less
/// its own orders since), for drift.
struct SyncChannelQuantityRow: Codable, LedgerRow {
    static let databaseTableName = "sync_channel_quantities"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["marketplace", "sku"]

    var marketplace: Coded<MarketplaceName>
    var sku: String
    var expected: Int
    var updatedAt: Int64

    static func quantities(_ db: Database, marketplace: MarketplaceName) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "marketplace = ?", arguments: [marketplace.rawValue]))
    }
}
