import FlipSyncCore
import GRDB

/// One row of `sync_pushes`: one change decided, then what became of it. An unknown
/// marketplace, currency or status is an error naming the push id, never a row left out.
/// Written by the prepared inserts and updates in `SyncStore.recordPlan` and `recordResults`.
struct SyncPushRow: Codable, LedgerRow {
    static let databaseTableName = "sync_pushes"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["id"]

    /// What became of a push.
    enum Status: String, Codable, Sendable {
        case intent, applied, failed
        case notSent = "not-sent"
    }

    var id: Int64
    var runId: Int64
    var job: String
    var marketplace: Coded<MarketplaceName>
    var sku: String
    var listingId: String
    var liveQuantity: Int
    var quantity: Int?
    var livePriceMicros: Int64
    var priceMicros: Int64?
    var currency: CurrencyCode
    var status: Status
    var error: String?
    var createdAt: Int64
    var finishedAt: Int64?

    /// Pushes in the order decided (all runs when `runID` is nil).
    static func pushes(_ db: Database, runID: Int64?) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "? IS NULL OR run_id = ?", arguments: [runID, runID]).order(sql: "id"))
    }

    var record: SyncStore.PushRecord {
        SyncStore.PushRecord(runID: runId, marketplace: marketplace.value, sku: sku, liveQuantity: liveQuantity, quantity: quantity,
                             priceMicros: priceMicros, status: status.rawValue, error: error)
    }
}
