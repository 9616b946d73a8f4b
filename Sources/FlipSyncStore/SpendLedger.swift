import FlipSyncCore
import GRDB
import Synchronization

/// The durable spend ledger: one `spend` row per metered call, and the budgets enforced
/// against it.
///
/// Budgets are enforced with reservations, in memory and under one lock: the money spent in the
/// current local day and month (and by each job today, and by each run with a per-run limit) is
/// loaded from the table when the ledger opens and whenever the day changes, then kept current
/// by `record`. `reserve` refuses a call when spent + reserved by calls in flight + its estimate
/// would exceed any budget that applies (`SpendBudgets`), so concurrent tasks cannot overshoot
/// together, and a restart cannot reset a budget. `record` settles the reservation at the real
/// cost under the same lock, then writes the row through the store's group commit and returns
/// once it is committed (the totals move first, so a total loaded from the table meanwhile never
/// counts the call twice); in a task that runs under `WriteBehind.run`, once it is queued, and
/// the task waits for it with its other writes.
///
/// The job, run and task of a call come from `SpendContext.current`, bound by the run
/// coordinator around each task. Limits are looked up at each reservation: `setBudgets` (on a
/// reload) applies at once, to runs already going too.
///
/// Costs in a currency other than the budgets' are recorded but cannot be counted; the ledger
/// says so through `onEvent`. Reaching 80% of a budget is told once per budget period and limit
/// (a budget already 80% spent when loaded counts as told).
public final class SpendLedger: SpendRecorder, Sendable {
    private let writer: any DatabaseWriter
    private let group: GroupCommit
    private let metrics: LedgerMetrics
    private let clock: any SchedulerClock
    private let onEvent: @Sendable (SpendEvent) -> Void
    private let tally: Mutex<Tally>
    /// Queries over the same database.
    public let history: SpendHistory

    /// The spend ledger in `store`'s database (opened read-write; its migrations create the
    /// `spend` table), with `budgets`, loading today's and this month's totals from the table.
    /// `onEvent` is told of 80% warnings and of calls that could not be counted; the daemon
    /// journals them (`SpendEvent.log(to:)`).
    public init(store: RunStore, budgets: SpendBudgets, clock: any SchedulerClock,
                onEvent: @escaping @Sendable (SpendEvent) -> Void = { _ in }) throws(LedgerError) {
        writer = store.writer
        group = store.group
        metrics = store.metrics
        self.clock = clock
        self.onEvent = onEvent
        history = SpendHistory(store: store)
        tally = Mutex(Tally(budgets: budgets))
        let now = clock.wallMilliseconds()
        let loaded = tally.withLock { t in Result { () throws(LedgerError) in try roll(&t, to: now) } }
        try loaded.get()
    }

    /// Registers the `spend` table's schema steps; `RunStore.migrator` calls it.
    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m02-spend: one row per metered call") { db in
            try db.execute(sql: """
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
                -- Day and month totals, per-job day totals and every report scan a time range.
                CREATE INDEX spend_at ON spend(at_ms, currency, cost_micros);
                -- A run's spend (per-run budgets, the run's spend_micros).
                CREATE INDEX spend_run ON spend(run_id, currency, cost_micros) WHERE run_id IS NOT NULL;
                """)
        }
    }

    /// Replaces the limits (after a reload). A new zone or currency reloads the period totals.
    public func setBudgets(_ budgets: SpendBudgets) {
        tally.withLock { t in
            if budgets.timezone.identifier != t.budgets.timezone.identifier || budgets.currency != t.budgets.currency {
                t.day = 0..<0
            }
            t.budgets = budgets
        }
    }

    public var budgets: SpendBudgets { tally.withLock { $0.budgets } }

    /// What run `runID` has spent, from the table (for the run's `spend_micros`).
    public func spent(runID: Int64) throws(LedgerError) -> Money {
        let currency = budgets.currency
        do {
            let micros = try writer.read { db in try Self.runSpent(db, runID: runID, currency: currency) }
            return Money(micros: micros, currency: currency)
        } catch {
            throw .wrapping(error)
        }
    }

    // MARK: - SpendRecorder

    public func reserve(provider: String, operation: String, estimate: Money) throws(TaskFailure) -> SpendReservation {
        let context = SpendContext.current
        let outcome = tally.withLock { t -> Result<Int64, TaskFailure> in
            let now = clock.wallMilliseconds()  // read under the lock, so the periods only move forward
            if let failure = t.budgets.unpriceable(provider: provider, operation: operation, estimate: estimate) { return .failure(failure) }
            do {
                try roll(&t, to: now)
                if case .exceeds(let budget) = SpendBudgets.verdict(try applicableBudgets(&t, context: context), estimate: estimate.micros) {
                    return .failure(t.budgets.refusal(by: budget, estimate: estimate, provider: provider, operation: operation))
                }
            } catch {
                return .failure(.transient("spend ledger unreadable, cannot check budgets: \(error)", retryAfter: nil))
            }
            t.nextID += 1
            t.hold(Hold(micros: estimate.micros, job: context?.job, runID: context?.runID), id: t.nextID)
            return .success(t.nextID)
        }
        return SpendReservation(id: try outcome.get(), estimate: estimate)
    }

    public func record(_ call: MeteredCall, settling reservation: SpendReservation?) async {
        let context = SpendContext.current
        let (now, early) = tally.withLock { t -> (Int64, [SpendEvent]) in
            let now = clock.wallMilliseconds()
            if let reservation { t.release(id: reservation.id) }
            var events: [SpendEvent] = []
            let counted = call.cost.currency == t.budgets.currency
            if !counted {
                events.append(.notCounted("\(call.provider) \(call.operation) cost \(call.cost) but budgets are in \(t.budgets.currency)"))
            }
            // The totals move before the row is written: a run or period loaded from the table
            // from now on cannot hold this call yet, so it is never counted twice.
            do {
                try roll(&t, to: now)
                if counted, call.cost.micros != 0 {
                    let budgets = try applicableBudgets(&t, context: context)
                    t.add(call.cost.micros, context: context)
                    events += t.crossings(of: budgets, adding: call.cost.micros)
                }
            } catch {
                events.append(.notCounted("\(call.provider) \(call.operation) (\(call.cost)): \(error)"))
            }
            return (now, events)
        }
        for event in early { onEvent(event) }
        // Committed with the other writes waiting (group commit), returning once it is on disk;
        // behind a task that runs under `WriteBehind.run` (a repricing decide task), queued, and
        // the task waits for it with its other writes, not after each call. A row that fails is
        // told (`recorded`), never the task's error.
        await group.write({ db in try Self.insert(db, call, context: context, at: now) }) { [metrics, onEvent] error -> Never? in
            Self.recorded(call, error, metrics: metrics, onEvent: onEvent)
            return nil
        }
    }

    /// After a call's row is committed (`error` nil) or has failed.
    private static func recorded(_ call: MeteredCall, _ error: (any Error)?, metrics: LedgerMetrics,
                                 onEvent: @Sendable (SpendEvent) -> Void) {
        guard let error else { return metrics.apiCall(call) }
        // The money is spent all the same: it still counts in memory until the next reload.
        onEvent(.notCounted("\(call.provider) \(call.operation) (\(call.cost)) not recorded: \(error)"))
    }

    // MARK: - Totals in memory

    private struct Hold {
        var micros: Int64
        var job: String?
        var runID: Int64?
    }

    private struct Tally {
        var budgets: SpendBudgets
        /// The periods the totals are for; empty until loaded.
        var day: Range<Int64> = 0..<0
        var month: Range<Int64> = 0..<0
        var daySpent: Int64 = 0
        var monthSpent: Int64 = 0
        var jobDaySpent: [String: Int64] = [:]
        /// Runs of jobs with a per-run limit, loaded on first use and forgotten when the day changes.
        var runSpent: [Int64: Int64] = [:]
        var holds: [Int64: Hold] = [:]
        var reserved: Int64 = 0
        var reservedByJob: [String: Int64] = [:]
        var reservedByRun: [Int64: Int64] = [:]
        var nextID: Int64 = 0
        /// Budgets (scope and limit) already told to be 80% spent in their current period.
        var warned: Set<WarningKey> = []

        struct WarningKey: Hashable {
            var scope: BudgetScope
            var limit: Int64
        }

        init(budgets: SpendBudgets) { self.budgets = budgets }

        mutating func hold(_ hold: Hold, id: Int64) {
            holds[id] = hold
            reserved += hold.micros
            if let job = hold.job { reservedByJob[job, default: 0] += hold.micros }
            if let run = hold.runID { reservedByRun[run, default: 0] += hold.micros }
        }

        mutating func release(id: Int64) {
            guard let hold = holds.removeValue(forKey: id) else { return }
            reserved -= hold.micros
            if let job = hold.job {
                reservedByJob[job, default: 0] -= hold.micros
                if reservedByJob[job] == 0 { reservedByJob[job] = nil }
            }
            if let run = hold.runID {
                reservedByRun[run, default: 0] -= hold.micros
                if reservedByRun[run] == 0 { reservedByRun[run] = nil }
            }
        }

        mutating func add(_ micros: Int64, context: SpendContext?) {
            daySpent += micros
            monthSpent += micros
            if let context {
                jobDaySpent[context.job, default: 0] += micros
                // Only runs being tracked (loaded by `applicableBudgets` before the row was written).
                if runSpent[context.runID] != nil { runSpent[context.runID]! += micros }
            }
        }

        /// Marks and returns the budgets (as they were before `micros` was added) that have
        /// reached 80% with it and were not told yet in their period.
        mutating func crossings(of budgets: [ApplicableBudget], adding micros: Int64) -> [SpendEvent] {
            budgets.compactMap { budget in
                guard let warning = budget.warning(adding: micros, currency: self.budgets.currency, crossing: false),
                      warned.insert(WarningKey(scope: budget.scope, limit: budget.limit)).inserted else { return nil }
                return .nearLimit(warning)
            }
        }

        /// A budget already 80% spent when its total is loaded was told by whoever spent it.
        mutating func markWarnedIfReached(_ scope: BudgetScope, limit: Money?, spent: Int64) {
            if let limit, BudgetWarning.isReached(spent: spent, limit: limit.micros) {
                warned.insert(WarningKey(scope: scope, limit: limit.micros))
            }
        }
    }

    /// Moves the totals to the day and month containing `now`, reloading them from the table
    /// when the day changed (or the clock went back).
    private func roll(_ t: inout Tally, to now: Int64) throws(LedgerError) {
        guard !t.day.contains(now) else { return }
        let periods = LocalPeriods(zone: t.budgets.timezone)
        let day = periods.day(containing: now), month = periods.month(containing: now)
        let currency = t.budgets.currency.code
        let loaded: (day: Int64, month: Int64, jobs: [String: Int64])
        do {
            loaded = try writer.read { db in
                func sum(_ range: Range<Int64>) throws -> Int64 {
                    try checkedSum(db, of: "cost_micros", from: "spend", where: "at_ms >= ? AND at_ms < ? AND currency = ?",
                                   arguments: [range.lowerBound, range.upperBound, currency])
                }
                let rows = try Row.fetchAll(db, sql: """
                    SELECT job, SUM(cost_micros) AS spent FROM spend
                    WHERE at_ms >= ? AND at_ms < ? AND currency = ? AND job IS NOT NULL GROUP BY job
                    """, arguments: [day.lowerBound, day.upperBound, currency])
                let jobs = Dictionary(uniqueKeysWithValues: try rows.map { (try $0.decode(String.self, forColumn: "job"), try $0.decode(Int64.self, forColumn: "spent")) })
                return (try sum(day), try sum(month), jobs)
            }
        } catch {
            throw .storage("cannot load spend totals: \(error)")
        }
        // Day and run warnings start afresh (runs reload and re-mark); the month's only in a new month.
        let sameMonth = month == t.month
        t.warned = t.warned.filter { key in
            if case .monthly = key.scope { return sameMonth }
            return false
        }
        (t.day, t.month, t.daySpent, t.monthSpent, t.jobDaySpent) = (day, month, loaded.day, loaded.month, loaded.jobs)
        t.runSpent = [:]
        t.markWarnedIfReached(.daily, limit: t.budgets.daily, spent: t.daySpent)
        t.markWarnedIfReached(.monthly, limit: t.budgets.monthly, spent: t.monthSpent)
        for (job, spent) in t.jobDaySpent {
            t.markWarnedIfReached(.jobDaily(job: job), limit: t.budgets.jobs[job]?.perDay, spent: spent)
        }
    }

    /// The budgets that apply to a call made in `context`, loading its run's total if needed.
    private func applicableBudgets(_ t: inout Tally, context: SpendContext?) throws(LedgerError) -> [ApplicableBudget] {
        var result: [ApplicableBudget] = []
        for (scope, limit) in t.budgets.scopes(for: context) {
            let spent: Int64, reserved: Int64
            switch scope {
            case .daily: (spent, reserved) = (t.daySpent, t.reserved)
            case .monthly: (spent, reserved) = (t.monthSpent, t.reserved)
            case .jobDaily(let job): (spent, reserved) = (t.jobDaySpent[job] ?? 0, t.reservedByJob[job] ?? 0)
            case .run(_, let runID):
                if t.runSpent[runID] == nil {
                    let currency = t.budgets.currency
                    do {
                        let loaded = try writer.read { db in try Self.runSpent(db, runID: runID, currency: currency) }
                        t.runSpent[runID] = loaded
                        t.markWarnedIfReached(scope, limit: Money(micros: limit, currency: currency), spent: loaded)
                    } catch {
                        throw .storage("cannot load the spend of run \(runID): \(error)")
                    }
                }
                (spent, reserved) = (t.runSpent[runID] ?? 0, t.reservedByRun[runID] ?? 0)
            }
            result.append(ApplicableBudget(scope: scope, limit: limit, spent: spent, reserved: reserved))
        }
        return result
    }

    // MARK: - SQL

    private static func runSpent(_ db: Database, runID: Int64, currency: Currency) throws -> Int64 {
        try checkedSum(db, of: "cost_micros", from: "spend", where: "run_id = ? AND currency = ?", arguments: [runID, currency.code])
    }

    /// One row per call, through a statement prepared once per connection.
    private static func insert(_ db: Database, _ call: MeteredCall, context: SpendContext?, at: Int64) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO spend (at_ms, provider, operation, units, input_tokens, cached_input_tokens, output_tokens,
                                   cost_micros, currency, job, run_id, task_key, served_from_cache, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).executeBound(at, call.provider, call.operation, call.units, call.inputTokens, call.cachedInputTokens,
                                  call.outputTokens, call.cost.micros, call.cost.currency.code, context?.job, context?.runID,
                                  context?.taskKey, call.servedFromCache, call.status)
    }
}
