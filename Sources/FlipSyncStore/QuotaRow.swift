import FlipSyncCore
import GRDB

/// One row of `quota`: calls counted for one provider, API and quota window (milliseconds since
/// the epoch). A row that does not decode is an error naming the provider, API and window.
/// `QuotaStore.consume` and `markExhausted` keep their prepared check-and-count statements.
struct QuotaRow: Codable, LedgerRow {
    static let databaseTableName = "quota"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["provider", "api", "window_start"]

    var provider: String
    var api: String
    var windowStart: Int64
    var windowEnd: Int64
    var used: Int64
    var quotaLimit: Int64?
    var exhaustedUntil: Int64?

    /// Windows still open at `now`, oldest first.
    static func open(_ db: Database, now: Int64) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "window_end > ?", arguments: [now]).order(sql: "window_start"))
    }

    var key: QuotaKey { QuotaKey(provider: provider, api: api) }
}
