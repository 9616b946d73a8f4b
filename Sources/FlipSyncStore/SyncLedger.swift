import FlipSyncCore
import GRDB

/// The marketplace sync's state in the run ledger's SQLite database (`SyncLedger`'s contract):
///
/// - `sync_stock`: on-hand units per SKU, the one source of truth.
/// - `sync_order_lines`: every order line applied, unique by `(marketplace, order_id, line_id)`;
///   `counted` is 0 while the SKU had no on-hand yet (settled by the seed).
/// - `sync_cursors`: each job's order cursor per marketplace.
/// - `sync_channel_quantities`: what each listing should show (last pushed or seen, less its
///   own orders since), for drift.
/// - `sync_pushes`: every change decided (`intent`), then `applied`, `failed` or `not-sent`
///   (dry run); an `intent` left behind is a push whose answer a crash lost.
/// - `sync_drift`, `sync_oversells`: what was found, per run.
///
/// Every write is one transaction; a page of order lines and its cursor commit together.
public final class SyncStore: SyncLedger, Sendable {
    private let writer: any DatabaseWriter
    private let metrics: LedgerMetrics

    /// Shares the run ledger's database connection (the daemon's one writer) and its metrics.
    public init(store: RunStore) {
        writer = store.writer
        metrics = store.metrics
    }

    /// Opens (creating and migrating) the run ledger's database at `path`: a `RunStore` opened
    /// read-write, whose connection it shares (one way to open the ledger, not two).
    public convenience init(path: String) throws(LedgerError) {
        self.init(store: try RunStore(path: path))
    }

    /// Registers the sync tables' schema steps; `RunStore.migrator` calls it.
    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m03-sync: stock, order lines, cursors, pushes, drift, oversells") { db in
            try db.execute(sql: """
                CREATE TABLE sync_stock (
                    sku TEXT PRIMARY KEY,
                    on_hand INTEGER NOT NULL,
                    seeded_from TEXT NOT NULL,
                    seeded_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE sync_order_lines (
                    marketplace TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    line_id TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    counted INTEGER NOT NULL CHECK (counted IN (0, 1)),
                    job TEXT NOT NULL,
                    run_id INTEGER,
                    applied_at INTEGER NOT NULL,
                    PRIMARY KEY (marketplace, order_id, line_id)
                ) WITHOUT ROWID;
                CREATE INDEX sync_order_lines_uncounted ON sync_order_lines(sku) WHERE counted = 0;

                CREATE TABLE sync_cursors (
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    cursor TEXT,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (job, marketplace)
                ) WITHOUT ROWID;

                CREATE TABLE sync_channel_quantities (
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    expected INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (marketplace, sku)
                ) WITHOUT ROWID;

                CREATE TABLE sync_pushes (
                    id INTEGER PRIMARY KEY,
                    run_id INTEGER NOT NULL,
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    listing_id TEXT NOT NULL,
                    live_quantity INTEGER NOT NULL,
                    quantity INTEGER,
                    live_price_micros INTEGER NOT NULL,
                    price_micros INTEGER,
                    currency TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('intent', 'applied', 'failed', 'not-sent')),
                    error TEXT,
                    created_at INTEGER NOT NULL,
                    finished_at INTEGER
                );
                CREATE INDEX sync_pushes_run ON sync_pushes(run_id, marketplace, sku);

                CREATE TABLE sync_drift (
                    id INTEGER PRIMARY KEY,
                    run_id INTEGER NOT NULL,
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    live INTEGER NOT NULL,
                    expected INTEGER NOT NULL,
                    target INTEGER NOT NULL,
                    at INTEGER NOT NULL
                );
                CREATE INDEX sync_drift_run ON sync_drift(run_id);

                CREATE TABLE sync_oversells (
                    id INTEGER PRIMARY KEY,
                    run_id INTEGER,
                    job TEXT NOT NULL,
                    marketplace TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    line_id TEXT NOT NULL,
                    sku TEXT NOT NULL,
                    ordered INTEGER NOT NULL,
                    on_hand INTEGER NOT NULL,
                    at INTEGER NOT NULL
                );
                """)
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        do { return try writer.write(body) } catch { throw .wrapping(error) }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        do { return try writer.read(body) } catch { throw .wrapping(error) }
    }

    // MARK: - SyncLedger

    public func cursor(job: String, marketplace: MarketplaceName) throws(LedgerError) -> String? {
        try read { db in try CursorRow<SyncCursors>.cursor(db, job: job, marketplace: marketplace)?.cursor }
    }

    public func applyOrders(_ page: OrdersPage, job: String, marketplace: MarketplaceName, runID: Int64,
                            at: Int64) throws(LedgerError) -> OrderApplication {
        let outcome = try write { db in
            var outcome = OrderApplication()
            for line in page.lines {
                // Read as a row and decoded, so a corrupted on-hand is an error, not 0 (`Int.fetchOne` reads text as 0).
                let onHand = try Row.fetchOne(db, sql: "SELECT on_hand FROM sync_stock WHERE sku = ?", arguments: [line.sku])?
                    .decode(Int.self, atIndex: 0)
                try db.execute(
                    sql: """
                        INSERT INTO sync_order_lines (marketplace, order_id, line_id, sku, quantity, counted, job, run_id, applied_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT DO NOTHING
                        """,
                    arguments: [marketplace.rawValue, line.orderID, line.lineID, line.sku, line.quantity, onHand == nil ? 0 : 1,
                                job, runID, at])
                guard db.changesCount == 1 else {
                    outcome.duplicates += 1
                    continue
                }
                outcome.applied += 1
                try db.execute(sql: "UPDATE sync_channel_quantities SET expected = expected - ?, updated_at = ? WHERE marketplace = ? AND sku = ?",
                               arguments: [line.quantity, at, marketplace.rawValue, line.sku])
                guard let onHand else { continue }
                if line.quantity > onHand {
                    let oversell = Oversell(marketplace: marketplace, orderID: line.orderID, lineID: line.lineID, sku: line.sku,
                                            ordered: line.quantity, onHand: onHand)
                    outcome.oversells.append(oversell)
                    try db.execute(
                        sql: """
                            INSERT INTO sync_oversells (run_id, job, marketplace, order_id, line_id, sku, ordered, on_hand, at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [runID, job, marketplace.rawValue, line.orderID, line.lineID, line.sku, line.quantity, onHand, at])
                }
                // On-hand may go below zero: after an oversell we owe units, and targets stay at 0.
                try db.execute(sql: "UPDATE sync_stock SET on_hand = on_hand - ?, updated_at = ? WHERE sku = ?",
                               arguments: [line.quantity, at, line.sku])
            }
            try db.execute(
                sql: """
                    INSERT INTO sync_cursors (job, marketplace, cursor, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (job, marketplace) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
                    """,
                arguments: [job, marketplace.rawValue, page.cursor, at])
            return outcome
        }
        metrics.oversells(marketplace: marketplace.rawValue, count: outcome.oversells.count)
        return outcome
    }

    @discardableResult
    public func seed(_ liveQuantities: [String: Int], from source: MarketplaceName, at: Int64) throws(LedgerError) -> [String] {
        try write { db in
            let known = Set(try String.fetchAll(db, sql: "SELECT sku FROM sync_stock"))
            var seeded: [String] = []
            for (sku, live) in liveQuantities.sorted(by: { $0.key < $1.key }) where !known.contains(sku) {
                // The source's own earlier sales are already out of its live quantity; others' are not.
                let elsewhere = try checkedSum(db, of: "quantity", from: "sync_order_lines",
                                               where: "sku = ? AND counted = 0 AND marketplace != ?", arguments: [sku, source.rawValue])
                try db.execute(sql: "UPDATE sync_order_lines SET counted = 1 WHERE sku = ? AND counted = 0", arguments: [sku])
                try db.execute(
                    sql: "INSERT INTO sync_stock (sku, on_hand, seeded_from, seeded_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [sku, Int64(live) - elsewhere, source.rawValue, at, at])
                seeded.append(sku)
            }
            return seeded
        }
    }

    public func onHand() throws(LedgerError) -> [String: Int] {
        try read { db in Dictionary(uniqueKeysWithValues: try SyncStockRow.all(db).map { ($0.sku, $0.onHand) }) }
    }

    public func expectedQuantities(marketplace: MarketplaceName) throws(LedgerError) -> [String: Int] {
        try read { db in
            Dictionary(uniqueKeysWithValues: try SyncChannelQuantityRow.quantities(db, marketplace: marketplace).map { ($0.sku, $0.expected) })
        }
    }

    public func recordPlan(_ plan: PushPlan, job: String, runID: Int64, at: Int64) throws(LedgerError) {
        let marketplace = plan.marketplace.rawValue
        try write { db in
            for (sku, live) in plan.observed {
                try db.execute(
                    sql: """
                        INSERT INTO sync_channel_quantities (marketplace, sku, expected, updated_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT (marketplace, sku) DO UPDATE SET expected = excluded.expected, updated_at = excluded.updated_at
                        """,
                    arguments: [marketplace, sku, live, at])
            }
            for drift in plan.drift {
                try db.execute(
                    sql: "INSERT INTO sync_drift (run_id, job, marketplace, sku, live, expected, target, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    arguments: [runID, job, marketplace, drift.sku, drift.live, drift.expected, drift.target, at])
            }
            for intent in plan.intents {
                try db.execute(
                    sql: """
                        INSERT INTO sync_pushes (run_id, job, marketplace, sku, listing_id, live_quantity, quantity, live_price_micros,
                                                 price_micros, currency, status, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'intent', ?)
                        """,
                    arguments: [runID, job, marketplace, intent.change.sku, intent.change.listingID, intent.liveQuantity,
                                intent.change.quantity, intent.livePrice.micros, intent.change.price?.micros,
                                intent.livePrice.currency.code, at])
            }
        }
        metrics.driftCorrections(marketplace: marketplace, count: plan.drift.count)
    }

    public func recordResults(_ results: [PushResult], marketplace: MarketplaceName, runID: Int64, at: Int64) throws(LedgerError) {
        try write { db in
            for result in results {
                let (status, error): (String, String?) = switch result.outcome {
                case .applied: ("applied", nil)
                case .failed(let reason): ("failed", reason)
                case .notSent: ("not-sent", nil)
                }
                try db.execute(
                    sql: """
                        UPDATE sync_pushes SET status = ?, error = ?, finished_at = ?
                        WHERE id = (SELECT MAX(id) FROM sync_pushes WHERE run_id = ? AND marketplace = ? AND sku = ? AND status = 'intent')
                        """,
                    arguments: [status, error, at, runID, marketplace.rawValue, result.sku])
                if case .applied = result.outcome, let quantity = result.quantity {
                    try db.execute(sql: "UPDATE sync_channel_quantities SET expected = ?, updated_at = ? WHERE marketplace = ? AND sku = ?",
                                   arguments: [quantity, at, marketplace.rawValue, result.sku])
                }
            }
        }
    }

    // MARK: - Reports

    /// One recorded push, as `flipsyncctl` and tests read them.
    public struct PushRecord: Sendable, Hashable {
        public var runID: Int64
        public var marketplace: MarketplaceName
        public var sku: String
        public var liveQuantity: Int
        public var quantity: Int?
        public var priceMicros: Int64?
        /// `intent`, `applied`, `failed` or `not-sent`.
        public var status: String
        public var error: String?
    }

    /// Pushes recorded, in the order decided (all runs when `runID` is nil).
    public func pushes(runID: Int64? = nil) throws(LedgerError) -> [PushRecord] {
        try read { db in try SyncPushRow.pushes(db, runID: runID).map(\.record) }
    }

    /// Drift recorded by run `runID`, by marketplace.
    public func drift(runID: Int64) throws(LedgerError) -> [MarketplaceName: [Drift]] {
        try read { db in
            var out: [MarketplaceName: [Drift]] = [:]
            for row in try SyncDriftRow.drift(db, runID: runID) { out[row.marketplace.value, default: []].append(row.drift) }
            return out
        }
    }

    /// Every oversell recorded, oldest first.
    public func oversells() throws(LedgerError) -> [Oversell] {
        try read { db in try SyncOversellRow.all(db).map(\.oversell) }
    }

    /// How many order lines have been applied, in all.
    public func orderLineCount() throws(LedgerError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sync_order_lines") ?? 0 }
    }
}
