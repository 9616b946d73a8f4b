/// The spend limits the spend ledger enforces, and the zone whose days and months they count.
///
/// Every limit is optional (none: no cap). A paid call is refused when the money already spent
/// plus the money reserved by calls in flight plus its own estimate would exceed any limit
/// that applies to it: the global `daily` and `monthly` caps always, and — when it is made
/// inside a task (`SpendContext.current`) — its job's per-run and per-day limits.
public struct SpendBudgets: Sendable {
    /// One job's limits: `budget` (per run) and `daily_budget` in its job file.
    public struct JobLimits: Sendable, Hashable {
        public var perRun: Money?
        public var perDay: Money?

        public init(perRun: Money? = nil, perDay: Money? = nil) {
            self.perRun = perRun
            self.perDay = perDay
        }
    }

    /// The currency every limit and every counted cost is in (the config's).
    public var currency: Currency
    /// Days and months start at local midnight in this zone (the daemon's `timezone`).
    public var timezone: ZoneRules
    /// `[budgets] daily`: all spend in one local day.
    public var daily: Money?
    /// `[budgets] monthly`: all spend in one local calendar month.
    public var monthly: Money?
    /// By job name; a job not listed has no limits of its own.
    public var jobs: [String: JobLimits]

    public init(currency: Currency, timezone: ZoneRules, daily: Money? = nil, monthly: Money? = nil,
                jobs: [String: JobLimits] = [:]) {
        self.currency = currency
        self.timezone = timezone
        self.daily = daily
        self.monthly = monthly
        self.jobs = jobs
    }

    /// The config's `[budgets]` and each job's `budget` and `daily_budget`.
    public init(config: FlipSyncConfig, jobs: [JobDefinition]) {
        var limits: [String: JobLimits] = [:]
        for job in jobs where job.budget != nil || job.dailyBudget != nil {
            limits[job.name] = JobLimits(perRun: job.budget, perDay: job.dailyBudget)
        }
        self.init(currency: config.currency, timezone: config.timezone, daily: config.dailyBudget,
                  monthly: config.monthlyBudget, jobs: limits)
    }
}
