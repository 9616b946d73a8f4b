import FlipSyncCore
import FlipSyncStore
import Foundation
import PostgresNIO

/// The repricing sweep's state in PostgreSQL: each sweep's listings snapshot and decisions, unit
/// costs, listing coverage (`RepricingLedger`), each SKU's remembered offer (`OfferMemory`), the
/// competitor ids each search found (`CompetitorMemory`) and the LLM match cache (`MatchCache`),
/// in the same tables and under the same rules as the SQLite `RunStore` (`RepricingStore`,
/// `OfferStore`, `CompetitorStore`, `MatchStore`), for nodes sharing one database.
///
/// Writes of many rows are multi-row statements of at most `rowsPerStatement` rows (a page of
/// hundreds of listings is one or two round trips, not one per row), in one transaction with
/// whatever they replace. Upserts of many keys list them sorted, so two nodes writing overlapping
/// keys lock them in the same order. Lists of SKUs or ids are bound as one JSON array. Rows are
/// ordered by the bytes of their text (`COLLATE "C"`), as SQLite orders them, whatever the
/// database's collation. A row that does not decode (an unknown marketplace, currency, condition,
/// strategy, reason or exclusion, an amount without its currency) is an error naming the table and
/// the row's key, never a default.
public final class PostgresRepricingLedger: RepricingLedger, OfferMemory, CompetitorMemory, MatchCache, Sendable {
    let session: PostgresSession
    let metrics: LedgerMetrics
    /// Each run's sweep, once looked up.
    let sweeps = SweepIDCache()

    /// The most rows one INSERT carries (and never more than 60,000 bound values).
    static let rowsPerStatement = 500

    public init(ledger: PostgresLedger) {
        session = ledger.session
        metrics = ledger.metrics
    }

    // MARK: - Sweep listings

    static let listingColumns = ["sweep_id", "marketplace", "sku", "listing_id", "title", "gtin", "asin", "condition",
                                 "price_micros", "currency", "quantity", "shipping_micros"]

    /// The INSERTs of `listings` into a sweep's snapshot.
    static func listingInserts(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) -> [SQLStatement] {
        PostgresSession.inserts(into: "sweep_listings", columns: listingColumns, rows: listings.map { l in
            [.integer(sweep), .text(marketplace.rawValue), .text(l.sku), .text(l.listingID), .text(l.title), PostgresLedger.optional(l.gtin),
             PostgresLedger.optional(l.asin), .text(l.condition.rawValue), .integer(l.price.micros), .text(l.price.currency.code),
             .integer(Int64(l.quantity)), PostgresLedger.optional(l.shippingCharged?.micros)]
        }, rowsPerStatement: Self.rowsPerStatement)
    }

    public func saveSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) {
        try write([("DELETE FROM sweep_listings WHERE sweep_id = $1 AND marketplace = $2", [.integer(sweep), .text(marketplace.rawValue)])]
                  + Self.listingInserts(listings, sweep: sweep, marketplace: marketplace))
    }

    public func appendSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) {
        try write(Self.listingInserts(listings, sweep: sweep, marketplace: marketplace))
    }

    /// One statement when the rows fit one INSERT and no SKU is both replaced and removed: the
    /// listings upserted, the removed deleted in a data-modifying CTE (disjoint rows); else a
    /// transaction deleting then inserting.
    public func updateSweepListings(_ listings: [MarketplaceListing], removing: [String], sweep: Int64,
                                    marketplace: MarketplaceName) async throws(LedgerError) {
        guard !listings.isEmpty || !removing.isEmpty else { return }
        let inserts = Self.listingInserts(listings, sweep: sweep, marketplace: marketplace)
        if inserts.count <= 1, Set(removing).isDisjoint(with: listings.map(\.sku)), Set(listings.map(\.sku)).count == listings.count {
            let updates = Self.listingColumns.filter { !["sweep_id", "marketplace", "sku"].contains($0) }
                .map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            let deleting = "DELETE FROM sweep_listings WHERE sweep_id = $1 AND marketplace = $2 AND sku IN (SELECT json_array_elements_text($3::json))"
            let removal: [LedgerValue] = [.integer(sweep), .text(marketplace.rawValue), try Self.jsonList(removing)]
            if let insert = inserts.first {
                try await session.writeAsync("""
                    WITH removed AS (\(deleting) RETURNING 1)
                    \(PostgresSession.renumbered(insert.sql, by: removal.count)) ON CONFLICT (sweep_id, marketplace, sku) DO UPDATE SET \(updates)
                    """, removal + insert.values)
            } else {
                try await session.writeAsync(deleting, removal)
            }
            return
        }
        let skus = removing + listings.map(\.sku)
        var statements: [SQLStatement] = []
        if !skus.isEmpty {
            statements.append(("""
                DELETE FROM sweep_listings WHERE sweep_id = $1 AND marketplace = $2 AND sku IN (SELECT json_array_elements_text($3::json))
                """, [.integer(sweep), .text(marketplace.rawValue), try Self.jsonList(skus)]))
        }
        try write(statements + Self.listingInserts(listings, sweep: sweep, marketplace: marketplace))
    }

    public func sweepListings(sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) -> [MarketplaceListing] {
        try session.query("""
            SELECT \(Self.listingColumns.joined(separator: ", ")) FROM sweep_listings WHERE sweep_id = $1 AND marketplace = $2
            ORDER BY sku COLLATE "C"
            """, [.integer(sweep), .text(marketplace.rawValue)]).map { row throws(LedgerError) in try Self.listing(row) }
    }

    /// A page of the snapshot: the listings after `after` in SKU byte order, `limit` of them.
    public func sweepListings(sweep: Int64, marketplace: MarketplaceName, after: String?, limit: Int) throws(LedgerError) -> [MarketplaceListing] {
        try session.query("""
            SELECT \(Self.listingColumns.joined(separator: ", ")) FROM sweep_listings
            WHERE sweep_id = $1 AND marketplace = $2 AND ($3::text IS NULL OR sku COLLATE "C" > $3::text COLLATE "C")
            ORDER BY sku COLLATE "C" LIMIT $4
            """, [.integer(sweep), .text(marketplace.rawValue), PostgresLedger.optional(after), .integer(Int64(Swift.max(0, limit)))])
            .map { row throws(LedgerError) in try Self.listing(row) }
    }

    /// The selection's order computed in the database (SKUs only, `limit` of them), as SQLite's
    /// `RepricingStore` does: this sweep's checked first, then never checked, then oldest checked.
    public func sweepSKUsInCoverageOrder(sweep: Int64, marketplace: MarketplaceName, limit: Int) throws(LedgerError) -> [String] {
        try session.query("""
            SELECT l.sku FROM sweep_listings l
            LEFT JOIN listing_coverage c ON c.marketplace = l.marketplace AND c.sku = l.sku
            WHERE l.sweep_id = $1 AND l.marketplace = $2
            ORDER BY CASE WHEN c.sku IS NULL THEN 1 WHEN c.sweep_id = $1 THEN 0 ELSE 2 END,
                     CASE WHEN c.sku IS NULL OR c.sweep_id = $1 THEN 0 ELSE c.last_checked END,
                     l.sku COLLATE "C"
            LIMIT $3
            """, [.integer(sweep), .text(marketplace.rawValue), .integer(Int64(Swift.max(0, limit)))])
            .map { row throws(LedgerError) in try PostgresColumns(row).get("sku") }
    }

    public func sweepCheckedCount(sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) -> Int {
        let rows = try session.query("""
            SELECT COUNT(*) AS checked FROM sweep_listings l
            JOIN listing_coverage c ON c.marketplace = l.marketplace AND c.sku = l.sku AND c.sweep_id = $1
            WHERE l.sweep_id = $1 AND l.marketplace = $2
            """, [.integer(sweep), .text(marketplace.rawValue)])
        return Int(try rows.first.map { row throws(LedgerError) in try PostgresColumns(row).get("checked", as: Int64.self) } ?? 0)
    }

    public func sweepListing(sweep: Int64, marketplace: MarketplaceName, sku: String) throws(LedgerError) -> MarketplaceListing? {
        try session.query("""
            SELECT \(Self.listingColumns.joined(separator: ", ")) FROM sweep_listings WHERE sweep_id = $1 AND marketplace = $2 AND sku = $3
            """, [.integer(sweep), .text(marketplace.rawValue), .text(sku)]).first.map { row throws(LedgerError) in try Self.listing(row) }
    }

    /// One statement: the SKUs in their order, each joined to its snapshot row and unit cost.
    public func decideInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String]) async throws(LedgerError) -> [DecideInput] {
        guard !skus.isEmpty else { return [] }
        let columns = Self.listingColumns.filter { $0 != "sku" }.map { "l.\($0)" }.joined(separator: ", ")
        return try await session.queryAsync("""
            SELECT s.sku, \(columns), l.sku IS NOT NULL AS listed, u.cost_micros AS unit_cost_micros, u.currency AS unit_cost_currency
            FROM json_array_elements_text($3::json) WITH ORDINALITY AS s(sku, n)
            LEFT JOIN sweep_listings l ON l.sweep_id = $1 AND l.marketplace = $2 AND l.sku = s.sku
            LEFT JOIN unit_costs u ON u.sku = s.sku
            ORDER BY s.n
            """, [.integer(sweep), .text(marketplace.rawValue), try Self.jsonList(skus)]).map { row throws(LedgerError) in
            let columns = PostgresColumns(row)
            let sku: String = try columns.get("sku")
            let listing = try columns.get("listed", as: Bool.self) ? try Self.listing(row) : nil
            // A cost that does not decode names its table and SKU, as `unitCost(sku:)` does.
            let cost = try columns.decoding("unit_costs", key: ["sku"]) { row throws(LedgerError) -> Money? in
                guard let micros = try row.get("unit_cost_micros", as: Int64?.self) else { return nil }
                let code = try row.get("unit_cost_currency", as: String.self)
                guard let currency = Currency(code: code) else { throw .storage("unknown currency \"\(code)\"") }
                return Money(micros: micros, currency: currency)
            }
            return DecideInput(sku: sku, listing: listing, cost: cost)
        }
    }

    static func listing(_ row: PostgresRow) throws(LedgerError) -> MarketplaceListing {
        try PostgresColumns(row).decoding("sweep_listings", key: ["sweep_id", "marketplace", "sku"]) { row throws(LedgerError) in
            let currency = try row.currency("currency")
            return MarketplaceListing(
                marketplace: try row.code("marketplace"), sku: try row.get("sku"), listingID: try row.get("listing_id"),
                gtin: try row.get("gtin"), asin: try row.get("asin"), title: try row.get("title"), condition: try row.code("condition"),
                price: Money(micros: try row.get("price_micros"), currency: currency), quantity: Int(try row.get("quantity", as: Int64.self)),
                shippingCharged: try row.get("shipping_micros", as: Int64?.self).map { Money(micros: $0, currency: currency) })
        }
    }

    // MARK: - Unit costs

    public func saveUnitCosts(_ costs: [String: Money], source: String, at: Int64) throws(LedgerError) {
        try write(PostgresSession.inserts(into: "unit_costs", columns: ["sku", "cost_micros", "currency", "source", "updated_at"],
                               rows: costs.sorted { $0.key < $1.key }.map { sku, cost in
                                   [.text(sku), .integer(cost.micros), .text(cost.currency.code), .text(source), .integer(at)]
                               },
                               rowsPerStatement: Self.rowsPerStatement, then: """
                                ON CONFLICT (sku) DO UPDATE SET cost_micros = excluded.cost_micros, currency = excluded.currency,
                                    source = excluded.source, updated_at = excluded.updated_at
                                """))
    }

    public func unitCosts() throws(LedgerError) -> [String: Money] {
        var costs: [String: Money] = [:]
        for raw in try session.query("SELECT sku, cost_micros, currency FROM unit_costs") {
            let (sku, cost) = try Self.unitCost(raw)
            costs[sku] = cost
        }
        return costs
    }

    public func unitCost(sku: String) throws(LedgerError) -> Money? {
        try session.query("SELECT sku, cost_micros, currency FROM unit_costs WHERE sku = $1", [.text(sku)]).first
            .map { row throws(LedgerError) in try Self.unitCost(row).cost }
    }

    static func unitCost(_ row: PostgresRow) throws(LedgerError) -> (sku: String, cost: Money) {
        try PostgresColumns(row).decoding("unit_costs", key: ["sku"]) { row throws(LedgerError) in
            (try row.get("sku"), Money(micros: try row.get("cost_micros"), currency: try row.currency("currency")))
        }
    }

    // MARK: - Coverage

    public func coverage(marketplace: MarketplaceName) throws(LedgerError) -> [String: ListingCoverage] {
        var result: [String: ListingCoverage] = [:]
        for row in try session.rows("SELECT marketplace, sku, last_checked, sweep_id FROM listing_coverage WHERE marketplace = $1",
                                    [.text(marketplace.rawValue)]) {
            try row.decoding("listing_coverage", key: ["marketplace", "sku"]) { row throws(LedgerError) in
                let _: MarketplaceName = try row.code("marketplace")
                result[try row.get("sku")] = ListingCoverage(lastChecked: try row.get("last_checked"), sweep: try row.get("sweep_id"))
            }
        }
        return result
    }

    public func markChecked(marketplace: MarketplaceName, skus: [String], sweep: Int64, at: Int64) throws(LedgerError) {
        // Each SKU once (an upsert may not touch a row twice), sorted (the lock order).
        try write(PostgresSession.inserts(into: "listing_coverage", columns: ["marketplace", "sku", "last_checked", "sweep_id"],
                               rows: Set(skus).sorted().map { [.text(marketplace.rawValue), .text($0), .integer(at), .integer(sweep)] },
                               rowsPerStatement: Self.rowsPerStatement,
                               then: "ON CONFLICT (marketplace, sku) DO UPDATE SET last_checked = excluded.last_checked, sweep_id = excluded.sweep_id"))
    }

    public func coverageCounts(sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) -> SweepCoverageCounts {
        let rows = try session.rows("""
            SELECT COUNT(*) AS listings,
                   COUNT(d.sku) AS checked,
                   COUNT(*) FILTER (WHERE d.sku IS NULL AND c.sku IS NULL) AS never,
                   MIN(CASE WHEN d.sku IS NULL THEN c.last_checked END) AS oldest
            FROM sweep_listings l
            LEFT JOIN decisions d ON d.sweep_id = l.sweep_id AND d.marketplace = l.marketplace AND d.sku = l.sku
            LEFT JOIN listing_coverage c ON c.marketplace = l.marketplace AND c.sku = l.sku
            WHERE l.sweep_id = $1 AND l.marketplace = $2
            """, [.integer(sweep), .text(marketplace.rawValue)])
        guard let row = rows.first else { return SweepCoverageCounts(listings: 0, checked: 0, neverChecked: 0, oldestUnchecked: nil) }
        return SweepCoverageCounts(listings: Int(try row.get("listings", as: Int64.self)), checked: Int(try row.get("checked", as: Int64.self)),
                                   neverChecked: Int(try row.get("never", as: Int64.self)), oldestUnchecked: try row.get("oldest", as: Int64?.self))
    }

    // MARK: - Runs

    public func runStartedAt(runID: Int64) throws(LedgerError) -> Int64? {
        try session.rows("SELECT started_at FROM runs WHERE id = $1", [.integer(runID)]).first?.get("started_at", as: Int64?.self)
    }

    public func sweepID(ofRun runID: Int64) throws(LedgerError) -> Int64 {
        try sweeps.sweepID(ofRun: runID) { runID throws(LedgerError) in try PostgresLedger.sweepIDLookup(runID, in: session) }
    }

    // MARK: - Helpers

    /// ``write(_:)`` from async code: a lone statement through the session's pool (the caller
    /// suspends, holding no thread); several in one transaction as `write` runs them.
    func writeAsync(_ statements: [SQLStatement]) async throws(LedgerError) {
        if statements.count == 1 { try await session.writeAsync(statements[0].sql, statements[0].values) } else { try write(statements) }
    }

    /// Runs `statements` as one write: a lone one as it is (in a savepoint inside a `batch`),
    /// several in one transaction.
    func write(_ statements: [SQLStatement]) throws(LedgerError) {
        switch statements.count {
        case 0: return
        case 1: try session.write(statements[0].sql, statements[0].values)
        default:
            try session.transaction { () throws(LedgerError) -> Void in try session.query(statements) }
        }
    }

    /// `items` as one JSON array, for `IN (SELECT json_array_elements_text($n::json))`.
    static func jsonList(_ items: [String]) throws(LedgerError) -> LedgerValue {
        do {
            return .text(String(decoding: try JSONEncoder().encode(items), as: UTF8.self))
        } catch {
            throw .storage("cannot encode a list of \(items.count) keys: \(error)")
        }
    }
}
