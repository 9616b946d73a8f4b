import Logging

/// A spend cap: which spending it counts.
public enum BudgetScope: Sendable, Hashable, CustomStringConvertible {
    /// `[budgets] daily`: everything spent in one local day.
    case daily
    /// `[budgets] monthly`: everything spent in one local calendar month.
    case monthly
    /// A job's `daily_budget`: all its runs in one local day.
    case jobDaily(job: String)
    /// A job's `budget`: one run.
    case run(job: String, runID: Int64)

    public var description: String {
        switch self {
        case .daily: return "daily budget"
        case .monthly: return "monthly budget"
        case .jobDaily(let job): return "daily budget of job \"\(job)\""
        case .run(let job, let runID): return "budget of run \(runID) of job \"\(job)\""
        }
    }
}

/// Spending reached 80% of a budget (told once per budget period and limit).
public struct BudgetWarning: Sendable, Hashable, CustomStringConvertible {
    public var scope: BudgetScope
    public var limit: Money
    public var spent: Money

    public init(scope: BudgetScope, limit: Money, spent: Money) {
        self.scope = scope
        self.limit = limit
        self.spent = spent
    }

    public var description: String { "\(scope): \(spent) of \(limit) spent (80% reached)" }
}

/// What the spend ledger tells the operator, outside the calls themselves.
public enum SpendEvent: Sendable, Hashable {
    /// A budget is 80% spent.
    case nearLimit(BudgetWarning)
    /// A call could not be counted against the budgets (not written to the ledger, or in another
    /// currency); the reason.
    case notCounted(String)

    /// Journals the event: a warning for `nearLimit`, an error for `notCounted`.
    public func log(to logger: Logger) {
        switch self {
        case .nearLimit(let warning):
            var metadata: Logger.Metadata = [
                "event": "budget-warning", "budget": "\(warning.scope)",
                "limit_micros": "\(warning.limit.micros)", "spent_micros": "\(warning.spent.micros)",
            ]
            switch warning.scope {
            case .daily, .monthly: break
            case .jobDaily(let job): metadata["job"] = "\(job)"
            case .run(let job, let runID):
                metadata["job"] = "\(job)"
                metadata["run"] = "\(runID)"
            }
            logger.warning("\(warning)", metadata: metadata)
        case .notCounted(let reason):
            logger.error("spend not counted: \(reason)", metadata: ["event": "spend-not-counted"])
        }
    }
}
