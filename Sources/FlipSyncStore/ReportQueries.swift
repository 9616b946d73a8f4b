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
                SELECT at_ms / 900000 AS q, provider, COUNT(*) AS calls, SUM(cost_micros) AS micros, currency,
                       \(NotIntegers.counted("cost_micros"))
                FROM spend WHERE at_ms >= ? GROUP BY q, provider, currency ORDER BY q, provider, currency
                """, arguments: [since]).map {
                try NotIntegers.check($0, table: "spend", column: "cost_micros")
                return SpendQuarterHour(quarterHour: try $0.decode(forColumn: "q"), provider: try $0.decode(forColumn: "provider"),
                                        calls: try $0.decode(forColumn: "calls"), micros: try $0.decode(forColumn: "micros"),
                                        currency: try $0.decode(forColumn: "currency"))
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
                SweepCoverage(sweep: try $0.decode(forColumn: "sweep"), marketplace: try $0.decode(forColumn: "marketplace"),
                              listings: try $0.decode(forColumn: "listings"), checked: try $0.decode(forColumn: "checked"))
            }
        }
    }

    public func sweepTitles(sweep: Int64) throws(LedgerError) -> [String: String] {
        try read { db in
            Dictionary(uniqueKeysWithValues: try SweepListingRow.listings(db, sweep: sweep).map { ("\($0.marketplace.value.rawValue)/\($0.sku)", $0.title) })
        }
    }
}
