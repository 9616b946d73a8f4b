import FlipSyncCore
import GRDB

/// `ReportReading` on SQLite (read-only; every query a plain SELECT).
extension RunStore {
    public func runs(createdSince since: Int64) throws(LedgerError) -> [RunInfo] {
        try read { db in
            try RunRow.fetchAllNamed(db, RunRow.filter(sql: "created_at >= ?", arguments: [since]).order(sql: "id"), key: ["id"]).map(\.info)
        }
    }

    public func spendQuarterHours(since: Int64) throws(LedgerError) -> [SpendQuarterHour] {
        try read { db in
            guard try db.tableExists("spend") else { return [] }
            return try Row.fetchAll(db, sql: """
                SELECT at_ms / 900000 AS q, provider, COUNT(*) AS calls, SUM(cost_micros) AS micros, currency
                FROM spend WHERE at_ms >= ? GROUP BY q, provider, currency ORDER BY q, provider, currency
                """, arguments: [since]).map {
                SpendQuarterHour(quarterHour: $0["q"] as Int64, provider: $0["provider"] as String, calls: $0["calls"] as Int64,
                                 micros: $0["micros"] as Int64, currency: $0["currency"] as String)
            }
        }
    }

    public func sweepCoverage(since: Int64) throws(LedgerError) -> [SweepCoverage] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.sweep_id AS sweep, s.marketplace AS marketplace, COUNT(*) AS listings,
                       COUNT(d.sku) AS checked
                FROM sweep_listings s
                JOIN runs r ON r.id = s.sweep_id AND r.created_at >= ?
                LEFT JOIN decisions d ON d.sweep_id = s.sweep_id AND d.marketplace = s.marketplace AND d.sku = s.sku
                GROUP BY s.sweep_id, s.marketplace ORDER BY s.sweep_id, s.marketplace
                """, arguments: [since]).map {
                SweepCoverage(sweep: $0["sweep"] as Int64, marketplace: $0["marketplace"] as String, listings: $0["listings"] as Int,
                              checked: $0["checked"] as Int)
            }
        }
    }

    public func sweepTitles(sweep: Int64) throws(LedgerError) -> [String: String] {
        try read { db in
            Dictionary(uniqueKeysWithValues: try SweepListingRow.listings(db, sweep: sweep).map { ("\($0.marketplace.value.rawValue)/\($0.sku)", $0.title) })
        }
    }
}
