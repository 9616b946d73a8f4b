import FlipSyncCore
import GRDB

/// One row of `shipping_cursors`: where a shipping job's orders read stopped on a marketplace.
struct ShippingCursorRow: Codable, LedgerRow {
    static let databaseTableName = "shipping_cursors"
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
