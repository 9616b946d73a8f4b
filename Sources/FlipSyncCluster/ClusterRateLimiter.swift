import FlipSyncCore
import Synchronization
import Logging
import PostgresNIO

/// What one ``ClusterRateLimiter/acquire(_:ratePerSecond:burst:)`` decided.
public struct RateDecision: Sendable, Hashable {
    /// A token was taken: the call may go now.
    public var granted: Bool
    /// When not granted: how long until the bucket holds a whole token again, at this rate (ms).
    /// 0 when granted.
    public var waitMilliseconds: Int64

    public init(granted: Bool, waitMilliseconds: Int64) {
        self.granted = granted
        self.waitMilliseconds = waitMilliseconds
    }
}

/// Rate limits global across nodes: one token bucket per key (`provider/operation`, e.g.
/// `ebay/revise`) in a PostgreSQL row that every node takes its tokens from. A bucket holds at
/// most `burst` tokens and refills at `ratePerSecond` on the database's clock; it starts full.
/// Each ``acquire(_:ratePerSecond:burst:)`` is one statement (an upsert that refills, takes a token
/// if there is a whole one, and returns the result), so concurrent nodes serialise on the row and
/// over any window of `w` seconds the cluster gets at most `burst + ratePerSecond × w` grants per key.
///
/// Nodes configured differently: the row keeps the rate and the burst it refills at and holds,
/// each with the node whose configuration it is. A caller whose rate (or burst) is lower than or
/// equal to the row's, or whose value it already is, sets it (the row's value becomes its own); a
/// higher one uses the row's. So the bucket runs at the lower of two nodes' settings (a mismatch
/// can only slow the cluster, never exceed the slower node's promise), and a node can raise a
/// value only while it is its own. A caller whose rate or burst differs from the row's (set by
/// another node) is logged once per key for the life of the limiter (`event`
/// `cluster-rate-mismatch`, naming the key, both settings and the other node).
public struct ClusterRateLimiter: Sendable {
    private let client: PostgresClient
    private let node: String
    private let time: ClusterTime
    private let logger: Logger
    private let reported = ReportedKeys()

    /// `node`: this node's name (`node_name`), which the bucket rows record and the other nodes'
    /// mismatch messages name.
    public init(client: PostgresClient, node: String, time: ClusterTime = .database, logger: Logger) {
        self.client = client
        self.node = node
        self.time = time
        self.logger = logger
    }

    // The caller's values arrive as the row it would insert (EXCLUDED); `b` is the row as it is.
    private static let takesRate = "(b.rate_per_second IS NULL OR b.rate_node IS NOT DISTINCT FROM EXCLUDED.rate_node "
        + "OR EXCLUDED.rate_per_second <= b.rate_per_second)"
    private static let takesBurst = "(b.burst IS NULL OR b.burst_node IS NOT DISTINCT FROM EXCLUDED.burst_node "
        + "OR EXCLUDED.burst <= b.burst)"
    /// The rate and burst the bucket runs at from this call on.
    private static let rate = "(CASE WHEN \(takesRate) THEN EXCLUDED.rate_per_second ELSE b.rate_per_second END)"
    private static let capacity = "(CASE WHEN \(takesBurst) THEN EXCLUDED.burst ELSE b.burst END)::float8"
    /// The old tokens plus the refill since the last update, capped at the burst.
    private static let available = "least(\(capacity), b.tokens + greatest(0, EXCLUDED.updated_at_ms - b.updated_at_ms) * \(rate) / 1000.0)"

    /// Takes one token from `key`'s bucket, or says how long to wait for one.
    public func acquire(_ key: String, ratePerSecond: Double, burst: Int) async throws -> RateDecision {
        precondition(ratePerSecond > 0 && burst >= 1, "a bucket needs a positive rate and a burst of at least 1")
        let now = time.parameter
        let capacity = Double(burst)
        let burst = Int64(burst)
        let rows = try await client.query("""
            WITH clock AS (SELECT \(now: now) AS ms),
            old AS (SELECT rate_per_second, rate_node, burst, burst_node FROM flipsync_cluster_buckets WHERE key = \(key))
            INSERT INTO flipsync_cluster_buckets AS b (key, tokens, updated_at_ms, granted, rate_per_second, rate_node, burst, burst_node)
            SELECT \(key), \(capacity)::float8 - 1, ms, true, \(ratePerSecond)::float8, \(node), \(burst)::bigint, \(node) FROM clock
            ON CONFLICT (key) DO UPDATE SET
                tokens = CASE WHEN \(unescaped: Self.available) >= 1 THEN \(unescaped: Self.available) - 1 ELSE \(unescaped: Self.available) END,
                granted = \(unescaped: Self.available) >= 1,
                updated_at_ms = greatest(b.updated_at_ms, EXCLUDED.updated_at_ms),
                rate_per_second = \(unescaped: Self.rate),
                rate_node = CASE WHEN \(unescaped: Self.takesRate) THEN EXCLUDED.rate_node ELSE b.rate_node END,
                burst = CASE WHEN \(unescaped: Self.takesBurst) THEN EXCLUDED.burst ELSE b.burst END,
                burst_node = CASE WHEN \(unescaped: Self.takesBurst) THEN EXCLUDED.burst_node ELSE b.burst_node END
            RETURNING granted, tokens, rate_per_second,
                (SELECT rate_per_second FROM old), (SELECT rate_node FROM old), (SELECT burst FROM old), (SELECT burst_node FROM old)
            """, logger: logger)
        for try await (granted, tokens, rate, oldRate, oldRateNode, oldBurst, oldBurstNode)
            in rows.decode((Bool, Double, Double?, Double?, String?, Int64?, String?).self) {
            var others: [String] = []
            if let oldRate, let oldRateNode, oldRate != ratePerSecond, oldRateNode != node { others.append(oldRateNode) }
            if let oldBurst, let oldBurstNode, oldBurst != burst, oldBurstNode != node, !others.contains(oldBurstNode) {
                others.append(oldBurstNode)
            }
            if !others.isEmpty, reported.first(key) {
                let theirs = "\(Self.number(oldRate ?? ratePerSecond))/s, burst \(oldBurst ?? burst)"
                let lower = "\(Self.number(min(ratePerSecond, oldRate ?? ratePerSecond)))/s, burst \(min(burst, oldBurst ?? burst))"
                logger.warning("""
                    shared rate limit \(key): this node (\(node)) is configured for \(Self.number(ratePerSecond))/s, burst \(burst); \
                    node \(others.joined(separator: " and ")) for \(theirs); the cluster uses the lower, \(lower): give every node the same rate_limit
                    """, metadata: ["event": "cluster-rate-mismatch", "key": "\(key)", "other_node": "\(others.joined(separator: ","))"])
            }
            if granted { return RateDecision(granted: true, waitMilliseconds: 0) }
            let wait = ((1 - tokens) * 1000 / (rate ?? ratePerSecond)).rounded(.up)
            return RateDecision(granted: false, waitMilliseconds: max(1, Int64(wait)))
        }
        throw ClusterError.noRow("the rate-limit bucket \(key)")
    }

    /// A rate as written in the configuration: `5`, `0.5`.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Takes a token, waiting (on `sleep`) as long as the bucket says each time it is empty.
    public func acquireWaiting(_ key: String, ratePerSecond: Double, burst: Int,
                               sleep: @Sendable (Int64) async throws -> Void) async throws {
        while true {
            let decision = try await acquire(key, ratePerSecond: ratePerSecond, burst: burst)
            if decision.granted { return }
            try await sleep(decision.waitMilliseconds)
        }
    }
}

/// The request pipeline's ``SharedRateGate`` on a cluster: each call that names a shared rate
/// takes a token from its ``ClusterRateLimiter`` bucket after its node's own bucket, so every
/// node together stays within the one rate.
///
/// - Waiting: as long as the bucket says, on `clock`; cancelling the task ends the wait with
///   `CancellationError`. A turn further away than the request's timeout (`deadline`) throws
///   ``SharedRateDeadline`` at once, without waiting for it.
/// - PostgreSQL failing (an error, or no answer within `statementTimeout`, or the rest of the
///   deadline if shorter): the call goes on under its node's own bucket only, and so do all calls
///   for `retryInterval` after, without asking the database. It is logged once (`event`
///   `cluster-rate-fallback`) until a statement succeeds again (`cluster-rate-restored`).
///   A database outage thus delays a call by at most `statementTimeout` and never fails it; the
///   price is that, for the outage, each node keeps only its own rate (N nodes: up to N × it).
public final class ClusterRateGate: SharedRateGate {
    private struct State {
        var fallbackUntil: Int64?
        var failing = false
    }

    private let limiter: ClusterRateLimiter
    private let clock: any SchedulerClock
    private let statementTimeout: TimeSpan
    private let retryInterval: TimeSpan
    private let logger: Logger
    private let state = Mutex(State())

    public init(limiter: ClusterRateLimiter, clock: any SchedulerClock, statementTimeout: TimeSpan = .seconds(2),
                retryInterval: TimeSpan = .seconds(5), logger: Logger) {
        self.limiter = limiter
        self.clock = clock
        self.statementTimeout = statementTimeout
        self.retryInterval = retryInterval
        self.logger = logger
    }

    /// True while calls go on under their node's bucket only (the database failed lately).
    public var isFallingBack: Bool {
        let now = clock.monotonicMilliseconds()
        return state.withLock { s in s.fallbackUntil.map { now < $0 } ?? false }
    }

    public func wait(for rate: SharedRate, deadline: TimeSpan) async throws {
        let end = clock.monotonicMilliseconds() + max(1, deadline.milliseconds)
        while true {
            try Task.checkCancellation()
            if isFallingBack { return }
            let bound = min(statementTimeout.milliseconds, max(1, end - clock.monotonicMilliseconds()))
            let limiter = self.limiter
            let decision: RateDecision
            do {
                decision = try await Self.race(bound, clock: clock) {
                    try await limiter.acquire(rate.key, ratePerSecond: rate.ratePerSecond, burst: rate.burst)
                }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                fellBack(error)
                return
            }
            restored()
            if decision.granted { return }
            if clock.monotonicMilliseconds() + decision.waitMilliseconds > end {
                throw SharedRateDeadline(key: rate.key, retryAfter: TimeSpan(milliseconds: decision.waitMilliseconds))
            }
            try await clock.sleep(milliseconds: decision.waitMilliseconds)
        }
    }

    private func fellBack(_ error: any Error) {
        let until = clock.monotonicMilliseconds() + retryInterval.milliseconds
        let first = state.withLock { s in
            s.fallbackUntil = until
            defer { s.failing = true }
            return !s.failing
        }
        if first {
            logger.error("the cluster's shared rate limits are unavailable (\(error)): each node keeps to its own rate limits until PostgreSQL answers",
                         metadata: ["event": "cluster-rate-fallback"])
        }
    }

    private func restored() {
        let was = state.withLock { s in
            defer { s.failing = false; s.fallbackUntil = nil }
            return s.failing
        }
        if was { logger.notice("the cluster's shared rate limits are back", metadata: ["event": "cluster-rate-restored"]) }
    }

    struct StatementTimedOut: Error, CustomStringConvertible {
        var milliseconds: Int64
        var description: String { "no answer within \(milliseconds) ms" }
    }

    /// `operation`'s result, or `StatementTimedOut` after `milliseconds`, or `CancellationError`
    /// when the caller is cancelled — whichever comes first. The loser is cancelled and not
    /// waited for, so a client that does not answer cancellation cannot hold the call.
    static func race<T: Sendable>(_ milliseconds: Int64, clock: any SchedulerClock,
                                          _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                guard race.start(continuation) else { return }
                let work = Task {
                    do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                }
                let timer = Task {
                    try? await clock.sleep(milliseconds: milliseconds)
                    race.finish(.failure(StatementTimedOut(milliseconds: milliseconds)))
                }
                race.hold([work, timer])
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }
}

/// The keys a limiter has logged a `cluster-rate-mismatch` for.
private final class ReportedKeys: Sendable {
    private let keys = Mutex(Set<String>())

    /// True the first time `key` is passed.
    func first(_ key: String) -> Bool { keys.withLock { $0.insert(key).inserted } }
}

/// One continuation resumed once, by whichever of its tasks finishes first; the others cancelled.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var done = false
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// False (and the continuation resumed with `CancellationError`) if cancelled already.
    func start(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        let cancelled = state.withLock { s in
            if s.done { return true }
            s.continuation = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        return !cancelled
    }

    func hold(_ tasks: [Task<Void, Never>]) {
        let late = state.withLock { s in
            if s.done { return true }
            s.tasks = tasks
            return false
        }
        if late { tasks.forEach { $0.cancel() } }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLock { s -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            if s.done { return (nil, []) }
            s.done = true
            defer { s.continuation = nil; s.tasks = [] }
            return (s.continuation, s.tasks)
        }
        continuation?.resume(with: result)
        tasks.forEach { $0.cancel() }
    }
}
