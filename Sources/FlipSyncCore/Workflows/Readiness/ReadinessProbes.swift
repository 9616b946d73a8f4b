/// One configured endpoint the readiness scan can reach: a marketplace, a carrier API, an LLM.
///
/// Contract: `ping` obtains a token where the API needs one and makes one cheap authenticated
/// read call, and throws the client's own error when either fails. It changes nothing on the
/// other side and costs no more than one ordinary read.
public protocol ReachabilityProbe: Sendable {
    func ping() async throws
}

/// A marketplace's ping through the `Marketplace` protocol, which has no lighter read: the
/// order lines created from a few minutes ago on, in each channel's own cursor format — a real
/// authenticated read (token included) whose answer is normally empty.
///
/// eBay and Amazon take an ISO 8601 instant five minutes back (SP-API's `CreatedAfter` must be
/// at least two minutes before the request); Shopify's cursor is an order id, so the highest
/// possible id asks for orders after every existing one. A client-specific probe (token plus
/// the API's cheapest read) can replace this one per channel.
public struct RecentOrdersPing: ReachabilityProbe {
    public let marketplace: any Marketplace
    public let clock: any SchedulerClock

    public init(marketplace: any Marketplace, clock: any SchedulerClock) {
        self.marketplace = marketplace
        self.clock = clock
    }

    public func ping() async throws {
        let cursor: String
        switch marketplace.name {
        case .ebay, .amazon: cursor = Timestamp(milliseconds: clock.wallMilliseconds() - 300_000).iso8601UTC
        case .shopify: cursor = String(Int64.max)
        }
        _ = try await marketplace.orders(since: cursor)
    }
}

/// One provider's calls over a period, from the spend ledger.
public struct ProviderCallOutcomes: Sendable, Hashable {
    /// Calls sent (answers served from a local cache are not calls).
    public var calls: Int64
    /// Of those, calls with no answer or an HTTP status of 400 or more.
    public var failed: Int64

    public init(calls: Int64, failed: Int64) {
        self.calls = calls
        self.failed = failed
    }
}

/// Money spent in the current local day and month, and the global budgets.
public struct SpendStanding: Sendable, Hashable {
    public var today: Money
    public var month: Money
    public var daily: Money?
    public var monthly: Money?

    public init(today: Money, month: Money, daily: Money?, monthly: Money?) {
        self.today = today
        self.month = month
        self.daily = daily
        self.monthly = monthly
    }
}

/// What the readiness scan reads from the spend ledger (implemented over the `spend` table).
public protocol SpendEvidenceSource: Sendable {
    /// By provider (`ebay`, `amazon`, …): calls made at or after `since` (wall milliseconds).
    func callOutcomes(since: Int64) throws -> [String: ProviderCallOutcomes]
    /// Spend in the local day and month containing `now`, against the budgets.
    func standing(at now: Int64) throws -> SpendStanding
}

extension ReadinessScanPlan {
    /// Database round trips (p50/p95/max of writes and reads, µs) and `PRAGMA quick_check`.
    struct DatabaseProbe: Agent {
        let database: any LedgerProbe
        /// `database_operations`: timed writes and reads.
        let operations: Int
        var name: String { "database-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let count = operations
            let (writes, reads) = try database.timedRoundTrips(count: count)
            let check = try database.integrityCheck(full: false)
            let w = Percentiles(writes), r = Percentiles(reads)
            let evidence = ReadinessEvidence([
                ("operations", .integer(Int64(writes.count))),
                ("write_us.p50", .integer(w.p50)), ("write_us.p95", .integer(w.p95)), ("write_us.max", .integer(w.max)),
                ("read_us.p50", .integer(r.p50)), ("read_us.p95", .integer(r.p95)), ("read_us.max", .integer(r.max)),
                ("quick_check", .text(check)),
            ])
            return TaskOutput(result: TaskPayload(json: evidence.json), summary: "write p95 \(w.p95)µs, read p95 \(r.p95)µs, quick_check \(check)")
        }
    }

    /// One endpoint: a ping's outcome and latency (ms); for a marketplace also its calls and
    /// failed calls in the window from the spend ledger, counted after the ping so it is included.
    struct EndpointProbe: Agent {
        let pings: [String: any ReachabilityProbe]
        /// Why an endpoint has no client (a missing credential, say), by task key.
        let unavailable: [String: String]
        let spend: (any SpendEvidenceSource)?
        /// The job's `window`: how far back call outcomes count.
        let window: TimeSpan
        var name: String { "endpoint-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            var evidence = ReadinessEvidence()
            if let reason = unavailable[task.key] {
                evidence["reachable"] = .flag(false)
                evidence["error"] = .text("not set up: \(reason)")
            } else if let ping = pings[task.key] {
                let start = context.clock.monotonicMilliseconds()
                do {
                    try await ping.ping()
                    evidence["reachable"] = .flag(true)
                } catch {
                    // A cancelled task's request fails too; that says nothing about the endpoint.
                    if error is CancellationError || Task.isCancelled { throw CancellationError() }
                    evidence["reachable"] = .flag(false)
                    evidence["error"] = .text("\(error)")
                }
                evidence["latency_ms"] = .integer(context.clock.monotonicMilliseconds() - start)
            } else {
                throw TaskFailure.permanent("no endpoint \(task.key) to probe")
            }
            if let provider = task.key.split(separator: ":").last, task.key.hasPrefix("marketplace:") {
                let since = context.clock.wallMilliseconds() - window.milliseconds
                evidence["window_ms"] = .integer(window.milliseconds)
                if let spend {
                    do {
                        let outcomes = try spend.callOutcomes(since: since)[String(provider)] ?? ProviderCallOutcomes(calls: 0, failed: 0)
                        evidence["calls"] = .integer(outcomes.calls)
                        evidence["calls.failed"] = .integer(outcomes.failed)
                    } catch {
                        evidence["calls.error"] = .text("spend ledger unreadable: \(error)")
                    }
                } else {
                    evidence["calls.error"] = .text("the scan was given no spend ledger to count calls in")
                }
            }
            let reachable = evidence["reachable"]?.flag == true
            return TaskOutput(result: TaskPayload(json: evidence.json),
                              summary: reachable ? "reachable in \(evidence["latency_ms"]?.integer ?? 0)ms" : "unreachable")
        }
    }

    /// Scheduled fires in the window: how late each started (ms after its due time, p50/p95/max),
    /// and how many were skipped or missed.
    struct SchedulerProbe: Agent {
        let ledger: any RunLedger
        let window: TimeSpan
        var name: String { "scheduler-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let (window, runs) = try ReadinessScanPlan.otherRunsInWindow(ledger, window, context)
            let lateness = runs.compactMap { run -> Int64? in
                guard run.trigger == .schedule, let due = run.scheduledAt, let started = run.startedAt else { return nil }
                return max(0, started - due * 1000)
            }
            let skipped = runs.filter { $0.status == .skipped }.count
            let missed = runs.filter { $0.skipReason == .missed }.count
            let p = Percentiles(lateness)
            let evidence = ReadinessEvidence([
                ("window_ms", .integer(window)), ("fires", .integer(Int64(lateness.count))),
                ("lateness_ms.p50", .integer(p.p50)), ("lateness_ms.p95", .integer(p.p95)), ("lateness_ms.max", .integer(p.max)),
                ("skipped", .integer(Int64(skipped))), ("missed", .integer(Int64(missed))),
            ])
            return TaskOutput(result: TaskPayload(json: evidence.json), summary: "\(lateness.count) fires, lateness p95 \(p.p95)ms, \(missed) missed")
        }
    }

    /// Finished runs in the window (all, and per business job kind) and their tasks: how many
    /// succeeded, how many tasks needed a retry, task latency (ms, last attempt, p50/p95/max).
    struct PoolProbe: Agent {
        let ledger: any RunLedger
        let window: TimeSpan
        var name: String { "pool-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let (window, recent) = try ReadinessScanPlan.otherRunsInWindow(ledger, window, context)
            let runs = recent.filter { $0.status.isFinal && $0.status != .skipped }
            var latencies: [Int64] = []
            var retried = 0
            for run in runs {
                for t in try ledger.tasks(runID: run.id) where t.status == .succeeded || t.status == .failed {
                    if let started = t.startedAt, let finished = t.finishedAt { latencies.append(max(0, finished - started)) }
                    if t.attempts > 1 { retried += 1 }
                }
            }
            let p = Percentiles(latencies)
            var evidence = ReadinessEvidence([
                ("window_ms", .integer(window)), ("runs", .integer(Int64(runs.count))),
                ("succeeded", .integer(Int64(runs.filter { $0.status == .succeeded }.count))),
                ("tasks", .integer(Int64(latencies.count))), ("tasks.retried", .integer(Int64(retried))),
                ("task_ms.p50", .integer(p.p50)), ("task_ms.p95", .integer(p.p95)), ("task_ms.max", .integer(p.max)),
            ])
            for kind in ReadinessScoring.businessKinds {
                let mine = runs.filter { $0.kind == kind.rawValue }
                guard !mine.isEmpty else { continue }
                evidence["runs.\(kind.rawValue)"] = .integer(Int64(mine.count))
                evidence["succeeded.\(kind.rawValue)"] = .integer(Int64(mine.filter { $0.status == .succeeded }.count))
            }
            return TaskOutput(result: TaskPayload(json: evidence.json),
                              summary: "\(evidence["succeeded"]!) of \(runs.count) runs succeeded, task p95 \(p.p95)ms")
        }
    }

    /// Spend today and this month against the daily and monthly budgets, in micro-units.
    struct SpendProbe: Agent {
        let spend: (any SpendEvidenceSource)?
        var name: String { "spend-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            guard let spend else { throw TaskFailure.permanent("the scan was given no spend ledger") }
            let s = try spend.standing(at: context.clock.wallMilliseconds())
            let evidence = ReadinessEvidence([
                ("currency", .text(s.today.currency.code)),
                ("today_micros", .integer(s.today.micros)), ("daily_limit_micros", s.daily.map { .integer($0.micros) } ?? .none),
                ("month_micros", .integer(s.month.micros)), ("monthly_limit_micros", s.monthly.map { .integer($0.micros) } ?? .none),
            ])
            return TaskOutput(result: TaskPayload(json: evidence.json), summary: "spent \(s.today) today, \(s.month) this month")
        }
    }

    /// The job's window (ms) and the runs created in it (up to 5000, newest first), this run excepted.
    static func otherRunsInWindow(_ ledger: any RunLedger, _ window: TimeSpan, _ context: AgentContext) throws -> (window: Int64, runs: [RunInfo]) {
        let window = window.milliseconds
        let since = context.clock.wallMilliseconds() - window
        return (window, try ledger.recentRuns(job: nil, limit: 5000).filter { $0.createdAt >= since && $0.id != context.runID })
    }
}
