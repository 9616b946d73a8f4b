import Testing
@testable import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit

func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }

let newYork = try! ZoneRules.named("America/New_York")

/// A spend ledger over a real SQLite file in a scratch directory, on a manual clock.
struct SpendHarness {
    let scratch = Scratch()
    let clock: ManualClock
    let events = Locked<[SpendEvent]>([])
    var path: String { scratch.path + "/ledger.sqlite" }

    init(at start: String) {
        clock = ManualClock(Timestamp(parsing: start)!)
    }

    func open(_ budgets: SpendBudgets) throws -> SpendLedger {
        try SpendLedger(store: RunStore(path: path), budgets: budgets, clock: clock) { [events] event in events.withLock { $0.append(event) } }
    }

    var warnings: [BudgetWarning] {
        events.withLock { $0.compactMap { if case .nearLimit(let warning) = $0 { warning } else { nil } } }
    }
}

func paid(_ cost: Int64, provider: String = "carrier", operation: String = "rates.quote") -> MeteredCall {
    MeteredCall(provider: provider, operation: operation, cost: usd(cost), status: 200)
}

/// Reserves `estimate` and records the call at `actual`, inside `context` (if any).
func spend(_ ledger: SpendLedger, _ actual: Int64, estimate: Int64? = nil, in context: SpendContext? = nil) async throws {
    try await SpendContext.$current.withValue(context) {
        let reservation = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: usd(estimate ?? actual))
        await ledger.record(paid(actual), settling: reservation)
    }
}

func refused(_ ledger: SpendLedger, _ estimate: Int64, in context: SpendContext? = nil) async -> String? {
    await SpendContext.$current.withValue(context) { () async -> String? in
        do throws(TaskFailure) {
            let reservation = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: usd(estimate))
            await ledger.record(paid(0), settling: reservation)  // give the money back: this only probes
            return nil
        } catch {
            guard case .budgetExhausted(let message) = error else { return "unexpected: \(error)" }
            return message
        }
    }
}

@Suite("Spend ledger: recording, budgets, reservations", .timeLimit(.minutes(2)))
struct SpendLedgerTests {
    @Test("a call recorded deep inside a task carries the job, run and task the coordinator bound")
    func taskLocalContext() async throws {
        let h = try CoordinatorHarness()
        let ledger = try SpendLedger(store: h.store, budgets: SpendBudgets(currency: .usd, timezone: .utc), clock: h.clock)
        let agent = ScriptedAgent { key, _, _ in
            let reservation = try ledger.reserve(provider: "openai", operation: "responses", estimate: usd(2_000))
            await ledger.record(MeteredCall(provider: "openai", operation: "responses", units: 150, cost: usd(1_234), status: 200,
                                      inputTokens: 100, cachedInputTokens: 40, outputTokens: 50), settling: reservation)
            await ledger.record(MeteredCall(provider: "ebay", operation: "browse.item_summary.search", cost: usd(0),
                                      servedFromCache: key == "b", status: key == "b" ? nil : 200))
            return ok
        }
        let run = try h.newRun()
        #expect(await h.coordinator(ScriptedPlan(keys: ["a", "b"], agent: agent)).execute(run: run, job: h.job) == .succeeded)

        let calls = try ledger.history.calls(runID: run.id)
        #expect(calls.count == 4)
        #expect(calls.allSatisfy { $0.job == "probe" && $0.runID == run.id })
        #expect(Set(calls.map(\.taskKey)) == ["a", "b"])
        let llm = try #require(calls.first { $0.taskKey == "a" && $0.call.provider == "openai" })
        #expect(llm.call == MeteredCall(provider: "openai", operation: "responses", units: 150, cost: usd(1_234), status: 200,
                                        inputTokens: 100, cachedInputTokens: 40, outputTokens: 50))
        #expect(llm.at == h.clock.wallMilliseconds())
        #expect(calls.first { $0.taskKey == "b" && $0.call.provider == "ebay" }?.call.servedFromCache == true)
        #expect(try ledger.spent(runID: run.id) == usd(2_468))
        // Outside any task there is no context: the row has no job.
        await ledger.record(paid(5))
        #expect(try ledger.history.totals(since: 0, by: .job, timezone: .utc).map(\.key) == ["probe", nil])
    }

    struct ConcurrencyCase: Sendable, CustomTestStringConvertible {
        var name: String
        var budgets: SpendBudgets
        var testDescription: String { name }
    }

    static let oneDollar = usd(1_000_000)
    static let concurrencyCases = [
        ConcurrencyCase(name: "global daily", budgets: SpendBudgets(currency: .usd, timezone: newYork, daily: oneDollar)),
        ConcurrencyCase(name: "global monthly", budgets: SpendBudgets(currency: .usd, timezone: newYork, monthly: oneDollar)),
        ConcurrencyCase(name: "job per day", budgets: SpendBudgets(currency: .usd, timezone: newYork,
                                                                   jobs: ["reprice": .init(perDay: oneDollar)])),
        ConcurrencyCase(name: "job per run", budgets: SpendBudgets(currency: .usd, timezone: newYork,
                                                                   jobs: ["reprice": .init(perRun: oneDollar)])),
    ]

    @Test("200 concurrent tasks each reserving 1¢ against a 1.00 USD budget: exactly 100 succeed, never more spent",
          arguments: concurrencyCases)
    func concurrentReservations(_ c: ConcurrencyCase) async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00Z")
        let ledger = try h.open(c.budgets)
        let granted = Locked(0)
        let context = SpendContext(job: "reprice", runID: 7, taskKey: "t")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await SpendContext.$current.withValue(context) {
                        guard let reservation = try? ledger.reserve(provider: "carrier", operation: "labels.buy", estimate: usd(10_000))
                        else { return }
                        granted.withLock { $0 += 1 }
                        await Task.yield()  // hold the reservation while others try
                        await ledger.record(paid(10_000, operation: "labels.buy"), settling: reservation)
                    }
                }
            }
        }
        #expect(granted.withLock { $0 } == 100)
        #expect(try ledger.spent(runID: 7) == Self.oneDollar)
        #expect(try ledger.history.totals(since: 0, by: .provider, timezone: newYork).map(\.cost) == [Self.oneDollar])
        #expect(await refused(ledger, 1, in: context) != nil)
    }

    @Test("settling at an actual cost below the estimate frees the difference at once")
    func settleBelowEstimate() async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00Z")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: newYork, daily: usd(100_000)))
        let held = try ledger.reserve(provider: "carrier", operation: "labels.buy", estimate: usd(100_000))
        #expect(await refused(ledger, 1) != nil, "the whole budget is reserved")
        await ledger.record(paid(30_000), settling: held)
        #expect(await refused(ledger, 70_001) != nil)
        #expect(await refused(ledger, 70_000) == nil)
        // A call that was never made settles at zero and gives everything back.
        let unused = try ledger.reserve(provider: "carrier", operation: "labels.buy", estimate: usd(70_000))
        await ledger.record(MeteredCall(provider: "carrier", operation: "labels.buy", cost: usd(0), status: nil), settling: unused)
        #expect(await refused(ledger, 70_000) == nil)
    }

    @Test("a refusal names the budget, its limit, what is spent and reserved, and what was asked")
    func refusalMessage() async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00Z")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: newYork, daily: usd(5_000_000),
                                             jobs: ["reprice": .init(perRun: usd(50_000))]))
        let context = SpendContext(job: "reprice", runID: 3, taskKey: "sku-1")
        try await spend(ledger, 40_000, in: context)
        _ = try SpendContext.$current.withValue(context) {
            try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: usd(4_215))
        }
        #expect(await refused(ledger, 10_000, in: context)
            == "budget of run 3 of job \"reprice\" of 0.05 USD exhausted: 0.04 USD spent, 0.004215 USD reserved, 0.01 USD requested for carrier rates.quote")
        #expect(await refused(ledger, 10_000, in: SpendContext(job: "reprice", runID: 4, taskKey: "sku-1")) == nil, "another run has its own budget")
        #expect(await refused(ledger, 10_000) == nil, "outside a run only the global budgets apply")
    }

    @Test("the daily budget resets at local midnight in the configured zone, not at UTC midnight")
    func dailyResetsAtLocalMidnight() async throws {
        let h = SpendHarness(at: "2026-11-25T18:30:00-05:00")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: newYork, daily: usd(50_000)))
        try await spend(ledger, 50_000)
        #expect(await refused(ledger, 1) != nil)
        h.clock.advance(to: Timestamp(parsing: "2026-11-26T00:00:00Z")!)  // 19:00 in New York
        #expect(await refused(ledger, 1) != nil)
        h.clock.advance(to: Timestamp(parsing: "2026-11-25T23:59:59-05:00")!)
        #expect(await refused(ledger, 1) != nil)
        h.clock.advance(bySeconds: 1)
        #expect(await refused(ledger, 50_000) == nil)
        try await spend(ledger, 50_000)
        #expect(await refused(ledger, 1) != nil)
    }

    @Test("a job's daily budget counts all its runs, only its own, and resets at local midnight")
    func jobDailyBudget() async throws {
        let h = SpendHarness(at: "2026-11-25T22:00:00-05:00")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: newYork, jobs: ["reprice": .init(perDay: usd(30_000))]))
        try await spend(ledger, 20_000, in: SpendContext(job: "reprice", runID: 1, taskKey: "a"))
        try await spend(ledger, 10_000, in: SpendContext(job: "reprice", runID: 2, taskKey: "a"))
        #expect(await refused(ledger, 1, in: SpendContext(job: "reprice", runID: 3, taskKey: "a"))?.hasPrefix("daily budget of job \"reprice\" of 0.03 USD") == true)
        #expect(await refused(ledger, 1_000_000, in: SpendContext(job: "sync", runID: 4, taskKey: "a")) == nil)
        h.clock.advance(to: Timestamp(parsing: "2026-11-26T00:00:00-05:00")!)
        #expect(await refused(ledger, 30_000, in: SpendContext(job: "reprice", runID: 3, taskKey: "a")) == nil)
    }

    @Test("the monthly budget counts every day of the local month and resets on the 1st at local midnight")
    func monthlyBudget() async throws {
        let h = SpendHarness(at: "2026-11-01T00:00:00-04:00")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: newYork, monthly: usd(100_000)))
        try await spend(ledger, 60_000)
        h.clock.advance(to: Timestamp(parsing: "2026-11-30T23:59:59-05:00")!)
        try await spend(ledger, 40_000)
        #expect(await refused(ledger, 1)?.hasPrefix("monthly budget of 0.10 USD exhausted: 0.10 USD spent") == true)
        h.clock.advance(bySeconds: 1)
        #expect(await refused(ledger, 100_000) == nil)
    }

    @Test("reaching 80% of a budget warns once per period; a new day warns again")
    func warningOnce() async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00-05:00")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: newYork, daily: usd(100_000), monthly: usd(10_000_000)))
        try await spend(ledger, 79_999)
        #expect(h.warnings.isEmpty)
        try await spend(ledger, 1)
        #expect(h.warnings == [BudgetWarning(scope: .daily, limit: usd(100_000), spent: usd(80_000))])
        try await spend(ledger, 10_000)
        try await spend(ledger, 10_000)
        #expect(h.warnings.count == 1)
        h.clock.advance(to: Timestamp(parsing: "2026-11-26T09:00:00-05:00")!)
        try await spend(ledger, 90_000)
        #expect(h.warnings.count == 2)
        #expect(h.warnings.last == BudgetWarning(scope: .daily, limit: usd(100_000), spent: usd(90_000)))
        // A restart does not warn again for a budget already past 80%.
        let reopened = try h.open(SpendBudgets(currency: .usd, timezone: newYork, daily: usd(100_000)))
        try await spend(reopened, 1_000)
        #expect(h.warnings.count == 2)
    }

    @Test("a per-run budget warns for that run only, once")
    func runWarning() async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00Z")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: .utc, jobs: ["reprice": .init(perRun: usd(10_000))]))
        for _ in 0..<9 { try await spend(ledger, 1_000, in: SpendContext(job: "reprice", runID: 1, taskKey: "a")) }
        try await spend(ledger, 8_000, in: SpendContext(job: "reprice", runID: 2, taskKey: "a"))
        #expect(h.warnings.map(\.scope) == [.run(job: "reprice", runID: 1), .run(job: "reprice", runID: 2)])
    }

    @Test("reopening the database reloads what today, this month and a run have spent: a restart cannot reset a budget")
    func reopenReloads() async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00-05:00")
        let budgets = SpendBudgets(currency: .usd, timezone: newYork, daily: usd(200_000), monthly: usd(150_000),
                                   jobs: ["reprice": .init(perRun: usd(40_000), perDay: usd(70_000))])
        do {
            let ledger = try h.open(budgets)
            try await spend(ledger, 50_000)  // yesterday, by the time of the restart: counts for the month only
            h.clock.advance(to: Timestamp(parsing: "2026-11-26T08:00:00-05:00")!)
            try await spend(ledger, 35_000, in: SpendContext(job: "reprice", runID: 9, taskKey: "a"))
            try await spend(ledger, 20_000, in: SpendContext(job: "reprice", runID: 10, taskKey: "a"))
        }
        let ledger = try h.open(budgets)
        #expect(await refused(ledger, 5_001, in: SpendContext(job: "reprice", runID: 9, taskKey: "b"))?
            .hasPrefix("budget of run 9 of job \"reprice\" of 0.04 USD exhausted: 0.035 USD spent") == true)
        #expect(await refused(ledger, 15_001, in: SpendContext(job: "reprice", runID: 11, taskKey: "a"))?
            .hasPrefix("daily budget of job \"reprice\" of 0.07 USD exhausted: 0.055 USD spent") == true)
        #expect(await refused(ledger, 145_001)?.hasPrefix("daily budget of 0.20 USD exhausted: 0.055 USD spent") == true)
        #expect(await refused(ledger, 45_001)?.hasPrefix("monthly budget of 0.15 USD exhausted: 0.105 USD spent") == true)
        #expect(await refused(ledger, 45_000) == nil)
    }

    @Test("totals by job, provider and local day are exact, across a DST change")
    func totals() async throws {
        // 2026-11-01 is the day New York falls back: 25 hours long.
        let h = SpendHarness(at: "2026-10-31T23:59:59-04:00")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: newYork))
        let reprice = SpendContext(job: "reprice", runID: 1, taskKey: "a")
        let calls: [(String, SpendContext?, MeteredCall)] = [
            ("2026-10-31T23:59:59-04:00", reprice, paid(4_215)),
            ("2026-11-01T00:00:00-04:00", reprice, MeteredCall(provider: "openai", operation: "responses", units: 300, cost: usd(1_001),
                                                                status: 200, inputTokens: 200, cachedInputTokens: 150, outputTokens: 100)),
            ("2026-11-01T23:59:59-05:00", nil, MeteredCall(provider: "ebay", operation: "browse", cost: usd(0), servedFromCache: true, status: nil)),
            ("2026-11-02T00:00:00-05:00", SpendContext(job: "sync", runID: 2, taskKey: "b"), paid(999_999)),
        ]
        for (time, context, call) in calls {
            h.clock.advance(to: Timestamp(parsing: time)!)
            await SpendContext.$current.withValue(context) { await ledger.record(call) }
        }
        let periods = LocalPeriods(zone: newYork)
        let since = periods.start(of: CivilDate(year: 2026, month: 11, day: 1))

        let byDay = try ledger.history.totals(since: 0, by: .day, timezone: newYork)
        #expect(byDay.map(\.key) == ["2026-10-31", "2026-11-01", "2026-11-02"])
        #expect(byDay.map(\.calls) == [1, 2, 1])
        #expect(byDay.map(\.cost) == [usd(4_215), usd(1_001), usd(999_999)])
        #expect(byDay[1].cachedCalls == 1 && byDay[1].cachedShare == Percent(partsPerMillion: 500_000))
        #expect(byDay[1].units == 301 && byDay[1].inputTokens == 200 && byDay[1].cachedInputTokens == 150 && byDay[1].outputTokens == 100)

        // A range with no DST change in it.
        let lastDay = try ledger.history.totals(since: periods.start(of: CivilDate(year: 2026, month: 11, day: 2)), by: .day, timezone: newYork)
        #expect(lastDay.map(\.key) == ["2026-11-02"])
        #expect(try ledger.history.totals(since: 0, by: .day, timezone: .utc).map(\.key) == ["2026-11-01", "2026-11-02"])

        let byJob = try ledger.history.totals(since: since, by: .job, timezone: newYork)
        #expect(byJob.map(\.key) == ["sync", "reprice", nil])  // by cost, highest first
        #expect(byJob.map(\.cost) == [usd(999_999), usd(1_001), usd(0)])

        let byProvider = try ledger.history.totals(since: 0, by: .provider, timezone: newYork)
        #expect(byProvider.map(\.key) == ["carrier", "openai", "ebay"])
        #expect(byProvider.map(\.cost) == [usd(1_004_214), usd(1_001), usd(0)])
        #expect(SpendTotal.sums(of: byProvider).map(\.cost) == [usd(1_005_215)])
        #expect(SpendTotal.sums(of: byProvider).map(\.calls) == [4])
    }

    @Test("a paid call priced in another currency is refused; one recorded in it is kept but not counted")
    func foreignCurrency() async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00Z")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: .utc, daily: usd(10)))
        let eur = Currency(code: "EUR")!
        #expect(throws: TaskFailure.self) { try ledger.reserve(provider: "x", operation: "y", estimate: Money(micros: 1, currency: eur)) }
        await ledger.record(MeteredCall(provider: "x", operation: "y", cost: Money(micros: 1_000, currency: eur), status: 200))
        #expect(await refused(ledger, 10) == nil)
        let totals = try ledger.history.totals(since: 0, by: .provider, timezone: .utc)
        #expect(totals.contains { $0.key == "x" && $0.cost == Money(micros: 1_000, currency: eur) })
        #expect(h.events.withLock { $0.count } == 1)
    }

    @Test("new limits from a reload apply at the next reservation")
    func setBudgets() async throws {
        let h = SpendHarness(at: "2026-11-25T12:00:00Z")
        let ledger = try h.open(SpendBudgets(currency: .usd, timezone: .utc, daily: usd(10_000)))
        try await spend(ledger, 10_000)
        #expect(await refused(ledger, 1) != nil)
        ledger.setBudgets(SpendBudgets(currency: .usd, timezone: .utc, daily: usd(20_000)))
        #expect(await refused(ledger, 10_000) == nil)
        #expect(await refused(ledger, 10_001) != nil)
    }
}

@Suite("Local days and months", .timeLimit(.minutes(2)))
struct LocalPeriodsTests {
    @Test("days are 23, 24 or 25 hours across DST, and start at local midnight", arguments: [
        ("2026-03-08T12:00:00-04:00", "2026-03-08T00:00:00-05:00", 23),
        ("2026-11-01T12:00:00-05:00", "2026-11-01T00:00:00-04:00", 25),
        ("2026-11-25T00:00:00-05:00", "2026-11-25T00:00:00-05:00", 24),
        ("2026-11-25T23:59:59-05:00", "2026-11-25T00:00:00-05:00", 24),
    ])
    func days(at: String, start: String, hours: Int64) {
        let day = LocalPeriods(zone: newYork).day(containing: Timestamp(parsing: at)!.secondsSinceEpoch * 1000)
        #expect(day.lowerBound == Timestamp(parsing: start)!.secondsSinceEpoch * 1000)
        #expect(day.upperBound - day.lowerBound == hours * 3_600_000)
    }

    @Test("a day whose midnight the clocks skip starts when they resume")
    func skippedMidnight() async throws {
        // São Paulo went from 2018-11-04 00:00 straight to 01:00.
        let periods = LocalPeriods(zone: try ZoneRules.named("America/Sao_Paulo"))
        #expect(periods.start(of: CivilDate(year: 2018, month: 11, day: 4)) == Timestamp(parsing: "2018-11-04T01:00:00-02:00")!.secondsSinceEpoch * 1000)
    }

    @Test("a month runs from local midnight on the 1st to local midnight on the next 1st")
    func month() {
        let month = LocalPeriods(zone: newYork).month(containing: Timestamp(parsing: "2026-12-31T23:00:00-05:00")!.secondsSinceEpoch * 1000)
        #expect(month == Timestamp(parsing: "2026-12-01T00:00:00-05:00")!.secondsSinceEpoch * 1000
                    ..< Timestamp(parsing: "2027-01-01T00:00:00-05:00")!.secondsSinceEpoch * 1000)
    }

    @Test("daily_budget in a job file is read, and must be in the config's currency and not zero")
    func jobDailyBudgetKey() {
        let job = """
            name = "reprice"
            kind = "readiness-scan"
            schedule = "daily"
            budget = "0.50 USD"
            """
        #expect(check(job + "\ndaily_budget = \"5 USD\"").0.first?.dailyBudget == usd(5_000_000))
        #expect(check(job).0.first?.dailyBudget == nil)
        #expect(check(job + "\ndaily_budget = \"5 EUR\"").1 == ["5: \"daily_budget\" is in EUR but the config's currency is USD"])
        #expect(check(job + "\ndaily_budget = \"0 USD\"").1 == ["5: \"daily_budget\" of 0 allows no paid call at all; leave it out for no daily cap"])
    }
}
