import FlipSyncCore
import GRDB

/// One row of `sync_oversells`: an order line for more than was on hand. An unknown
/// marketplace is an error naming the row id, never a row left out.
struct SyncOversellRow: Codable, LedgerRow {
    static let databaseTableName = "sync_oversells"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["id"]

    var id: Int64
    var runId: Int64?
    var job: String
    var marketplace: Coded<MarketplaceName>
    var orderId: String
    var lineId: String
    var sku: String
    var ordered: Int
    var onHand: Int
    var at: Int64

    static func all(_ db: Database) throws -> [Self] { try fetchAllNamed(db, order(sql: "id")) }

    var oversell: Oversell {
        Oversell(marketplace: marketplace.value, orderID: orderId, lineID: lineId, sku: sku, ordered: ordered, onHand: onHand)
    }
}
