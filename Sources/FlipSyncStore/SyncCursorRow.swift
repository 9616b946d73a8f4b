import FlipSyncCore
import GRDB

/// One row of `sync_cursors`: where a sync job's orders read stopped on a marketplace.
struct SyncCursorRow: Codable, LedgerRow {
    static let databaseTableName = "sync_cursors"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["job", "marketplace"]

    var job: String
    var marketplace: Coded<MarketplaceName>
    var cursor: String?
    var updatedAt: Int64

    static func cursor(_ db: Database, job: String, marketplace: MarketplaceName) throws -> Self? {
        try fetchOneNamed(db, filter(sql: "job = ? AND marketplace = ?", arguments: [job, marketplace.rawValue]))
    }
}
