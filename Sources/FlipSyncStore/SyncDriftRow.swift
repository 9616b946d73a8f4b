import FlipSyncCore
import GRDB

/// One row of `sync_drift`: a listing found showing other than expected, per run. An unknown
/// marketplace is an error naming the row id, never a row left out.
struct SyncDriftRow: Codable, LedgerRow {
    static let databaseTableName = "sync_drift"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["id"]

    var id: Int64
    var runId: Int64
    var job: String
    var marketplace: Coded<MarketplaceName>
    var sku: String
    var live: Int
    var expected: Int
    var target: Int
    var at: Int64

    static func drift(_ db: Database, runID: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "run_id = ?", arguments: [runID]).order(sql: "id"))
    }

    var drift: Drift { Drift(sku: sku, live: live, expected: expected, target: target) }
}
