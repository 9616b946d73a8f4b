import FlipSyncCore
import GRDB

/// A table of order cursors: one row per job and marketplace, where that job's orders read
/// stopped (`shipping_cursors`, `sync_cursors`).
protocol CursorTable: Sendable {
    static var tableName: String { get }
}

/// The shipping jobs' order cursors.
enum ShippingCursors: CursorTable { static let tableName = "shipping_cursors" }

/// The sync jobs' order cursors.
enum SyncCursors: CursorTable { static let tableName = "sync_cursors" }

/// One row of a cursor table (`Table`): where a job's orders read stopped on a marketplace. An
/// unknown marketplace, or text where the time is, is an error naming the table, job and
/// marketplace.
struct CursorRow<Table: CursorTable>: Codable, LedgerRow {
    static var databaseTableName: String { Table.tableName }
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
    static var keyColumns: [String] { ["job", "marketplace"] }

    var job: String
    var marketplace: Coded<MarketplaceName>
    var cursor: String?
    var updatedAt: Int64

    static func cursor(_ db: Database, job: String, marketplace: MarketplaceName) throws -> Self? {
        try fetchOneNamed(db, filter(sql: "job = ? AND marketplace = ?", arguments: [job, marketplace.rawValue]))
    }
}

extension CursorRow {
    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws {
        job = try row.decode(forColumn: "job")
        marketplace = try Coded(row: row, "marketplace")
        cursor = try row.decode(forColumn: "cursor")
        updatedAt = try row.decode(forColumn: "updated_at")
    }
}
