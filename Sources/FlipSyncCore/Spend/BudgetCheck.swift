/// A budget that applies to a call, with what counts against it now (micro-units of the
/// budgets' currency): spent in its period (or run), and reserved by calls in flight.
public struct ApplicableBudget: Sendable, Hashable {
    public var scope: BudgetScope
    public var limit: Int64
    public var spent: Int64
    public var reserved: Int64

    public init(scope: BudgetScope, limit: Int64, spent: Int64, reserved: Int64) {
        self.scope = scope
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
    }

    /// Whether `estimate` more fits: spent + reserved + estimate ≤ limit (reaching it exactly is
    /// allowed). Exact for any Int64 values.
    public func admits(_ estimate: Int64) -> Bool {
        Int128(spent) + Int128(reserved) + Int128(estimate) <= Int128(limit)
    }

    /// The 80% warning once `micros` more are spent, if that brings spent to 80% of the limit or
    /// more; with `crossing`, only if spent was below 80% before.
    public func warning(adding micros: Int64, currency: Currency, crossing: Bool) -> BudgetWarning? {
        let after = spent + micros
        guard BudgetWarning.isReached(spent: after, limit: limit),
              !(crossing && BudgetWarning.isReached(spent: spent, limit: limit)) else { return nil }
        return BudgetWarning(scope: scope, limit: Money(micros: limit, currency: currency), spent: Money(micros: after, currency: currency))
    }
}

extension BudgetWarning {
    /// Whether `spent` is at or past 80% of `limit` (exact: no rounding).
    public static func isReached(spent: Int64, limit: Int64) -> Bool { Int128(spent) * 5 >= Int128(limit) * 4 }
}

/// What a spend ledger does with a paid call's estimate.
public enum BudgetVerdict: Sendable, Hashable {
    case allowed
    /// Spent + reserved + the estimate would pass this budget (the first such, in the order of
    /// `SpendBudgets.scopes(for:)`).
    case exceeds(ApplicableBudget)
}

extension SpendBudgets {
    /// The budgets that apply to a call made in `context`, in the order they are checked, with
    /// their limits in micro-units: `daily` and `monthly` always (when set); inside a task, its
    /// job's per-day and per-run limits (when set).
    public func scopes(for context: SpendContext?) -> [(scope: BudgetScope, limit: Int64)] {
        var result: [(scope: BudgetScope, limit: Int64)] = []
        if let daily { result.append((.daily, daily.micros)) }
        if let monthly { result.append((.monthly, monthly.micros)) }
        guard let context, let limits = jobs[context.job] else { return result }
        if let perDay = limits.perDay { result.append((.jobDaily(job: context.job), perDay.micros)) }
        if let perRun = limits.perRun { result.append((.run(job: context.job, runID: context.runID), perRun.micros)) }
        return result
    }

    /// Why `estimate` cannot be checked against the budgets at all (a permanent failure): priced
    /// in another currency than the budgets', or negative. Nil when it can.
    public func unpriceable(provider: String, operation: String, estimate: Money) -> TaskFailure? {
        guard estimate.currency == currency else {
            return .permanent("\(provider) \(operation) is priced in \(estimate.currency) but budgets are in \(currency)")
        }
        guard estimate.micros >= 0 else { return .permanent("\(provider) \(operation): negative estimate \(estimate)") }
        return nil
    }

    /// The budget rule every spend ledger applies (SQLite's and PostgreSQL's): a call is refused
    /// when spent + reserved + its estimate would pass any budget that applies (`applicable`,
    /// checked in order); equal is allowed.
    public static func verdict(_ applicable: [ApplicableBudget], estimate: Int64) -> BudgetVerdict {
        applicable.first { !$0.admits(estimate) }.map { .exceeds($0) } ?? .allowed
    }

    /// The failure of a call refused by `budget`: what it has spent and reserved, and the request.
    public func refusal(by budget: ApplicableBudget, estimate: Money, provider: String, operation: String) -> TaskFailure {
        let money = { (micros: Int64) in Money(micros: micros, currency: currency) }
        return .budgetExhausted("\(budget.scope) of \(money(budget.limit)) exhausted: \(money(budget.spent)) spent, "
                                + "\(money(budget.reserved)) reserved, \(estimate) requested for \(provider) \(operation)")
    }
}
