import FlipSyncCore
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

    /// The most rows one INSERT carries (and never more than 60,000 bound values).
    static let rowsPerStatement = 500

    public init(ledger: PostgresLedger) { session = ledger.session }

    // MARK: - Sweep listings

    static let listingColumns = ["sweep_id", "marketplace", "sku", "listing_id", "title", "gtin", "asin", "condition",
                                 "price_micros", "currency", "quantity", "shipping_micros"]

    /// The INSERTs of `listings` into a sweep's snapshot.
    static func listingInserts(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) -> [Statement] {
        inserts(into: "sweep_listings", columns: listingColumns, rows: listings.map { l in
            [.integer(sweep), .text(marketplace.rawValue), .text(l.sku), .text(l.listingID), .text(l.title), PostgresLedger.optional(l.gtin),
             PostgresLedger.optional(l.asin), .text(l.condition.rawValue), .integer(l.price.micros), .text(l.price.currency.code),
             .integer(Int64(l.quantity)), PostgresLedger.optional(l.shippingCharged?.micros)]
        })
    }

    public func saveSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) {
        try write([("DELETE FROM sweep_listings WHERE sweep_id = $1 AND marketplace = $2", [.integer(sweep), .text(marketplace.rawValue)])]
                  + Self.listingInserts(listings, sweep: sweep, marketplace: marketplace))
    }

    public func appendSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) {
        try write(Self.listingInserts(listings, sweep: sweep, marketplace: marketplace))
    }

    public func updateSweepListings(_ listings: [MarketplaceListing], removing: [String], sweep: Int64,
                                    marketplace: MarketplaceName) throws(LedgerError) {
        let skus = removing + listings.map(\.sku)
        var statements: [Statement] = []
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
            """, [.integer(sweep), .text(marketplace.rawValue)]).map { row throws(LedgerError) in try Self.listing(ColumnsByName(row)) }
    }

    /// A page of the snapshot: the listings after `after` in SKU byte order, `limit` of them.
    public func sweepListings(sweep: Int64, marketplace: MarketplaceName, after: String?, limit: Int) throws(LedgerError) -> [MarketplaceListing] {
        try session.query("""
            SELECT \(Self.listingColumns.joined(separator: ", ")) FROM sweep_listings
            WHERE sweep_id = $1 AND marketplace = $2 AND ($3::text IS NULL OR sku COLLATE "C" > $3::text COLLATE "C")
            ORDER BY sku COLLATE "C" LIMIT $4
            """, [.integer(sweep), .text(marketplace.rawValue), PostgresLedger.optional(after), .integer(Int64(Swift.max(0, limit)))])
            .map { row throws(LedgerError) in try Self.listing(ColumnsByName(row)) }
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
            .map { row throws(LedgerError) in try ColumnsByName(row).get("sku") }
    }

    public func sweepListing(sweep: Int64, marketplace: MarketplaceName, sku: String) throws(LedgerError) -> MarketplaceListing? {
        try session.query("""
            SELECT \(Self.listingColumns.joined(separator: ", ")) FROM sweep_listings WHERE sweep_id = $1 AND marketplace = $2 AND sku = $3
            """, [.integer(sweep), .text(marketplace.rawValue), .text(sku)]).first.map { row throws(LedgerError) in try Self.listing(ColumnsByName(row)) }
    }

    static func listing(_ row: ColumnsByName) throws(LedgerError) -> MarketplaceListing {
        try named("sweep_listings", row, key: ["sweep_id", "marketplace", "sku"]) { () throws(LedgerError) in
            let currency = try currency(row, "currency")
            return MarketplaceListing(
                marketplace: try code(row, "marketplace"), sku: try row.get("sku"), listingID: try row.get("listing_id"),
                gtin: try row.get("gtin"), asin: try row.get("asin"), title: try row.get("title"), condition: try code(row, "condition"),
                price: Money(micros: try row.get("price_micros"), currency: currency), quantity: Int(try row.get("quantity", as: Int64.self)),
                shippingCharged: try row.get("shipping_micros", as: Int64?.self).map { Money(micros: $0, currency: currency) })
        }
    }

    // MARK: - Unit costs

    public func saveUnitCosts(_ costs: [String: Money], source: String, at: Int64) throws(LedgerError) {
        try write(Self.inserts(into: "unit_costs", columns: ["sku", "cost_micros", "currency", "source", "updated_at"],
                               rows: costs.sorted { $0.key < $1.key }.map { sku, cost in
                                   [.text(sku), .integer(cost.micros), .text(cost.currency.code), .text(source), .integer(at)]
                               },
                               then: """
                                ON CONFLICT (sku) DO UPDATE SET cost_micros = excluded.cost_micros, currency = excluded.currency,
                                    source = excluded.source, updated_at = excluded.updated_at
                                """))
    }

    public func unitCosts() throws(LedgerError) -> [String: Money] {
        var costs: [String: Money] = [:]
        for raw in try session.query("SELECT sku, cost_micros, currency FROM unit_costs") {
            let (sku, cost) = try Self.unitCost(ColumnsByName(raw))
            costs[sku] = cost
        }
        return costs
    }

    public func unitCost(sku: String) throws(LedgerError) -> Money? {
        try session.query("SELECT sku, cost_micros, currency FROM unit_costs WHERE sku = $1", [.text(sku)]).first
            .map { row throws(LedgerError) in try Self.unitCost(ColumnsByName(row)).cost }
    }

    static func unitCost(_ row: ColumnsByName) throws(LedgerError) -> (sku: String, cost: Money) {
        try named("unit_costs", row, key: ["sku"]) { () throws(LedgerError) in
            (try row.get("sku"), Money(micros: try row.get("cost_micros"), currency: try currency(row, "currency")))
        }
    }

    // MARK: - Coverage

    public func coverage(marketplace: MarketplaceName) throws(LedgerError) -> [String: ListingCoverage] {
        var result: [String: ListingCoverage] = [:]
        for raw in try session.query("SELECT marketplace, sku, last_checked, sweep_id FROM listing_coverage WHERE marketplace = $1",
                                     [.text(marketplace.rawValue)]) {
            let row = ColumnsByName(raw)
            try Self.named("listing_coverage", row, key: ["marketplace", "sku"]) { () throws(LedgerError) in
                let _: MarketplaceName = try Self.code(row, "marketplace")
                result[try row.get("sku")] = ListingCoverage(lastChecked: try row.get("last_checked"), sweep: try row.get("sweep_id"))
            }
        }
        return result
    }

    public func markChecked(marketplace: MarketplaceName, skus: [String], sweep: Int64, at: Int64) throws(LedgerError) {
        // Each SKU once (an upsert may not touch a row twice), sorted (the lock order).
        try write(Self.inserts(into: "listing_coverage", columns: ["marketplace", "sku", "last_checked", "sweep_id"],
                               rows: Set(skus).sorted().map { [.text(marketplace.rawValue), .text($0), .integer(at), .integer(sweep)] },
                               then: "ON CONFLICT (marketplace, sku) DO UPDATE SET last_checked = excluded.last_checked, sweep_id = excluded.sweep_id"))
    }

    public func coverageCounts(sweep: Int64, marketplace: MarketplaceName) throws(LedgerError) -> SweepCoverageCounts {
        let rows = try session.query("""
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
        try session.query("SELECT started_at FROM runs WHERE id = $1", [.integer(runID)]).first?.get("started_at", as: Int64?.self)
    }

    /// Follows `resumes` back to the first run of the chain, in one statement; at most 1,000
    /// steps, as SQLite's loop. A run that does not exist is its own sweep.
    public func sweepID(ofRun runID: Int64) throws(LedgerError) -> Int64 {
        let rows = try session.query("""
            WITH RECURSIVE chain (id, resumes, depth) AS (
                SELECT id, resumes, 0 FROM runs WHERE id = $1
                UNION ALL
                SELECT r.id, r.resumes, c.depth + 1 FROM runs r JOIN chain c ON r.id = c.resumes WHERE c.depth < 999
            )
            SELECT COALESCE(resumes, id) AS sweep FROM chain ORDER BY depth DESC LIMIT 1
            """, [.integer(runID)])
        return try rows.first?.get("sweep", as: Int64.self) ?? runID
    }

    // MARK: - Helpers

    /// One row's columns by name, its lookup table built once per row (`PostgresRow.get` builds
    /// one per column read: most of the time of reading thousands of listings).
    struct ColumnsByName {
        let columns: PostgresRandomAccessRow

        init(_ row: PostgresRow) { columns = row.makeRandomAccess() }

        /// The column `name`, decoded (a wrong type is a storage error naming the column).
        func get<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(LedgerError) -> T {
            do { return try columns[name].decode(T.self) } catch { throw .storage("column \(name): \(error)") }
        }
    }

    /// One statement and its values.
    typealias Statement = (sql: String, values: [LedgerValue])

    /// The multi-row INSERTs that write `rows` (`columns.count` values each), `then` (an
    /// `ON CONFLICT` clause) after each.
    static func inserts(into table: String, columns: [String], rows: [[LedgerValue]], then clause: String = "") -> [Statement] {
        let width = columns.count
        let perStatement = max(1, min(rowsPerStatement, 60_000 / width))
        var statements: [Statement] = []
        var start = 0
        while start < rows.count {
            let end = min(start + perStatement, rows.count)
            var placeholders: [String] = []
            var values: [LedgerValue] = []
            values.reserveCapacity((end - start) * width)
            for (index, row) in rows[start..<end].enumerated() {
                precondition(row.count == width, "\(table): a row of \(row.count) values for \(width) columns")
                placeholders.append("(" + (1...width).map { "$\(index * width + $0)" }.joined(separator: ", ") + ")")
                values += row
            }
            statements.append(("INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(placeholders.joined(separator: ", ")) \(clause)",
                               values))
            start = end
        }
        return statements
    }

    /// Runs `statements` as one write: a lone one as it is (in a savepoint inside a `batch`),
    /// several in one transaction.
    func write(_ statements: [Statement]) throws(LedgerError) {
        switch statements.count {
        case 0: return
        case 1: try session.write(statements[0].sql, statements[0].values)
        default:
            try session.transaction { () throws(LedgerError) in
                for statement in statements { try session.query(statement.sql, statement.values) }
            }
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

    /// `body`'s value; a failure is an error naming `table` and the row's `key` columns.
    static func named<T>(_ table: String, _ row: ColumnsByName, key: [String], _ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        do {
            return try body()
        } catch {
            let named = key.map { column -> String in
                if let text = try? row.get(column, as: String?.self) { return "\(column) '\(text)'" }
                if let number = try? row.get(column, as: Int64?.self) { return "\(column) \(number)" }
                return "\(column) NULL"
            }.joined(separator: ", ")
            let reason = if case .storage(let message) = error { message } else { "\(error)" }
            throw .storage("\(table) row (\(named)) does not decode: \(reason)")
        }
    }

    /// The text `column` holds as one of `T`'s raw values, or "unknown <column> "<text>"".
    static func code<T: RawRepresentable>(_ row: ColumnsByName, _ column: String) throws(LedgerError) -> T where T.RawValue == String {
        let text = try row.get(column, as: String.self)
        guard let value = T(rawValue: text) else { throw .storage("unknown \(column) \"\(text)\"") }
        return value
    }

    /// A currency this build knows (never USD for one it does not).
    static func currency(_ row: ColumnsByName, _ column: String) throws(LedgerError) -> Currency {
        let code = try row.get(column, as: String.self)
        guard let currency = Currency(code: code) else { throw .storage("unknown \(column) \"\(code)\"") }
        return currency
    }

    /// `micros` in the currency of `currencyColumn`: both recorded or both NULL, never one alone.
    static func money(_ row: ColumnsByName, _ microsColumn: String, _ currencyColumn: String) throws(LedgerError) -> Money? {
        let micros = try row.get(microsColumn, as: Int64?.self)
        let code = try row.get(currencyColumn, as: String?.self)
        guard (micros == nil) == (code == nil) else {
            throw .storage("\(microsColumn): an amount without its currency, or a currency without an amount")
        }
        guard let micros, let code else { return nil }
        guard let currency = Currency(code: code) else { throw .storage("unknown \(currencyColumn) \"\(code)\"") }
        return Money(micros: micros, currency: currency)
    }
}
