import CoreMetrics
import FlipSyncCore

/// The daemon's metrics, recorded through `apple/swift-metrics` at the moment the ledger records
/// the same fact (a run's start and end, a metered call, a decision, a breaker trip, an oversell,
/// a drift correction, a group commit), so a counter equals what the ledger holds for the
/// daemon's lifetime.
///
/// Every label value comes from a closed vocabulary: job names (the job files), run statuses,
/// providers and operations (constants in the clients), marketplaces, reason codes, quota APIs,
/// HTTP status classes. No label is ever a SKU, a listing id, an order id, a URL or a secret,
/// so the number of series is bounded by the configuration, not by the catalogue.
///
/// The factory is per instance (`metrics: .off` records nothing): flipsyncd gives its own
/// Prometheus registry's factory, tests give theirs; nothing is bootstrapped globally.
public final class LedgerMetrics: Sendable {
    let factory: any MetricsFactory
    let enabled: Bool

    public init(factory: any MetricsFactory) {
        self.factory = factory
        enabled = true
    }

    private init() {
        factory = NOOPMetricsHandler.instance
        enabled = false
    }

    /// Records nothing.
    public static let off = LedgerMetrics()

    /// The metric names (Prometheus conventions: `flipsync_` prefix, base units, `_total` on counters).
    public enum Name {
        public static let runsStarted = "flipsync_runs_started_total"
        public static let runs = "flipsync_runs_total"
        public static let runDuration = "flipsync_run_duration_seconds"
        public static let fireLateness = "flipsync_fire_lateness_seconds"
        public static let tasksInFlight = "flipsync_tasks_in_flight"
        public static let tasksQueued = "flipsync_tasks_queued"
        public static let apiCalls = "flipsync_api_calls_total"
        public static let apiSpend = "flipsync_api_spend_micros_total"
        public static let quotaUsed = "flipsync_quota_used"
        public static let quotaRemaining = "flipsync_quota_remaining"
        public static let decisions = "flipsync_decisions_total"
        public static let breakerTrips = "flipsync_breaker_trips_total"
        public static let oversells = "flipsync_sync_oversells_total"
        public static let driftCorrections = "flipsync_sync_drift_corrections_total"
        public static let ledgerCommit = "flipsync_ledger_commit_seconds"
    }

    /// A run went from queued to running; `lateness` is how long after its scheduled time it
    /// started (scheduled and catch-up fires only).
    public func runStarted(job: String, latenessMilliseconds: Int64?) {
        guard enabled else { return }
        Counter(label: Name.runsStarted, dimensions: [("job", job)], factory: factory).increment()
        if let latenessMilliseconds {
            Timer(label: Name.fireLateness, dimensions: [("job", job)], factory: factory)
                .recordNanoseconds(max(0, latenessMilliseconds) * 1_000_000)
        }
    }

    /// A run reached a final status (`skipped` and `interrupted` included); `duration` from its
    /// start when it started.
    public func runFinished(job: String, status: String, durationMilliseconds: Int64?) {
        guard enabled else { return }
        Counter(label: Name.runs, dimensions: [("job", job), ("status", status)], factory: factory).increment()
        if let durationMilliseconds {
            Timer(label: Name.runDuration, dimensions: [("job", job)], factory: factory)
                .recordNanoseconds(max(0, durationMilliseconds) * 1_000_000)
        }
    }

    /// One metered call, once its spend row is committed.
    public func apiCall(_ call: MeteredCall) {
        guard enabled else { return }
        Counter(label: Name.apiCalls, dimensions: [("provider", call.provider), ("operation", call.operation),
                                                   ("status_class", Self.statusClass(call))], factory: factory).increment()
        if call.cost.micros > 0 {
            Counter(label: Name.apiSpend, dimensions: [("provider", call.provider), ("currency", call.cost.currency.code)], factory: factory)
                .increment(by: call.cost.micros)
        }
    }

    /// `2xx`…`5xx`, `cached` (answered from the local cache), `none` (no response came back).
    static func statusClass(_ call: MeteredCall) -> String {
        if call.servedFromCache { return "cached" }
        guard let status = call.status, (100...599).contains(status) else { return "none" }
        return "\(status / 100)xx"
    }

    public func decision(marketplace: String, reason: String) {
        guard enabled else { return }
        Counter(label: Name.decisions, dimensions: [("marketplace", marketplace), ("reason", reason)], factory: factory).increment()
    }

    public func breakerTrip(marketplace: String) {
        guard enabled else { return }
        Counter(label: Name.breakerTrips, dimensions: [("marketplace", marketplace)], factory: factory).increment()
    }

    public func oversells(marketplace: String, count: Int) {
        guard enabled, count > 0 else { return }
        Counter(label: Name.oversells, dimensions: [("marketplace", marketplace)], factory: factory).increment(by: count)
    }

    public func driftCorrections(marketplace: String, count: Int) {
        guard enabled, count > 0 else { return }
        Counter(label: Name.driftCorrections, dimensions: [("marketplace", marketplace)], factory: factory).increment(by: count)
    }

    func ledgerCommit(nanoseconds: Int64) {
        guard enabled else { return }
        Timer(label: Name.ledgerCommit, dimensions: [], factory: factory).recordNanoseconds(nanoseconds)
    }

    /// The gauges read at each scrape: the pool's tasks, and each quota's window.
    public func setTasks(inFlight: Int, queued: Int) {
        guard enabled else { return }
        Meter(label: Name.tasksInFlight, dimensions: [], factory: factory).set(inFlight)
        Meter(label: Name.tasksQueued, dimensions: [], factory: factory).set(queued)
    }

    public func setQuota(_ usage: [QuotaUsage]) {
        guard enabled else { return }
        for u in usage {
            let labels = [("provider", u.key.provider), ("api", u.key.api)]
            Meter(label: Name.quotaUsed, dimensions: labels, factory: factory).set(u.used)
            if let limit = u.limit {
                Meter(label: Name.quotaRemaining, dimensions: labels, factory: factory).set(max(0, limit - u.used))
            }
        }
    }
}
