import Foundation
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit

/// The ledger's tables are read through records: a row that does not decode is an error, never
/// a default.
@Suite("Ledger records: a bad row is an error", .timeLimit(.minutes(2)))
struct LedgerRecordTests {
    static func ledger() throws -> (String, RunStore) {
        let path = TestScratch.file("ledger.sqlite")
        let store = try RunStore(path: path)
        try MigrationNamesTests.corrupt(path, """
            INSERT INTO runs (id, job, kind, trigger, created_at, status) VALUES (1, 'sweep', 'repricing-sweep', 'manual', 1000, 'succeeded');
            INSERT INTO spend (id, at_ms, provider, operation, units, cost_micros, currency, run_id, served_from_cache)
            VALUES (7, 1000, 'openai', 'match', 1, 2500, 'USD', 1, 0);
            """)
        return (path, store)
    }

    @Test func aSpendRowWithAnUnknownCurrencyIsAnErrorNamingTheRow() throws {
        let (path, store) = try Self.ledger()
        #expect(try SpendHistory(store: store).calls(runID: 1).map(\.call.cost.micros) == [2500])
        try MigrationNamesTests.corrupt(path, "UPDATE spend SET currency = 'XQQ' WHERE id = 7")
        let error = #expect(throws: LedgerError.self) { try SpendHistory(store: store).calls(runID: 1) }
        #expect("\(String(describing: error))".contains("spend row 7"))
    }

    @Test func aSpendRowWithANullWhereAValueIsRequiredIsAnErrorNamingTheRow() throws {
        let (path, store) = try Self.ledger()
        // A column added NOT NULL can still hold a NULL in a hand-edited file: rebuild without the constraint.
        try MigrationNamesTests.corrupt(path, """
            PRAGMA writable_schema = ON;
            UPDATE sqlite_master SET sql = replace(sql, 'units INTEGER NOT NULL', 'units INTEGER') WHERE name = 'spend';
            """)
        try MigrationNamesTests.corrupt(path, "UPDATE spend SET units = NULL WHERE id = 7")
        let reopened = try RunStore(path: path, mode: .readOnly)
        _ = store
        let error = #expect(throws: LedgerError.self) { try SpendHistory(store: reopened).calls(runID: 1) }
        #expect("\(String(describing: error))".contains("spend row (id 7)"))
    }

    @Test("a value of the wrong type in a column read by name (a report's sum, a run's start) is an error, never a trap that stops the process")
    func wrongTypeInNamedColumnsIsAnError() throws {
        let (path, store) = try Self.ledger()
        #expect(try store.spendQuarterHours(since: 0).map(\.micros) == [2500])
        // A provider that is bytes, not text (a blob keeps its type in a TEXT column).
        try MigrationNamesTests.corrupt(path, "UPDATE spend SET provider = X'FF' WHERE id = 7")
        #expect(throws: LedgerError.self) { try store.spendQuarterHours(since: 0) }
        try MigrationNamesTests.corrupt(path, """
            INSERT INTO runs (id, job, kind, trigger, created_at, status, started_at) VALUES (2, 'sweep', 'repricing-sweep', 'manual', 1000, 'running', 'soon');
            """)
        #expect(throws: LedgerError.self) {
            try store.finishRun(runID: 2, status: .succeeded, summary: nil, error: nil, spendMicros: 0, at: 2000)
        }
    }

    @Test func aRunWithAnUnknownStatusIsAnError() throws {
        let (path, store) = try Self.ledger()
        #expect(try store.run(id: 1)?.status == .succeeded)
        try MigrationNamesTests.corrupt(path, """
            PRAGMA ignore_check_constraints = ON;
            UPDATE runs SET status = 'exploded' WHERE id = 1;
            """)
        let error = #expect(throws: LedgerError.self) { try store.run(id: 1) }
        #expect("\(String(describing: error))".contains("runs row (id 1)"))
        #expect(throws: LedgerError.self) { try store.recentRuns(job: nil, limit: 5) }
        #expect(throws: LedgerError.self) { try store.runs(createdSince: 0) }
    }

    @Test func aTaskWithAnUnknownStatusIsAnErrorNamingTheTask() throws {
        let (path, store) = try Self.ledger()
        try store.saveTask(TaskInfo(runID: 1, key: "fetch", agent: "ebay", status: .succeeded, attempts: 1))
        #expect(try store.tasks(runID: 1).map(\.status) == [.succeeded])
        try MigrationNamesTests.corrupt(path, """
            PRAGMA ignore_check_constraints = ON;
            UPDATE tasks SET status = 'exploded' WHERE run_id = 1;
            """)
        let error = #expect(throws: LedgerError.self) { try store.tasks(runID: 1) }
        #expect("\(String(describing: error))".contains("tasks row (run_id 1, key \"fetch\")"))
    }

    @Test func aScheduleStateThatDoesNotDecodeIsAnErrorNamingTheJob() throws {
        let (path, store) = try Self.ledger()
        try store.saveScheduleState(ScheduleState(job: "sweep", lastScheduledAt: 1000, nextDueAt: 4600))
        #expect(try store.scheduleStates()["sweep"]?.nextDueAt == 4600)
        try MigrationNamesTests.corrupt(path, "UPDATE schedule_state SET next_due_at = 'soon' WHERE job = 'sweep'")
        let error = #expect(throws: LedgerError.self) { try store.scheduleStates() }
        #expect("\(String(describing: error))".contains("schedule_state row (job \"sweep\")"))
    }

    /// Integers the daemon sums or compares (a budget's spend, a SKU's on-hand, earlier sales
    /// before a SKU is seeded, a run's start) are read type-checked. GRDB's `Int.fetchOne` reads
    /// text as 0 and SQLite's `SUM` counts it as 0: each read below went on with 0 before.
    @Test func corruptedIntegersInBudgetsStockAndRunStartsAreErrors() throws {
        let (path, store) = try Self.ledger()
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        try MigrationNamesTests.corrupt(path, """
            INSERT INTO spend (id, at_ms, provider, operation, units, cost_micros, currency, run_id, served_from_cache)
            VALUES (8, \(clock.wallMilliseconds()), 'openai', 'match', 1, 9000000, 'USD', 1, 0);
            """)
        let budgets = SpendBudgets(currency: .usd, timezone: .utc, daily: usd(10_000_000))
        #expect(try SpendLedger(store: store, budgets: budgets, clock: clock).spent(runID: 1).micros == 9_002_500)
        _ = try SpendLedger(store: store, budgets: budgets, clock: clock)
            .reserve(provider: "openai", operation: "match", estimate: usd(500_000))
        #expect(throws: TaskFailure.self, "9 of 10 dollars spent today") {
            try SpendLedger(store: store, budgets: budgets, clock: clock)
                .reserve(provider: "openai", operation: "match", estimate: usd(2_000_000))
        }
        let running = try SpendLedger(store: store, budgets: budgets, clock: clock)
        try MigrationNamesTests.corrupt(path, "UPDATE spend SET cost_micros = 'lots' WHERE id = 8")
        let error = #expect(throws: LedgerError.self) { try running.spent(runID: 1) }
        #expect("\(String(describing: error))".contains("spend.cost_micros: 1 value that is not an integer"))
        #expect(throws: LedgerError.self, "the spend report") { try SpendHistory(store: store).totals(since: 0, by: .day, timezone: .utc) }
        #expect(throws: LedgerError.self, "the HTML report's spend") { try store.spendQuarterHours(since: 0) }
        #expect(throws: LedgerError.self, "a ledger that cannot load today's totals does not open") {
            try SpendLedger(store: store, budgets: budgets, clock: clock)
        }
        // The next day the running ledger reloads its totals: the month's cannot be read, so the
        // call is refused, never let through as if 'lots' were 0.
        clock.advance(bySeconds: 86_400)
        #expect(throws: TaskFailure.self) { try running.reserve(provider: "openai", operation: "match", estimate: usd(2_000_000)) }

        let sync = try SyncStore(path: path)
        func line(_ order: String, _ marketplace: MarketplaceName, sku: String) -> OrdersPage {
            OrdersPage(lines: [OrderLine(marketplace: marketplace, orderID: order, lineID: order + "-1", sku: sku, quantity: 1, placedAt: 0)],
                       cursor: order)
        }
        try sync.seed(["A": 5], from: .ebay, at: 0)
        try MigrationNamesTests.corrupt(path, "UPDATE sync_stock SET on_hand = 'five' WHERE sku = 'A'")
        #expect(throws: LedgerError.self) { try sync.applyOrders(line("1", .ebay, sku: "A"), job: "sync", marketplace: .ebay, runID: 1, at: 1) }
        #expect(try sync.orderLineCount() == 0, "the page is not applied")
        #expect(try sync.oversells().isEmpty, "nor an oversell recorded against an on-hand of 0")

        _ = try sync.applyOrders(line("2", .amazon, sku: "B"), job: "sync", marketplace: .amazon, runID: 1, at: 1)
        try MigrationNamesTests.corrupt(path, "UPDATE sync_order_lines SET quantity = 'one' WHERE sku = 'B'")
        #expect(throws: LedgerError.self) { try sync.seed(["B": 4], from: .ebay, at: 2) }

        try MigrationNamesTests.corrupt(path, """
            PRAGMA foreign_keys = OFF;
            INSERT INTO runs (id, job, kind, trigger, created_at, status, started_at, resumes)
            VALUES (2, 'sweep', 'repricing-sweep', 'manual', 1000, 'running', 'soon', NULL),
                   (3, 'sweep', 'repricing-sweep', 'manual', 1000, 'running', 1000, 2),
                   (4, 'sweep', 'repricing-sweep', 'manual', 1000, 'running', 1000, 3);
            UPDATE runs SET resumes = 'two' WHERE id = 3;
            """)
        #expect(throws: LedgerError.self) { try store.runStartedAt(runID: 2) }
        #expect(throws: (any Error).self, "a resume chain through a corrupted link") { try store.sweepID(ofRun: 4) }
    }
}
