import FlipSyncCore
import GRDB

/// What `flipsyncctl report` reads from the ledger (read-only; every query a plain SELECT).
extension RunStore {
    /// Runs created at or after `since` (wall milliseconds), oldest first.
    public func runs(createdSince since: Int64) throws(LedgerError) -> [RunInfo] {
        try read { db in
            try RunRow.fetchAllNamed(db, RunRow.filter(sql: "created_at >= ?", arguments: [since]).order(sql: "id"), key: ["id"]).map(\.info)
        }
    }

    /// Spend since `since` by provider and quarter-hour (`at_ms / 900000`), in the ledger's
    /// currencies: quarter-hours fall within one local day in every zone, so the caller buckets
    /// them into local days.
    public func spendQuarterHours(since: Int64) throws(LedgerError) -> [(quarterHour: Int64, provider: String, calls: Int64, micros: Int64, currency: String)] {
        try read { db in
            guard try db.tableExists("spend") else { return [] }
            return try Row.fetchAll(db, sql: """
                SELECT at_ms / 900000 AS q, provider, COUNT(*) AS calls, SUM(cost_micros) AS micros, currency
                FROM spend WHERE at_ms >= ? GROUP BY q, provider, currency ORDER BY q, provider
                """, arguments: [since]).map { ($0["q"], $0["provider"], $0["calls"], $0["micros"], $0["currency"]) }
        }
    }

    /// For each repricing sweep (run id) created at or after `since`: listings in its snapshot
    /// and listings it decided (checked), by marketplace.
    public func sweepCoverage(since: Int64) throws(LedgerError) -> [(sweep: Int64, marketplace: String, listings: Int, checked: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.sweep_id AS sweep, s.marketplace AS marketplace, COUNT(*) AS listings,
                       COUNT(d.sku) AS checked
                FROM sweep_listings s
                JOIN runs r ON r.id = s.sweep_id AND r.created_at >= ?
                LEFT JOIN decisions d ON d.sweep_id = s.sweep_id AND d.marketplace = s.marketplace AND d.sku = s.sku
                GROUP BY s.sweep_id, s.marketplace ORDER BY s.sweep_id, s.marketplace
                """, arguments: [since]).map { ($0["sweep"], $0["marketplace"], $0["listings"], $0["checked"]) }
        }
    }

    /// The titles of a sweep's listings by marketplace and SKU (untrusted text from the channels).
    public func sweepTitles(sweep: Int64) throws(LedgerError) -> [String: String] {
        try read { db in
            Dictionary(uniqueKeysWithValues: try SweepListingRow.listings(db, sweep: sweep).map { ("\($0.marketplace.value.rawValue)/\($0.sku)", $0.title) })
        }
    }
}
