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
public struct ClusterRateLimiter: Sendable {
    private let client: PostgresClient
    private let time: ClusterTime
    private let logger: Logger

    public init(client: PostgresClient, time: ClusterTime = .database, logger: Logger) {
        self.client = client
        self.time = time
        self.logger = logger
    }

    /// Takes one token from `key`'s bucket, or says how long to wait for one.
    public func acquire(_ key: String, ratePerSecond: Double, burst: Int) async throws -> RateDecision {
        precondition(ratePerSecond > 0 && burst >= 1, "a bucket needs a positive rate and a burst of at least 1")
        let now = time.parameter
        let capacity = Double(burst)
        // `available`: the old tokens plus the refill since the last update, capped at the burst.
        let rows = try await client.query("""
            WITH clock AS (SELECT \(now: now) AS ms)
            INSERT INTO flipsync_cluster_buckets AS b (key, tokens, updated_at_ms, granted)
            SELECT \(key), \(capacity)::float8 - 1, ms, true FROM clock
            ON CONFLICT (key) DO UPDATE SET
                tokens = CASE
                    WHEN least(\(capacity)::float8, b.tokens + greatest(0, EXCLUDED.updated_at_ms - b.updated_at_ms) * \(ratePerSecond)::float8 / 1000.0) >= 1
                    THEN least(\(capacity)::float8, b.tokens + greatest(0, EXCLUDED.updated_at_ms - b.updated_at_ms) * \(ratePerSecond)::float8 / 1000.0) - 1
                    ELSE least(\(capacity)::float8, b.tokens + greatest(0, EXCLUDED.updated_at_ms - b.updated_at_ms) * \(ratePerSecond)::float8 / 1000.0)
                END,
                granted = least(\(capacity)::float8, b.tokens + greatest(0, EXCLUDED.updated_at_ms - b.updated_at_ms) * \(ratePerSecond)::float8 / 1000.0) >= 1,
                updated_at_ms = greatest(b.updated_at_ms, EXCLUDED.updated_at_ms)
            RETURNING granted, tokens
            """, logger: logger)
        for try await (granted, tokens) in rows.decode((Bool, Double).self) {
            if granted { return RateDecision(granted: true, waitMilliseconds: 0) }
            let wait = ((1 - tokens) * 1000 / ratePerSecond).rounded(.up)
            return RateDecision(granted: false, waitMilliseconds: max(1, Int64(wait)))
        }
        throw ClusterError.noRow("the rate-limit bucket \(key)")
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

    private struct StatementTimedOut: Error, CustomStringConvertible {
        var milliseconds: Int64
        var description: String { "no answer within \(milliseconds) ms" }
    }

    /// `operation`'s result, or `StatementTimedOut` after `milliseconds`, or `CancellationError`
    /// when the caller is cancelled — whichever comes first. The loser is cancelled and not
    /// waited for, so a client that does not answer cancellation cannot hold the call.
    private static func race<T: Sendable>(_ milliseconds: Int64, clock: any SchedulerClock,
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
