import FlipSyncCore
import Foundation
import GRDB

/// The repricing tables: each sweep's listings snapshot and decisions, and unit costs.
extension RunStore: RepricingLedger {
    static func registerRepricingMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m04-repricing: listings, decisions, unit costs") { db in
            try db.execute(sql: """
                CREATE TABLE sweep_listings (
                    sweep_id INTEGER NOT NULL,
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    listing_id TEXT NOT NULL,
                    title TEXT NOT NULL,
                    gtin TEXT,
                    asin TEXT,
                    condition TEXT NOT NULL,
                    price_micros INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    shipping_micros INTEGER,
                    PRIMARY KEY (sweep_id, marketplace, sku)
                ) WITHOUT ROWID;

                CREATE TABLE decisions (
                    sweep_id INTEGER NOT NULL,
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    listing_id TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    old_price_micros INTEGER NOT NULL,
                    new_price_micros INTEGER,
                    floor_micros INTEGER,
                    ceiling_micros INTEGER,
                    lowest_competitor_micros INTEGER,
                    buy_box_micros INTEGER,
                    offers_considered INTEGER NOT NULL,
                    offers_excluded TEXT NOT NULL,
                    strategy TEXT NOT NULL,
                    reason_code TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('hold', 'planned', 'sending', 'applied', 'failed', 'dry-run', 'blocked')),
                    api_result TEXT,
                    PRIMARY KEY (sweep_id, marketplace, sku)
                ) WITHOUT ROWID;

                CREATE TABLE unit_costs (
                    sku TEXT PRIMARY KEY,
                    cost_micros INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    source TEXT NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
    }

    /// The tenth step (`m10-repricing`): `RunStore.migrator` registers it after the coverage
    /// step (`m09-coverage`) and before the quota step (`m11-quota`), the order ledgers ran them in.
    static func registerRepricingShippingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m10-repricing: decisions record the shipping we charge") { db in
            try db.execute(sql: "ALTER TABLE decisions ADD COLUMN shipping_charged_micros INTEGER")
        }
    }

    /// `replacing`: a row already there for the SKU is replaced (one statement a row, where a
    /// DELETE and an INSERT were two); else such a row is an error.
    private static func insertSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName,
                                            replacing: Bool = false, _ db: Database) throws {
            // One prepared statement for every row (a listings read writes the whole catalog).
            let statement = try db.cachedStatement(sql: (replacing ? "INSERT OR REPLACE" : "INSERT") + """
                 INTO sweep_listings (sweep_id, marketplace, sku, listing_id, title, gtin, asin, condition,
                                      price_micros, currency, quantity, shipping_micros)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for l in listings {
                try statement.executeBound(sweep, marketplace.rawValue, l.sku, l.listingID, l.title, l.gtin, l.asin,
                                           l.condition.rawValue, l.price.micros, l.price.currency.code, l.quantity, l.shippingCharged?.micros)
            }
    }

    public func saveSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws {
        try write { db in
            try db.execute(literal: "DELETE FROM sweep_listings WHERE sweep_id = \(sweep) AND marketplace = \(marketplace.rawValue)")
            try Self.insertSweepListings(listings, sweep: sweep, marketplace: marketplace, db)
        }
    }

    public func appendSweepListings(_ listings: [MarketplaceListing], sweep: Int64, marketplace: MarketplaceName) throws {
        guard !listings.isEmpty else { return }
        try write { db in try Self.insertSweepListings(listings, sweep: sweep, marketplace: marketplace, db) }
    }

    /// Group-committed with the other writes waiting at the same moment (a decide task's
    /// completed listings, one each), and behind the task (`WriteBehind`).
    public func updateSweepListings(_ listings: [MarketplaceListing], removing: [String], sweep: Int64,
                                    marketplace: MarketplaceName) async throws {
        guard !listings.isEmpty || !removing.isEmpty else { return }
        try await writeBehind { db in
            for sku in removing {
                try db.cachedStatement(sql: "DELETE FROM sweep_listings WHERE sweep_id = ? AND marketplace = ? AND sku = ?")
                    .execute(arguments: [sweep, marketplace.rawValue, sku])
            }
            try Self.insertSweepListings(listings, sweep: sweep, marketplace: marketplace, replacing: true, db)
        }
    }

    public func sweepListings(sweep: Int64, marketplace: MarketplaceName) throws -> [MarketplaceListing] {
        try read { db in try SweepListingRow.listings(db, sweep: sweep, marketplace: marketplace).map(\.listing) }
    }

    /// A page by SKU from the `(sweep_id, marketplace, sku)` key, not the whole snapshot.
    public func sweepListings(sweep: Int64, marketplace: MarketplaceName, after: String?, limit: Int) throws -> [MarketplaceListing] {
        try read { db in
            try SweepListingRow.listings(db, sweep: sweep, marketplace: marketplace, after: after, limit: limit).map(\.listing)
        }
    }

    /// The selection's order computed in SQLite (SKUs only, `limit` of them), not over a
    /// coverage map of every listing.
    public func sweepSKUsInCoverageOrder(sweep: Int64, marketplace: MarketplaceName, limit: Int) throws -> [String] {
        try read { db in
            try String.fetchAll(db, sql: """
                SELECT l.sku FROM sweep_listings l
                LEFT JOIN listing_coverage c ON c.marketplace = l.marketplace AND c.sku = l.sku
                WHERE l.sweep_id = ? AND l.marketplace = ?
                ORDER BY CASE WHEN c.sku IS NULL THEN 1 WHEN c.sweep_id = ? THEN 0 ELSE 2 END,
                         CASE WHEN c.sku IS NULL OR c.sweep_id = ? THEN 0 ELSE c.last_checked END,
                         l.sku
                LIMIT ?
                """, arguments: [sweep, marketplace.rawValue, sweep, sweep, Swift.max(0, limit)])
        }
    }

    public func sweepCheckedCount(sweep: Int64, marketplace: MarketplaceName) throws -> Int {
        try read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM sweep_listings l
                JOIN listing_coverage c ON c.marketplace = l.marketplace AND c.sku = l.sku AND c.sweep_id = ?
                WHERE l.sweep_id = ? AND l.marketplace = ?
                """, arguments: [sweep, sweep, marketplace.rawValue]) ?? 0
        }
    }

    public func sweepListing(sweep: Int64, marketplace: MarketplaceName, sku: String) throws -> MarketplaceListing? {
        try read { db in try SweepListingRow.cachedListing(db, sweep: sweep, marketplace: marketplace, sku: sku)?.listing }
    }

    static func registerCoverageMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m09-coverage: when each listing was last checked") { db in
            try db.execute(sql: """
                CREATE TABLE listing_coverage (
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    last_checked INTEGER NOT NULL,
                    sweep_id INTEGER NOT NULL,
                    PRIMARY KEY (marketplace, sku)
                ) WITHOUT ROWID;
                """)
        }
    }

    public func coverage(marketplace: MarketplaceName) throws -> [String: ListingCoverage] {
        try read { db in
            Dictionary(uniqueKeysWithValues: try ListingCoverageRow.coverage(db, marketplace: marketplace).map { ($0.sku, $0.coverage) })
        }
    }

    public func markChecked(marketplace: MarketplaceName, skus: [String], sweep: Int64, at: Int64) throws {
        guard !skus.isEmpty else { return }
        try write { db in
            for sku in skus { try Self.markChecked(db, marketplace: marketplace, sku: sku, sweep: sweep, at: at) }
        }
    }

    static func markChecked(_ db: Database, marketplace: MarketplaceName, sku: String, sweep: Int64, at: Int64) throws {
        try db.cachedStatement(sql: """
            INSERT INTO listing_coverage (marketplace, sku, last_checked, sweep_id) VALUES (?, ?, ?, ?)
            ON CONFLICT (marketplace, sku) DO UPDATE SET last_checked = excluded.last_checked, sweep_id = excluded.sweep_id
            """).executeBound(marketplace.rawValue, sku, at, sweep)
    }

    public func saveUnitCosts(_ costs: [String: Money], source: String, at: Int64) throws {
        try write { db in
            for (sku, cost) in costs {
                try db.cachedStatement(sql: """
                    INSERT INTO unit_costs (sku, cost_micros, currency, source, updated_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (sku) DO UPDATE SET cost_micros = excluded.cost_micros, currency = excluded.currency,
                        source = excluded.source, updated_at = excluded.updated_at
                    """).execute(arguments: [sku, cost.micros, cost.currency.code, source, at])
            }
        }
    }

    public func unitCosts() throws -> [String: Money] {
        try read { db in Dictionary(uniqueKeysWithValues: try UnitCostRow.all(db).map { ($0.sku, $0.cost) }) }
    }

    public func unitCost(sku: String) throws -> Money? {
        try read { db in try UnitCostRow.cachedCost(db, sku: sku)?.cost }
    }

    public func saveDecision(_ d: PricingDecision, sweep: Int64) async throws {
        let excluded = CompetitorFilter.ExclusionReason.storedJSON(d.offersExcluded)
        try await groupWrite { db in try Self.insert(d, excluded: excluded, sweep: sweep, db) }
        metrics.decision(marketplace: d.marketplace.rawValue, reason: d.reason.rawValue)
    }

    /// One statement: the SKUs in the order asked (a JSON array walked by `json_each`, the outer
    /// loop; one SKU is bound as it is), each joined to its snapshot row and unit cost by their
    /// primary keys, each record's columns read by position (`SweepListingRow.init(row:startingAt:)`,
    /// `UnitCostRow.init(row:startingAt:)`, the same code as their reads by name). The decide
    /// wave's cut reads 1,000 SKUs a page this way (it was two point reads a SKU), and each decide
    /// task its own listings. One statement sees one state of the ledger, so it runs without the
    /// read transaction GRDB wraps a read in (`readStatement`). A row that does not decode is read
    /// again by name, which throws the error naming its table and key (those two reads are only
    /// for the error: a row changed in between is read as it now is).
    public func decideInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws -> [DecideInput] {
        try decideInputs(sweep: sweep, marketplace: marketplace, skus: skus, undecided: false)
    }

    /// The same statement, leaving out the SKUs the sweep has decided on `marketplace` (a point
    /// read of `decisions`' primary key each): no read of its own for what a retried task decided.
    public func undecidedInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws -> [DecideInput] {
        try decideInputs(sweep: sweep, marketplace: marketplace, skus: skus, undecided: true)
    }

    private func decideInputs(sweep: Int64, marketplace: MarketplaceName, skus: [String], undecided: Bool) throws -> [DecideInput] {
        guard !skus.isEmpty else { return [] }
        let (sql, skuArgument) = undecided
            ? (Self.undecidedInputsSQL, JSONText.array(skus))
            : skus.count == 1
            ? (Self.decideInputSQL, skus[0])
            : (Self.decideInputsSQL, JSONText.array(skus))
        return try readStatement { db in
            let statement = try db.cachedStatement(sql: sql)
            var inputs: [DecideInput] = []
            inputs.reserveCapacity(skus.count)
            let rows = try Row.fetchCursor(undecided ? statement.bound(skuArgument, sweep, marketplace.rawValue, sweep, marketplace.rawValue)
                                                     : statement.bound(skuArgument, sweep, marketplace.rawValue))
            while let row = try rows.next() {
                let sku: String = try row.decode(atIndex: 0)
                if let input = try? Self.decideInput(row, sku: sku) {
                    inputs.append(input)
                } else {
                    // The named reads throw what does not decode, and its row's key.
                    inputs.append(DecideInput(sku: sku,
                                              listing: try SweepListingRow.cachedListing(db, sweep: sweep, marketplace: marketplace, sku: sku)?.listing,
                                              cost: try UnitCostRow.cachedCost(db, sku: sku)?.cost))
                }
            }
            return inputs
        }
    }

    /// The SKU, then `sweep_listings`' columns from 1 (`SweepListingRow.columns`), then
    /// `unit_costs`' (`UnitCostRow.columns`). Each record's first column is part of its primary
    /// key: NULL only when its LEFT JOIN found no row.
    private static let decideInputsSQL = decideInputsStatement(skusFrom: "json_each(?)") + "\nORDER BY j.key"
    /// The same, without the SKUs `decisions` holds for the sweep and marketplace.
    private static let undecidedInputsSQL = decideInputsStatement(skusFrom: "json_each(?)") + """

        WHERE NOT EXISTS (SELECT 1 FROM decisions AS d WHERE d.sweep_id = ? AND d.marketplace = ? AND d.sku = j.value)
        ORDER BY j.key
        """
    /// The same for one SKU, bound as it is.
    private static let decideInputSQL = decideInputsStatement(skusFrom: "(SELECT ? AS value)")

    /// The statement, its SKUs (column `value`) read `from` the table given.
    private static func decideInputsStatement(skusFrom skus: String) -> String {
        """
        SELECT j.value, \(SweepListingRow.columns.map { "l." + $0 }.joined(separator: ", ")),
               \(UnitCostRow.columns.map { "u." + $0 }.joined(separator: ", "))
        FROM \(skus) AS j
        LEFT JOIN sweep_listings AS l ON l.sweep_id = ? AND l.marketplace = ? AND l.sku = j.value
        LEFT JOIN unit_costs AS u ON u.sku = j.value
        """
    }

    /// A `decideInputs` row: each record read by position where its first column is not NULL;
    /// throws where a column does not decode.
    private static func decideInput(_ row: Row, sku: String) throws -> DecideInput {
        let listingAt = 1, costAt = 1 + SweepListingRow.columns.count
        let listing = row.hasNull(atIndex: listingAt) ? nil : try SweepListingRow(row: row, startingAt: listingAt).listing
        let cost = row.hasNull(atIndex: costAt) ? nil : try UnitCostRow(row: row, startingAt: costAt).cost
        return DecideInput(sku: sku, listing: listing, cost: cost)
    }

    /// The decisions and their coverage rows in one group-committed write; behind a decide task
    /// (`WriteBehind`), which waits for it with its other writes before it ends.
    public func saveDecisions(_ decisions: [PricingDecision], sweep: Int64, checkedAt: Int64) async throws {
        guard !decisions.isEmpty else { return }
        let excluded = decisions.map { CompetitorFilter.ExclusionReason.storedJSON($0.offersExcluded) }
        try await writeBehind({ db in
            for (d, text) in zip(decisions, excluded) { try Self.insert(d, excluded: text, sweep: sweep, db) }
            for d in decisions { try Self.markChecked(db, marketplace: d.marketplace, sku: d.sku, sweep: sweep, at: checkedAt) }
        }, committed: { [metrics] in
            for d in decisions { metrics.decision(marketplace: d.marketplace.rawValue, reason: d.reason.rawValue) }
        })
    }

    static func insert(_ d: PricingDecision, excluded: String, sweep: Int64, _ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO decisions (sweep_id, marketplace, sku, listing_id, currency, old_price_micros, new_price_micros,
                floor_micros, ceiling_micros, lowest_competitor_micros, buy_box_micros, offers_considered, offers_excluded,
                strategy, reason_code, reason, state, api_result, shipping_charged_micros)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).executeBound(sweep, d.marketplace.rawValue, d.sku, d.listingID, d.oldPrice.currency.code, d.oldPrice.micros,
                              d.newPrice?.micros, d.floor?.micros, d.ceiling?.micros, d.lowestCompetitorLanded?.micros,
                              d.buyBox?.micros, d.offersConsidered, excluded, d.strategy.rawValue, d.reason.rawValue,
                              d.explanation, d.state.rawValue, d.apiResult, d.shippingCharged?.micros)
    }

    public func decisions(sweep: Int64) throws -> [PricingDecision] {
        try read { db in try DecisionRow.decisions(db, sweep: sweep).map(\.decision) }
    }

    /// One statement, read without a transaction around it (`readStatement`).
    public func decisions(sweep: Int64, marketplace: MarketplaceName, skus: [String]) throws -> [PricingDecision] {
        try readStatement { db in try DecisionRow.decisions(db, sweep: sweep, marketplace: marketplace, skus: skus).map(\.decision) }
    }

    /// A range of the `(sweep_id, marketplace, sku)` key, `limit` rows after `after`.
    public func changingDecisions(sweep: Int64, after: DecisionKey?, limit: Int) throws -> [PricingDecision] {
        try read { db in
            try DecisionRow.fetchAllNamed(db, DecisionRow.filter(sql: """
                sweep_id = ? AND (new_price_micros IS NOT NULL OR state IN ('planned', 'sending', 'applied', 'failed'))
                AND (? IS NULL OR marketplace > ? OR (marketplace = ? AND sku > ?))
                """, arguments: [sweep, after?.marketplace.rawValue, after?.marketplace.rawValue, after?.marketplace.rawValue, after?.sku])
                .order(sql: "marketplace, sku").limit(Swift.max(0, limit))).map(\.decision)
        }
    }

    public func decisionCount(sweep: Int64) throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM decisions WHERE sweep_id = ?", arguments: [sweep]) ?? 0 }
    }

    public func decisionStates(sweep: Int64) throws -> [PricingDecision.State: Int] {
        try read { db in
            var counts: [PricingDecision.State: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM decisions WHERE sweep_id = ? GROUP BY state",
                                        arguments: [sweep]) {
                let text: String = try row.decode(forColumn: "state")
                guard let state = PricingDecision.State(rawValue: text) else {
                    throw LedgerError.storage("sweep \(sweep) has decisions in an unknown state \"\(text)\"")
                }
                let n: Int = try row.decode(forColumn: "n")
                counts[state] = n
            }
            return counts
        }
    }

    public func decidedListings(sweep: Int64) throws -> Set<String> {
        try read { db in
            Set(try String.fetchAll(db, sql: "SELECT marketplace || '/' || sku FROM decisions WHERE sweep_id = ?", arguments: [sweep]))
        }
    }

    public func coverageCounts(sweep: Int64, marketplace: MarketplaceName) throws -> SweepCoverageCounts {
        try read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS listings,
                       COALESCE(SUM(d.sku IS NOT NULL), 0) AS checked,
                       COALESCE(SUM(d.sku IS NULL AND c.sku IS NULL), 0) AS never,
                       MIN(CASE WHEN d.sku IS NULL THEN c.last_checked END) AS oldest
                FROM sweep_listings l
                LEFT JOIN decisions d ON d.sweep_id = l.sweep_id AND d.marketplace = l.marketplace AND d.sku = l.sku
                LEFT JOIN listing_coverage c ON c.marketplace = l.marketplace AND c.sku = l.sku
                WHERE l.sweep_id = ? AND l.marketplace = ?
                """, arguments: [sweep, marketplace.rawValue])
            guard let row else { return SweepCoverageCounts(listings: 0, checked: 0, neverChecked: 0, oldestUnchecked: nil) }
            return SweepCoverageCounts(listings: try row.decode(forColumn: "listings"), checked: try row.decode(forColumn: "checked"),
                                       neverChecked: try row.decode(forColumn: "never"), oldestUnchecked: try row.decode(forColumn: "oldest"))
        }
    }

    public func markDecisions(sweep: Int64, marketplace: MarketplaceName, skus: [String], state: PricingDecision.State,
                              results: [String: String]) async throws {
        guard !skus.isEmpty else { return }
        try await groupWrite { db in
            for sku in skus {
                try db.cachedStatement(sql: """
                    UPDATE decisions SET state = ?, api_result = COALESCE(?, api_result)
                    WHERE sweep_id = ? AND marketplace = ? AND sku = ?
                    """).execute(arguments: [state.rawValue, results[sku], sweep, marketplace.rawValue, sku])
            }
        }
        // Only the circuit breaker blocks a sweep's decisions: once per marketplace it stopped.
        if state == .blocked { metrics.breakerTrip(marketplace: marketplace.rawValue) }
    }

    public func runStartedAt(runID: Int64) throws -> Int64? {
        try read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT started_at FROM runs WHERE id = ?"), arguments: [runID])?
                .decode(Int64?.self, atIndex: 0)
        }
    }

    public func sweepID(ofRun runID: Int64) throws -> Int64 {
        try sweeps.sweepID(ofRun: runID) { runID throws(LedgerError) in
            try read { db in
                // Follow `resumes` back to the first run; bounded, since a chain is short.
                let statement = try db.cachedStatement(sql: "SELECT resumes FROM runs WHERE id = ?")
                guard let first = try Row.fetchOne(statement, arguments: [runID]) else { return (runID, false) }
                var id = runID, previous: Int64? = try first.decode(forColumn: "resumes")
                for _ in 0..<1000 {
                    guard let next = previous else { break }
                    id = next
                    previous = try Row.fetchOne(statement, arguments: [id])?.decode(Int64?.self, atIndex: 0)
                }
                return (id, true)
            }
        }
    }
}

/// A run's tasks without the bulk of its large waves (`CondensedTaskReading`).
extension RunStore: CondensedTaskReading {
    public func tasks(runID: Int64, condensing agents: Set<String>) throws -> [TaskInfo] {
        let list = JSONText.array(agents.sorted())
        return try read { db in
            try TaskRow.fetchAllNamed(db, TaskRow.filter(sql: """
                run_id = ? AND (status != 'succeeded' OR agent NOT IN (SELECT value FROM json_each(?))
                    OR rowid IN (SELECT MIN(rowid) FROM tasks WHERE run_id = ? AND status = 'succeeded'
                                 AND agent IN (SELECT value FROM json_each(?)) GROUP BY agent))
                """, arguments: [runID, list, runID, list]).order(sql: "rowid"), key: ["run_id", "key"]).map(\.info)
        }
    }
}
