import Testing
@testable import FlipSyncCore

/// `SpendBudgets.scopes(for:)`, `SpendBudgets.verdict`, `unpriceable`, `refusal` and
/// `ApplicableBudget.warning`: the budget rules both spend ledgers (SQLite's `SpendLedger`,
/// PostgreSQL's `PostgresSpendLedger`) apply, tested without a ledger.
@Suite("Budget verdict", .timeLimit(.minutes(1)))
struct BudgetVerdictTests {
    static func usd(_ dollars: Int64) -> Money { Money(micros: dollars * 1_000_000, currency: .usd) }
    static let budgets = SpendBudgets(currency: .usd, timezone: .utc, daily: usd(10), monthly: usd(200),
                                      jobs: ["sweep": .init(perRun: usd(2), perDay: usd(5)), "only-run": .init(perRun: usd(1))])
    static let context = SpendContext(job: "sweep", runID: 42, taskKey: "t")

    @Test("the budgets that apply: daily and monthly always, a job's per-day and per-run inside its task, in that order; none unset")
    func scopes() {
        let all = Self.budgets.scopes(for: Self.context)
        #expect(all.map(\.scope) == [.daily, .monthly, .jobDaily(job: "sweep"), .run(job: "sweep", runID: 42)])
        #expect(all.map(\.limit) == [10_000_000, 200_000_000, 5_000_000, 2_000_000])
        #expect(Self.budgets.scopes(for: nil).map(\.scope) == [.daily, .monthly], "outside a task: the global budgets only")
        #expect(Self.budgets.scopes(for: SpendContext(job: "other", runID: 1, taskKey: "t")).map(\.scope) == [.daily, .monthly])
        #expect(Self.budgets.scopes(for: SpendContext(job: "only-run", runID: 7, taskKey: "t")).map(\.scope)
            == [.daily, .monthly, .run(job: "only-run", runID: 7)])
        #expect(SpendBudgets(currency: .usd, timezone: .utc).scopes(for: Self.context).isEmpty, "no limit set: nothing applies")
    }

    @Test("refused when spent + reserved + estimate would pass a budget; reaching it exactly is allowed; the first budget passed is named")
    func verdict() {
        let daily = ApplicableBudget(scope: .daily, limit: 10_000_000, spent: 6_000_000, reserved: 3_000_000)
        let run = ApplicableBudget(scope: .run(job: "sweep", runID: 42), limit: 2_000_000, spent: 1_500_000, reserved: 0)
        #expect(SpendBudgets.verdict([daily], estimate: 1_000_000) == .allowed, "6 + 3 + 1 = 10: equal allowed")
        #expect(SpendBudgets.verdict([daily], estimate: 1_000_001) == .exceeds(daily))
        #expect(SpendBudgets.verdict([daily, run], estimate: 500_000) == .allowed)
        #expect(SpendBudgets.verdict([daily, run], estimate: 500_001) == .exceeds(run))
        #expect(SpendBudgets.verdict([daily, run], estimate: 2_000_000) == .exceeds(daily), "both passed: the first in order")
        #expect(SpendBudgets.verdict([], estimate: .max) == .allowed)
        let huge = ApplicableBudget(scope: .monthly, limit: .max, spent: .max - 1, reserved: 1)
        #expect(SpendBudgets.verdict([huge], estimate: 0) == .allowed)
        #expect(SpendBudgets.verdict([huge], estimate: 1) == .exceeds(huge), "no overflow: exact in Int128")
    }

    @Test("an estimate in another currency or negative cannot be checked (a permanent failure); a refusal says what is spent, reserved and asked")
    func failures() {
        let eur = Money(micros: 1, currency: Currency(code: "EUR")!)
        guard case .permanent(let currency)? = Self.budgets.unpriceable(provider: "openai", operation: "chat", estimate: eur) else {
            Issue.record("another currency was not refused")
            return
        }
        #expect(currency.contains("EUR") && currency.contains("USD"))
        guard case .permanent(let negative)? = Self.budgets.unpriceable(provider: "openai", operation: "chat",
                                                                         estimate: Money(micros: -1, currency: .usd)) else {
            Issue.record("a negative estimate was not refused")
            return
        }
        #expect(negative.contains("negative estimate"))
        #expect(Self.budgets.unpriceable(provider: "openai", operation: "chat", estimate: Money(micros: 0, currency: .usd)) == nil)
        let budget = ApplicableBudget(scope: .jobDaily(job: "sweep"), limit: 5_000_000, spent: 4_000_000, reserved: 500_000)
        guard case .budgetExhausted(let message) = Self.budgets.refusal(by: budget, estimate: Self.usd(1), provider: "openai", operation: "chat") else {
            Issue.record("a refusal is not budgetExhausted")
            return
        }
        #expect(message.hasPrefix("daily budget of job \"sweep\" of "))
        #expect(message.contains("openai chat") && message.contains("spent") && message.contains("reserved"))
    }

    @Test("the 80% warning: reached at exactly 80% (not a micro before); with crossing, only when spent was below 80% before")
    func warning() {
        let budget = ApplicableBudget(scope: .daily, limit: 10_000_000, spent: 7_000_000, reserved: 0)
        #expect(budget.warning(adding: 999_999, currency: .usd, crossing: true) == nil)
        #expect(budget.warning(adding: 1_000_000, currency: .usd, crossing: true)
            == BudgetWarning(scope: .daily, limit: Self.usd(10), spent: Self.usd(8)))
        let past = ApplicableBudget(scope: .daily, limit: 10_000_000, spent: 8_000_000, reserved: 0)
        #expect(past.warning(adding: 1, currency: .usd, crossing: true) == nil, "already past 80% before the call")
        #expect(past.warning(adding: 1, currency: .usd, crossing: false)?.spent == Money(micros: 8_000_001, currency: .usd),
                "without crossing: reached, whoever was told before")
        #expect(BudgetWarning.isReached(spent: 4, limit: 5) && !BudgetWarning.isReached(spent: 3, limit: 5))
        #expect(BudgetWarning.isReached(spent: .max, limit: .max) && !BudgetWarning.isReached(spent: .max / 2, limit: .max))
    }
}
