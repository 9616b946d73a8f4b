import Foundation
import FlipSyncTestKit
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

/// The ledger's schema steps are named `mNN-…` in run order; a ledger made before the rename
/// (its steps recorded under their former names) opens as fully migrated and keeps its rows.
@Suite("Migration names in run order", .timeLimit(.minutes(2)))
struct MigrationNamesTests {
    /// The step names FlipSync recorded before the rename, in the order they ran (frozen: this
    /// list is what `grdb_migrations` holds in every ledger made before it).
    static let todaysNames = [
        "v1: runs, tasks, schedule state",
        "spend: one row per metered call",
        "sync: stock, order lines, cursors, pushes, drift, oversells",
        "v3: repricing listings, decisions, unit costs",
        "v5: shipping quotes and recommendations",
        "v7-shipping: listings' shipping settings, quotes and verdicts",
        "v8-shipping: statuses default-inadequate and no-rate",
        "v6: LLM product-match cache",
        "v9-coverage: when each listing was last checked",
        "v8-repricing: decisions record the shipping we charge",
        "v9-quota: calls counted per provider, API and quota window",
        "v10-ebay-competitors: competitor item ids each search found, and when",
        "v11-ebay-offers: each SKU's published offer id, price and quantity as last read or set",
        "v12-tasks: task inputs as JSON",
    ]

    /// `sqlite3 .dump` of a ledger created by `RunStore(path:)` at commit 787843f (before the
    /// rename), with a few rows added by SQL: two runs, two tasks, a schedule state, a spend row,
    /// a decision, a stock row and a unit cost.
    static let todaysLedgerDump = #"""
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES('v1: runs, tasks, schedule state');
INSERT INTO grdb_migrations VALUES('spend: one row per metered call');
INSERT INTO grdb_migrations VALUES('sync: stock, order lines, cursors, pushes, drift, oversells');
INSERT INTO grdb_migrations VALUES('v3: repricing listings, decisions, unit costs');
INSERT INTO grdb_migrations VALUES('v5: shipping quotes and recommendations');
INSERT INTO grdb_migrations VALUES('v7-shipping: listings'' shipping settings, quotes and verdicts');
INSERT INTO grdb_migrations VALUES('v8-shipping: statuses default-inadequate and no-rate');
INSERT INTO grdb_migrations VALUES('v6: LLM product-match cache');
INSERT INTO grdb_migrations VALUES('v9-coverage: when each listing was last checked');
INSERT INTO grdb_migrations VALUES('v8-repricing: decisions record the shipping we charge');
INSERT INTO grdb_migrations VALUES('v9-quota: calls counted per provider, API and quota window');
INSERT INTO grdb_migrations VALUES('v10-ebay-competitors: competitor item ids each search found, and when');
INSERT INTO grdb_migrations VALUES('v11-ebay-offers: each SKU''s published offer id, price and quantity as last read or set');
INSERT INTO grdb_migrations VALUES('v12-tasks: task inputs as JSON');
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'manual')),
    requested_by INTEGER,
    scheduled_at INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled',
                                           'timed_out', 'interrupted', 'skipped', 'budget_exhausted')),
    skip_reason TEXT,
    summary TEXT,
    error TEXT,
    spend_micros INTEGER NOT NULL DEFAULT 0,
    resumes INTEGER REFERENCES runs(id) ON DELETE SET NULL
);
INSERT INTO runs VALUES(1,'sweep','repricing-sweep','schedule',NULL,NULL,1000,1001,1050,'succeeded',NULL,'3 listings',NULL,2500,NULL);
INSERT INTO runs VALUES(2,'sweep','repricing-sweep','manual',NULL,NULL,2000,2001,NULL,'interrupted',NULL,NULL,NULL,0,NULL);
CREATE TABLE tasks (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    agent TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER,
    finished_at INTEGER,
    result TEXT,
    error TEXT, input TEXT,
    PRIMARY KEY (run_id, key)
);
INSERT INTO tasks VALUES(1,'fetch','ebay','succeeded',1,1001,1010,'{"count":3}',NULL,'{"page":1}');
INSERT INTO tasks VALUES(2,'fetch','ebay','pending',1,2001,NULL,NULL,NULL,NULL);
CREATE TABLE schedule_state (
    job TEXT PRIMARY KEY,
    last_scheduled_at INTEGER,
    last_run_id INTEGER,
    next_due_at INTEGER,
    paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO schedule_state VALUES('sweep',1000,1,4600,0);
CREATE TABLE spend (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    provider TEXT NOT NULL,
    operation TEXT NOT NULL,
    units INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_micros INTEGER NOT NULL,
    currency TEXT NOT NULL,
    job TEXT,
    run_id INTEGER,
    task_key TEXT,
    served_from_cache INTEGER NOT NULL CHECK (served_from_cache IN (0, 1)),
    status INTEGER
);
INSERT INTO spend VALUES(1,1005000,'openai','match',1,0,0,0,2500,'USD','sweep',1,'fetch',0,200);
CREATE TABLE sync_stock (
    sku TEXT PRIMARY KEY,
    on_hand INTEGER NOT NULL,
    seeded_from TEXT NOT NULL,
    seeded_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO sync_stock VALUES('SKU-1',5,'ebay',1000,1000);
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
    api_result TEXT, shipping_charged_micros INTEGER,
    PRIMARY KEY (sweep_id, marketplace, sku)
) WITHOUT ROWID;
INSERT INTO decisions VALUES(1,'ebay','SKU-1','L-1','USD',10000000,9500000,NULL,NULL,NULL,NULL,4,'{}','beat-lowest','followed-competition','cheaper rival','applied',NULL,NULL);
CREATE TABLE unit_costs (
    sku TEXT PRIMARY KEY,
    cost_micros INTEGER NOT NULL,
    currency TEXT NOT NULL,
    source TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO unit_costs VALUES('SKU-1',4000000,'USD','csv',1000);
CREATE TABLE shipping_cursors (
    job TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    cursor TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job, marketplace)
) WITHOUT ROWID;
CREATE TABLE shipping_lines (
    job TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    order_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    placed_at INTEGER NOT NULL,
    item_price_micros INTEGER,
    item_currency TEXT,
    shipping_paid_micros INTEGER,
    shipping_currency TEXT,
    postal_code TEXT,
    country TEXT,
    region TEXT,
    deliver_by INTEGER,
    run_id INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (job, marketplace, order_id, line_id)
) WITHOUT ROWID;
CREATE TABLE shipping_packaging (
    sku TEXT PRIMARY KEY,
    weight_tenths_oz INTEGER NOT NULL CHECK (weight_tenths_oz > 0),
    length_tenths_in INTEGER NOT NULL CHECK (length_tenths_in > 0),
    width_tenths_in INTEGER NOT NULL CHECK (width_tenths_in > 0),
    height_tenths_in INTEGER NOT NULL CHECK (height_tenths_in > 0),
    source TEXT NOT NULL,
    imported_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE shipping_quotes (
    run_id INTEGER NOT NULL,
    job TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    order_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    source TEXT NOT NULL,
    carrier TEXT NOT NULL,
    service TEXT NOT NULL,
    service_key TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    currency TEXT NOT NULL,
    delivery_days INTEGER,
    guaranteed INTEGER NOT NULL CHECK (guaranteed IN (0, 1)),
    billable_oz INTEGER,
    rate_id TEXT,
    arrives_at INTEGER,
    adequate INTEGER NOT NULL CHECK (adequate IN (0, 1)),
    quoted_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, marketplace, order_id, line_id, source, carrier, service)
) WITHOUT ROWID;
CREATE TABLE shipping_listings (
    sweep_id INTEGER NOT NULL,
    marketplace TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    price_micros INTEGER,
    price_currency TEXT,
    charge_micros INTEGER,
    charge_currency TEXT,
    handling_days INTEGER,
    service_key TEXT,
    policy TEXT NOT NULL,
    note TEXT,
    run_id INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, marketplace, listing_id)
) WITHOUT ROWID;
CREATE TABLE shipping_listing_quotes (
    sweep_id INTEGER NOT NULL,
    marketplace TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    source TEXT NOT NULL,
    carrier TEXT NOT NULL,
    service TEXT NOT NULL,
    service_key TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    currency TEXT NOT NULL,
    delivery_days INTEGER,
    billable_oz INTEGER,
    adequate INTEGER NOT NULL CHECK (adequate IN (0, 1)),
    run_id INTEGER NOT NULL,
    quoted_at INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, marketplace, listing_id, postal_code, source, carrier, service)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "shipping_recommendations" (
    job TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    order_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    postal_code TEXT,
    ship_at INTEGER,
    deliver_by INTEGER,
    status TEXT NOT NULL CHECK (status IN ('recommended', 'default-inadequate', 'no-adequate-rate', 'no-rate', 'skipped')),
    reason TEXT NOT NULL,
    parcels INTEGER NOT NULL,
    carrier TEXT,
    service TEXT,
    service_key TEXT,
    source TEXT,
    delivery_days INTEGER,
    billable_oz INTEGER,
    currency TEXT NOT NULL,
    label_micros INTEGER,
    buyer_paid_micros INTEGER,
    margin_micros INTEGER,
    default_service TEXT,
    default_micros INTEGER,
    saving_micros INTEGER,
    actionable INTEGER NOT NULL CHECK (actionable IN (0, 1)),
    decided_at INTEGER NOT NULL,
    PRIMARY KEY (job, marketplace, order_id, line_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "shipping_listing_destinations" (
    sweep_id INTEGER NOT NULL,
    marketplace TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    sku TEXT NOT NULL,
status TEXT NOT NULL CHECK (status IN ('recommended', 'default-inadequate', 'no-adequate-rate', 'no-rate', 'skipped')),
reason TEXT NOT NULL,
handling_days INTEGER,
promise_days INTEGER,
carrier TEXT,
service TEXT,
service_key TEXT,
source TEXT,
delivery_days INTEGER,
billable_oz INTEGER,
currency TEXT NOT NULL,
charged_micros INTEGER,
label_micros INTEGER,
margin_micros INTEGER,
default_service TEXT,
default_micros INTEGER,
saving_micros INTEGER,
actionable INTEGER NOT NULL CHECK (actionable IN (0, 1)),
run_id INTEGER NOT NULL,
decided_at INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, marketplace, listing_id, postal_code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "shipping_listing_verdicts" (
    sweep_id INTEGER NOT NULL,
    marketplace TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    postal_code TEXT,
    sku TEXT NOT NULL,
status TEXT NOT NULL CHECK (status IN ('recommended', 'default-inadequate', 'no-adequate-rate', 'no-rate', 'skipped')),
reason TEXT NOT NULL,
handling_days INTEGER,
promise_days INTEGER,
carrier TEXT,
service TEXT,
service_key TEXT,
source TEXT,
delivery_days INTEGER,
billable_oz INTEGER,
currency TEXT NOT NULL,
charged_micros INTEGER,
label_micros INTEGER,
margin_micros INTEGER,
default_service TEXT,
default_micros INTEGER,
saving_micros INTEGER,
actionable INTEGER NOT NULL CHECK (actionable IN (0, 1)),
run_id INTEGER NOT NULL,
decided_at INTEGER NOT NULL,
    PRIMARY KEY (sweep_id, marketplace, listing_id)
) WITHOUT ROWID;
CREATE TABLE llm_matches (
    sku TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    title_hash TEXT NOT NULL,
    same_product INTEGER NOT NULL,
    confidence_per_mille INTEGER NOT NULL,
    provider TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (sku, offer_id, title_hash)
) WITHOUT ROWID;
CREATE TABLE listing_coverage (
    marketplace TEXT NOT NULL,
    sku TEXT NOT NULL,
    last_checked INTEGER NOT NULL,
    sweep_id INTEGER NOT NULL,
    PRIMARY KEY (marketplace, sku)
) WITHOUT ROWID;
CREATE TABLE quota (
    provider TEXT NOT NULL,
    api TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    quota_limit INTEGER,
    exhausted_until INTEGER,
    PRIMARY KEY (provider, api, window_start)
);
CREATE TABLE competitor_searches (
    marketplace TEXT NOT NULL,
    search_key TEXT NOT NULL,
    searched_at INTEGER NOT NULL,
    PRIMARY KEY (marketplace, search_key)
) WITHOUT ROWID;
CREATE TABLE competitor_items (
    marketplace TEXT NOT NULL,
    search_key TEXT NOT NULL,
    item_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (marketplace, search_key, item_id)
) WITHOUT ROWID;
CREATE TABLE listing_offers (
    marketplace TEXT NOT NULL,
    sku TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    marketplace_id TEXT,
    price_micros INTEGER,
    price_currency TEXT,
    available_quantity INTEGER,
    shipping_micros INTEGER,
    shipping_currency TEXT,
    fulfillment_policy_id TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (marketplace, sku)
) WITHOUT ROWID;
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('runs',2);
CREATE UNIQUE INDEX runs_fire ON runs(job, scheduled_at) WHERE scheduled_at IS NOT NULL;
CREATE INDEX runs_job_created ON runs(job, created_at);
CREATE INDEX runs_status ON runs(status) WHERE status IN ('queued', 'running');
CREATE INDEX spend_at ON spend(at_ms, currency, cost_micros);
CREATE INDEX spend_run ON spend(run_id, currency, cost_micros) WHERE run_id IS NOT NULL;
CREATE INDEX sync_order_lines_uncounted ON sync_order_lines(sku) WHERE counted = 0;
CREATE INDEX sync_pushes_run ON sync_pushes(run_id, marketplace, sku);
CREATE INDEX sync_drift_run ON sync_drift(run_id);
CREATE INDEX shipping_recommendations_run ON shipping_recommendations(run_id);
CREATE INDEX competitor_items_by_item ON competitor_items (marketplace, item_id);
COMMIT;
"""#

    static func scratch(_ name: String) -> String {
        TestScratch.directory("mnames") + "/" + name
    }

    /// A ledger file as today's code left it.
    static func todaysLedger() throws -> String {
        let path = scratch("old.sqlite")
        let queue = try ledgerConnection(path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: todaysLedgerDump) }
        try queue.close()
        return path
    }

    static func identifiers(_ path: String) throws -> [String] {
        let queue = try ledgerConnection(path)
        defer { try? queue.close() }
        return try queue.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid") }
    }

    static func schema(_ path: String) throws -> [String] {
        let queue = try ledgerConnection(path)
        defer { try? queue.close() }
        return try queue.read { db in
            try String.fetchAll(db, sql: "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
        }
    }

    @Test func namesSortInRunOrderAndMapFromTodays() {
        let names = RunStore.migrator.migrations
        #expect(names == names.sorted())
        #expect(names.allSatisfy { $0.wholeMatch(of: /m\d\d-[a-z-]+: .+/) != nil })
        // Every step up to m14 had a former name; later steps (m15-run-node on) never did.
        #expect(RunStore.formerMigrationNames.map(\.name) == Array(names.prefix(RunStore.formerMigrationNames.count)))
        #expect(names.dropFirst(RunStore.formerMigrationNames.count) == [
            "m15-run-node: the node that ran each run",
            "m16-offer-changes: price changes in flight, so a read that may predate one is not remembered",
            "m17-search-subjects: remembered searches found by subject",
            "m18-remember-search: a search and its ids remembered in one call",
            "m19-remember-offers: a read's offers remembered in one call",
            "m20-decide-cut: a sweep's decide wave cut into tasks in the ledger",
            "m21-runs-resumes: runs found by the run they resume",
        ])
        #expect(RunStore.formerMigrationNames.map(\.formerly) == Self.todaysNames)
    }

    @Test func todaysLedgerOpensFullyMigratedWithItsRows() throws {
        let path = try Self.todaysLedger()
        #expect(try Self.identifiers(path) == Self.todaysNames)
        let before = try Self.schema(path)

        // Read-only first: the old names are known, nothing is renamed.
        let readOnly = try RunStore(path: path, mode: .readOnly)
        #expect(try readOnly.run(id: 1)?.status == .succeeded)
        #expect(try Self.identifiers(path) == Self.todaysNames)

        let store = try RunStore(path: path)
        #expect(try Self.identifiers(path) == RunStore.migrator.migrations)
        // Nothing ran again: the schema is byte for byte the one today's code made, but for the
        // steps added since (m15-run-node: `runs.node`; m16-offer-changes: its table; m17-search-subjects
        // changes nothing in SQLite; m20-decide-cut: its table and index; m21-runs-resumes: its index).
        let migrated = try Self.schema(path)
        let added = { (entry: String) in
            ["table runs:", "table listing_offer_changes:", "table decide_cut:", "index decide_cut_by_task:", "index runs_resumes:"].contains { entry.hasPrefix($0) }
        }
        #expect(migrated.filter { !added($0) } == before.filter { !added($0) })
        #expect(migrated.first { $0.hasPrefix("table runs:") }?.contains("node TEXT") == true)
        #expect(migrated.contains { $0.hasPrefix("table listing_offer_changes:") } && !before.contains { $0.hasPrefix("table listing_offer_changes:") })
        #expect(migrated.contains { $0.hasPrefix("table decide_cut:") } && !before.contains { $0.hasPrefix("table decide_cut:") })
        #expect(migrated.contains { $0.hasPrefix("index runs_resumes:") } && !before.contains { $0.hasPrefix("index runs_resumes:") })

        let runs = try store.recentRuns(job: nil, limit: 10)
        #expect(runs.map(\.id) == [2, 1])
        #expect(runs.map(\.status) == [.interrupted, .succeeded])
        #expect(runs.last?.summary == "3 listings")
        #expect(runs.last?.spendMicros == 2500)
        let tasks = try store.tasks(runID: 1)
        #expect(tasks.map(\.key) == ["fetch"])
        #expect(tasks.first?.input == #"{"page":1}"#)
        #expect(tasks.first?.result == #"{"count":3}"#)
        #expect(try store.tasks(runID: 2).map(\.status) == [.pending])
        #expect(try store.scheduleStates()["sweep"]?.nextDueAt == 4600)
        #expect(try SpendLedgerCalls.calls(store, runID: 1) == 1)
        #expect(try store.decisions(sweep: 1).map(\.sku) == ["SKU-1"])
        #expect(try store.unitCost(sku: "SKU-1") == Money(micros: 4_000_000, currency: .usd))
        #expect(try SyncStore(store: store).onHand() == ["SKU-1": 5])

        // Opening again changes nothing.
        let again = try RunStore(path: path)
        #expect(try Self.identifiers(path) == RunStore.migrator.migrations)
        #expect(try again.recentRuns(job: nil, limit: 10).count == 2)
        #expect(try Self.schema(path) == migrated)
        // The same through SyncStore's own opening.
        _ = try SyncStore(path: path)
        #expect(try Self.identifiers(path) == RunStore.migrator.migrations)
    }

    @Test func freshLedgerHasTheSchemaOfARenamedOne() throws {
        let old = try Self.todaysLedger()
        _ = try RunStore(path: old)
        let fresh = Self.scratch("new.sqlite")
        _ = try RunStore(path: fresh)
        #expect(try Self.identifiers(fresh) == RunStore.migrator.migrations)
        #expect(try Self.schema(fresh) == Self.schema(old))
    }

    @Test func aNameFromANewerFlipSyncIsKeptAfterTheKnownOnes() throws {
        let path = try Self.todaysLedger()
        let queue = try ledgerConnection(path)
        try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('m99-future: unknown')") }
        try queue.close()
        #expect(throws: LedgerError.self) { try RunStore(path: path, mode: .readOnly) }
        _ = try? RunStore(path: path)
        // The renamed steps, the unknown one, then the steps added since the rename (m15-…), which
        // the read-write open ran after it.
        let later = Array(RunStore.migrator.migrations.dropFirst(RunStore.formerMigrationNames.count))
        #expect(try Self.identifiers(path) == RunStore.formerMigrationNames.map(\.name) + ["m99-future: unknown"] + later)
    }
}

enum SpendLedgerCalls {
    static func calls(_ store: RunStore, runID: Int64) throws -> Int {
        try SpendHistory(store: store).calls(runID: runID).count
    }
}

extension MigrationNamesTests {
    /// Runs raw SQL against the ledger file outside the store (to break a row on purpose).
    static func corrupt(_ path: String, _ sql: String) throws {
        let queue = try ledgerConnection(path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: sql) }
        try queue.close()
    }
}

