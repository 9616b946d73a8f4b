import FlipSyncCore
import GRDB

/// One row of `listing_coverage`: when a listing was last checked, and by which sweep.
struct ListingCoverageRow: Codable, LedgerRow {
    static let databaseTableName = "listing_coverage"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    static let keyColumns = ["marketplace", "sku"]

    var marketplace: Coded<MarketplaceName>
    var sku: String
    var lastChecked: Int64
    var sweepId: Int64

    static func coverage(_ db: Database, marketplace: MarketplaceName) throws -> [Self] {
        try fetchAllNamed(db, filter(sql: "marketplace = ?", arguments: [marketplace.rawValue]))
    }

    var coverage: ListingCoverage { ListingCoverage(lastChecked: lastChecked, sweep: sweepId) }
}

extension ListingCoverageRow {
    /// Reads go through here, column by column (see `Row.code`), never through `Codable`.
    init(row: Row) throws {
        marketplace = try Coded(row: row, "marketplace")
        sku = try row.decode(forColumn: "sku")
        lastChecked = try row.decode(forColumn: "last_checked")
        sweepId = try row.decode(forColumn: "sweep_id")
    }
}
