import FlipSyncCore
import GRDB

/// One row of `competitor_searches`: when a search (marketplace and search key) last ran. A row
/// that does not decode is an error naming the marketplace and search key.
struct CompetitorSearchRow: Codable, LedgerRow {
    static let databaseTableName = "competitor_searches"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["marketplace", "search_key"]

    var marketplace: Coded<MarketplaceName>
    var searchKey: String
    var searchedAt: Int64

    static func searches(_ db: Database, marketplace: MarketplaceName) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "marketplace = ?", arguments: [marketplace.rawValue]))
    }

    /// The searches whose key's subject (its text before the first `|`, the whole key without
    /// one) is `subject`: the key itself, or a range of the primary key (`subject|` up to
    /// `subject}`, `}` being the byte after `|`, keys compared bytewise).
    static func searches(_ db: Database, marketplace: MarketplaceName, subject: String) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "marketplace = ? AND (search_key = ? OR (search_key >= ? AND search_key < ?))",
                                     arguments: [marketplace.rawValue, subject, subject + "|", subject + "}"]))
    }
}

extension CompetitorSearchRow {
    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws {
        marketplace = try Coded(row: row, "marketplace")
        searchKey = try row.decode(forColumn: "search_key")
        searchedAt = try row.decode(forColumn: "searched_at")
    }
}
