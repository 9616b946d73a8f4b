import FlipSyncCore
import FlipSyncStore
import PostgresNIO

/// What `flipsyncctl report` and `spend --llm-savings` read (`ReportReading`), from PostgreSQL:
/// the same rows as SQLite's `RunStore` in the same order (text by its bytes, `COLLATE "C"`),
/// sums exact in BIGINT micro-units (an overflow is an error, never a rounded sum). Read-only.
public struct PostgresReports: ReportReading {
    private let ledger: PostgresLedger
    private let repricing: PostgresRepricingLedger
    private var session: PostgresSession { ledger.session }

    public init(ledger: PostgresLedger) {
        self.ledger = ledger
        repricing = PostgresRepricingLedger(ledger: ledger)
    }

    public func run(id: Int64) throws(LedgerError) -> RunInfo? { try ledger.run(id: id) }

    public func decisions(sweep: Int64) throws(LedgerError) -> [PricingDecision] { try repricing.decisions(sweep: sweep) }

    public func sweepTitles(sweep: Int64) throws(LedgerError) -> [String: String] {
        var titles: [String: String] = [:]
        for row in try session.rows("SELECT marketplace, sku, title FROM sweep_listings WHERE sweep_id = $1", [.integer(sweep)]) {
            let marketplace = try row.code("marketplace", as: MarketplaceName.self)
            titles["\(marketplace.rawValue)/\(try row.get("sku", as: String.self))"] = try row.get("title", as: String.self)
        }
        return titles
    }

    public func runs(createdSince since: Int64) throws(LedgerError) -> [RunInfo] {
        try session.query("SELECT \(PostgresLedger.runColumns) FROM runs WHERE created_at >= $1 ORDER BY id", [.integer(since)])
            .map { row throws(LedgerError) in try PostgresLedger.runInfo(row) }
    }

    public func spendQuarterHours(since: Int64) throws(LedgerError) -> [SpendQuarterHour] {
        try session.rows("""
            SELECT at_ms / 900000 AS q, provider, COUNT(*)::BIGINT AS calls, SUM(cost_micros)::BIGINT AS micros, currency
            FROM spend WHERE at_ms >= $1 GROUP BY 1, 2, 5 ORDER BY q, provider COLLATE "C", currency COLLATE "C"
            """, [.integer(since)]).map { row throws(LedgerError) in
            SpendQuarterHour(quarterHour: try row.get("q"), provider: try row.get("provider"), calls: try row.get("calls"),
                             micros: try row.get("micros"), currency: try row.get("currency"))
        }
    }

    public func sweepCoverage(since: Int64) throws(LedgerError) -> [SweepCoverage] {
        try session.rows("""
            SELECT s.sweep_id AS sweep, s.marketplace AS marketplace, COUNT(*)::BIGINT AS listings, COUNT(d.sku)::BIGINT AS checked
            FROM sweep_listings s
            JOIN runs r ON r.id = s.sweep_id AND r.created_at >= $1
            LEFT JOIN decisions d ON d.sweep_id = s.sweep_id AND d.marketplace = s.marketplace AND d.sku = s.sku
            GROUP BY s.sweep_id, s.marketplace ORDER BY s.sweep_id, s.marketplace COLLATE "C"
            """, [.integer(since)]).map { row throws(LedgerError) in
            SweepCoverage(sweep: try row.get("sweep"), marketplace: try row.get("marketplace"),
                          listings: Int(try row.get("listings", as: Int64.self)), checked: Int(try row.get("checked", as: Int64.self)))
        }
    }

    public func llmSavings(since: Int64, premiumInputPerMillion: Money, premiumOutputPerMillion: Money) throws -> LLMSavings {
        let calls = try session.rows("""
            SELECT provider, served_from_cache, input_tokens, output_tokens, cost_micros FROM spend
            WHERE \(LLMSavings.matchCallsFilter(at: "$1")) ORDER BY id
            """, [.integer(since)]).map { row throws(LedgerError) in
            LLMSavings.Call(provider: try row.get("provider"), servedFromCache: try row.flag("served_from_cache"),
                            inputTokens: try row.get("input_tokens"), outputTokens: try row.get("output_tokens"),
                            costMicros: try row.get("cost_micros"))
        }
        return LLMSavings(calls: calls, premiumInputPerMillion: premiumInputPerMillion, premiumOutputPerMillion: premiumOutputPerMillion)
    }
}
