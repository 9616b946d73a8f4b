import FlipSyncCore
import Foundation
import GRDB

/// One row of `competitor_items`: one competitor id a search found, at its position. A row that
/// does not decode is an error naming the marketplace, search key and item id.
struct CompetitorItemRow: Codable, LedgerRow {
    static let databaseTableName = "competitor_items"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["marketplace", "search_key", "item_id"]

    var marketplace: Coded<MarketplaceName>
    var searchKey: String
    var itemId: String
    var position: Int

    /// Every item a marketplace's searches found, by search key and in the order found.
    static func items(_ db: Database, marketplace: MarketplaceName) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "marketplace = ?", arguments: [marketplace.rawValue]).order(sql: "search_key, position"))
    }

    /// The items these searches found, by search key and in the order found; one statement.
    static func items(_ db: Database, marketplace: MarketplaceName, searchKeys: [String]) throws -> [Self] {
        let list = JSONText.array(searchKeys)
        return try fetchAllNamed(db, sql: """
            SELECT i.* FROM json_each(?) AS k CROSS JOIN competitor_items AS i
              ON i.marketplace = ? AND i.search_key = k.value
            ORDER BY i.search_key, i.position
            """, arguments: [list, marketplace.rawValue])
    }
}

extension CompetitorItemRow {
    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws {
        marketplace = try Coded(row: row, "marketplace")
        searchKey = try row.decode(forColumn: "search_key")
        itemId = try row.decode(forColumn: "item_id")
        position = try row.decode(forColumn: "position")
    }
}
