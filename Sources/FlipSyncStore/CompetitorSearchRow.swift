import FlipSyncCore
import Foundation
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
    /// one) is one of `subjects`: for each subject, the key itself and a range of the primary
    /// key (`subject|` up to `subject}`, `}` being the byte after `|`, keys compared bytewise).
    /// One statement; `CROSS JOIN` keeps the subjects the outer loop, so each is a search of
    /// the primary key (an `OR` of the two, or the planner's own order, scans every key).
    static func searches(_ db: Database, marketplace: MarketplaceName, subjects: [String]) throws -> [Self] {
        let list = JSONText.array(subjects)
        return try fetchAllNamed(db, sql: """
            SELECT s.* FROM json_each(?) AS j CROSS JOIN competitor_searches AS s
              ON s.marketplace = ? AND s.search_key = j.value
            UNION ALL
            SELECT s.* FROM json_each(?) AS j CROSS JOIN competitor_searches AS s
              ON s.marketplace = ? AND s.search_key >= j.value || '|' AND s.search_key < j.value || '}'
            """, arguments: [list, marketplace.rawValue, list, marketplace.rawValue])
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
