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
