import FlipSyncCore
import Foundation
import PostgresNIO

/// A sweep's decisions (`decisions`), as `RunStore` keeps them: one row per (sweep, marketplace,
/// SKU), replaced whole by a second save; the offers left out as a JSON object of counts keyed by
/// exclusion code, keys sorted (the same text SQLite stores).
extension PostgresRepricingLedger {
    static let decisionColumns = [
        "sweep_id", "marketplace", "sku", "listing_id", "currency", "old_price_micros", "new_price_micros", "floor_micros",
        "ceiling_micros", "lowest_competitor_micros", "buy_box_micros", "offers_considered", "offers_excluded", "strategy",
        "reason_code", "reason", "state", "api_result", "shipping_charged_micros",
    ]

    static var decisionSelect: String { "SELECT \(decisionColumns.joined(separator: ", ")) FROM decisions" }

    public func saveDecision(_ d: PricingDecision, sweep: Int64) async throws(LedgerError) {
        try await writeAsync(Self.decisionInserts([d], sweep: sweep))
        metrics.decision(marketplace: d.marketplace.rawValue, reason: d.reason.rawValue)
    }

    /// One statement where the rows fit (the decisions' INSERT and the coverage's, as two
    /// data-modifying CTEs: one round trip, one transaction); else the two in one transaction.
    public func saveDecisions(_ decisions: [PricingDecision], sweep: Int64, checkedAt: Int64) async throws(LedgerError) {
        guard !decisions.isEmpty else { return }
        let inserts = try Self.decisionInserts(decisions, sweep: sweep)
        // Each listing once (an upsert may not touch a row twice), sorted (the lock order).
        let checked = Set(decisions.map { "\($0.marketplace.rawValue)\u{0}\($0.sku)" }).sorted().map { key -> [LedgerValue] in
            let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            return [.text(parts[0]), .text(parts[1]), .integer(checkedAt), .integer(sweep)]
        }
        let coverage = PostgresSession.inserts(into: "listing_coverage", columns: ["marketplace", "sku", "last_checked", "sweep_id"],
                                               rows: checked, rowsPerStatement: Self.rowsPerStatement,
                                               then: "ON CONFLICT (marketplace, sku) DO UPDATE SET last_checked = excluded.last_checked, sweep_id = excluded.sweep_id")
        if inserts.count == 1, coverage.count == 1 {
            let offset = inserts[0].values.count
            try await session.writeAsync("""
                WITH d AS (\(inserts[0].sql) RETURNING 1), c AS (\(PostgresSession.renumbered(coverage[0].sql, by: offset)) RETURNING 1)
                SELECT (SELECT COUNT(*) FROM d) AS decided, (SELECT COUNT(*) FROM c) AS checked
                """, inserts[0].values + coverage[0].values)
        } else {
            try await writeAsync(inserts + coverage)
        }
        for d in decisions { metrics.decision(marketplace: d.marketplace.rawValue, reason: d.reason.rawValue) }
    }

    /// The INSERTs of `decisions` (each row replacing the one of its key whole, as SQLite's
    /// INSERT OR REPLACE does).
    static func decisionInserts(_ decisions: [PricingDecision], sweep: Int64) throws(LedgerError) -> [SQLStatement] {
        var rows: [[LedgerValue]] = []
        rows.reserveCapacity(decisions.count)
        for d in decisions {
            let excluded = CompetitorFilter.ExclusionReason.storedJSON(d.offersExcluded)
            rows.append([.integer(sweep), .text(d.marketplace.rawValue), .text(d.sku), .text(d.listingID), .text(d.oldPrice.currency.code),
                         .integer(d.oldPrice.micros), PostgresLedger.optional(d.newPrice?.micros), PostgresLedger.optional(d.floor?.micros),
                         PostgresLedger.optional(d.ceiling?.micros), PostgresLedger.optional(d.lowestCompetitorLanded?.micros),
                         PostgresLedger.optional(d.buyBox?.micros), .integer(Int64(d.offersConsidered)), .text(excluded),
                         .text(d.strategy.rawValue), .text(d.reason.rawValue), .text(d.explanation), .text(d.state.rawValue),
                         PostgresLedger.optional(d.apiResult), PostgresLedger.optional(d.shippingCharged?.micros)])
        }
        let keys: Set<String> = ["sweep_id", "marketplace", "sku"]
        // Every other column replaced: INSERT OR REPLACE's whole-row replacement.
        let updates = decisionColumns.filter { !keys.contains($0) }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        return PostgresSession.inserts(into: "decisions", columns: decisionColumns, rows: rows, rowsPerStatement: rowsPerStatement,
                                       then: "ON CONFLICT (sweep_id, marketplace, sku) DO UPDATE SET \(updates)")
    }

    public func decisions(sweep: Int64) throws(LedgerError) -> [PricingDecision] {
        try session.query("\(Self.decisionSelect) WHERE sweep_id = $1 ORDER BY marketplace COLLATE \"C\", sku COLLATE \"C\"", [.integer(sweep)])
            .map { row throws(LedgerError) in try Self.decision(row) }
    }

    public func decisions(sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws(LedgerError) -> [PricingDecision] {
        try session.query("""
            \(Self.decisionSelect) WHERE sweep_id = $1 AND marketplace = $2 AND sku IN (SELECT json_array_elements_text($3::json))
            ORDER BY sku COLLATE "C"
            """, [.integer(sweep), .text(marketplace.rawValue), try Self.jsonList(skus)]).map { row throws(LedgerError) in try Self.decision(row) }
    }

    public func changingDecisions(sweep: Int64, after: DecisionKey?, limit: Int) throws(LedgerError) -> [PricingDecision] {
        try session.query("""
            \(Self.decisionSelect)
            WHERE sweep_id = $1 AND (new_price_micros IS NOT NULL OR state IN ('planned', 'sending', 'applied', 'failed'))
            AND ($2::text IS NULL OR marketplace COLLATE "C" > $2::text COLLATE "C"
                 OR (marketplace = $2::text AND sku COLLATE "C" > $3::text COLLATE "C"))
            ORDER BY marketplace COLLATE "C", sku COLLATE "C" LIMIT $4
            """, [.integer(sweep), PostgresLedger.optional(after?.marketplace.rawValue), PostgresLedger.optional(after?.sku),
                  .integer(Int64(Swift.max(0, limit)))]).map { row throws(LedgerError) in try Self.decision(row) }
    }

    public func decisionCount(sweep: Int64) throws(LedgerError) -> Int {
        Int(try session.rows("SELECT COUNT(*) AS n FROM decisions WHERE sweep_id = $1", [.integer(sweep)]).first?.get("n", as: Int64.self) ?? 0)
    }

    public func decisionStates(sweep: Int64) throws(LedgerError) -> [PricingDecision.State: Int] {
        var counts: [PricingDecision.State: Int] = [:]
        for row in try session.rows("SELECT state, COUNT(*) AS n FROM decisions WHERE sweep_id = $1 GROUP BY state", [.integer(sweep)]) {
            let text = try row.get("state", as: String.self)
            guard let state = PricingDecision.State(rawValue: text) else {
                throw .storage("sweep \(sweep) has decisions in an unknown state \"\(text)\"")
            }
            counts[state] = Int(try row.get("n", as: Int64.self))
        }
        return counts
    }

    public func decidedListings(sweep: Int64) throws(LedgerError) -> Set<String> {
        var listings = Set<String>()
        for row in try session.rows("SELECT marketplace || '/' || sku AS listing FROM decisions WHERE sweep_id = $1", [.integer(sweep)]) {
            listings.insert(try row.get("listing", as: String.self))
        }
        return listings
    }

    /// One statement for every SKU: the state, and the API's result where `results` has one
    /// (a SKU without keeps the result it had).
    public func markDecisions(sweep: Int64, marketplace: MarketplaceName, skus: [String], state: PricingDecision.State,
                              results: [String: String]) async throws(LedgerError) {
        guard !skus.isEmpty else { return }
        let targets: String
        do {
            let list = skus.map { sku -> [String: String?] in ["sku": sku, "result": results[sku]] }
            targets = String(decoding: try JSONEncoder().encode(list), as: UTF8.self)
        } catch {
            throw .storage("cannot encode the results of \(skus.count) decisions: \(error)")
        }
        try await session.writeAsync("""
            UPDATE decisions d SET state = $1, api_result = COALESCE(x.result, d.api_result)
            FROM (SELECT DISTINCT ON (sku) sku, result FROM json_to_recordset($4::json) AS t (sku TEXT, result TEXT)) x
            WHERE d.sweep_id = $2 AND d.marketplace = $3 AND d.sku = x.sku
            """, [.text(state.rawValue), .integer(sweep), .text(marketplace.rawValue), .text(targets)])
        // Only the circuit breaker blocks a sweep's decisions: once per marketplace it stopped.
        if state == .blocked { metrics.breakerTrip(marketplace: marketplace.rawValue) }
    }

    static func decision(_ row: PostgresRow) throws(LedgerError) -> PricingDecision {
        try PostgresColumns(row).decoding("decisions", key: ["sweep_id", "marketplace", "sku"]) { row throws(LedgerError) in
            let currency = try row.currency("currency")
            func money(_ column: String) throws(LedgerError) -> Money? {
                try row.get(column, as: Int64?.self).map { Money(micros: $0, currency: currency) }
            }
            return PricingDecision(
                sku: try row.get("sku"), marketplace: try row.code("marketplace"), listingID: try row.get("listing_id"),
                oldPrice: Money(micros: try row.get("old_price_micros"), currency: currency), newPrice: try money("new_price_micros"),
                floor: try money("floor_micros"), ceiling: try money("ceiling_micros"),
                lowestCompetitorLanded: try money("lowest_competitor_micros"), buyBox: try money("buy_box_micros"),
                offersConsidered: Int(try row.get("offers_considered", as: Int64.self)),
                offersExcluded: try exclusions(try row.get("offers_excluded")), strategy: try row.code("strategy"),
                reason: try row.code("reason_code"), explanation: try row.get("reason"), shippingCharged: try money("shipping_charged_micros"),
                state: try row.code("state"), apiResult: try row.get("api_result"))
        }
    }

    /// `offers_excluded`: a JSON object of counts keyed by exclusion codes this build knows.
    static func exclusions(_ text: String) throws(LedgerError) -> [CompetitorFilter.ExclusionReason: Int] {
        guard let codes = try? JSONDecoder().decode([String: Int].self, from: Data(text.utf8)) else {
            throw .storage("offers_excluded is not an object of counts: \(text)")
        }
        var counts: [CompetitorFilter.ExclusionReason: Int] = [:]
        for (code, count) in codes {
            guard let reason = CompetitorFilter.ExclusionReason(rawValue: code) else { throw .storage("unknown exclusion \"\(code)\"") }
            counts[reason] = count
        }
        return counts
    }
}
