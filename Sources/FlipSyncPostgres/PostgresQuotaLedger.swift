import FlipSyncCore
import PostgresNIO
import Synchronization

/// The quota ledger in PostgreSQL: the same `quota` table and rules as `QuotaStore` (one row per
/// provider, API and window; every call counted when let through, before it is sent; storage
/// errors let the call through and are told through `onError`). Each `consume` checks and counts
/// in one transaction holding the window's row locked (`SELECT … FOR UPDATE` after creating it if
/// absent), so nodes sharing the database cannot go past a limit together.
public final class PostgresQuotaLedger: QuotaLedger, QuotaAllowance, Sendable {
    private let session: PostgresSession
    private let clock: any SchedulerClock
    private let policyBox: Mutex<QuotaPolicy>
    private let onError: @Sendable (String) -> Void

    public init(ledger: PostgresLedger, policy: QuotaPolicy, clock: any SchedulerClock,
                onError: @escaping @Sendable (String) -> Void = { _ in }) {
        session = ledger.session
        self.clock = clock
        policyBox = Mutex(policy)
        self.onError = onError
    }

    public var policy: QuotaPolicy { policyBox.withLock { $0 } }

    /// A reload's new limits and reserves, from the next call on.
    public func setPolicy(_ policy: QuotaPolicy) { policyBox.withLock { $0 = policy } }

    public func consume(_ key: QuotaKey, units: Int64, job: String?) throws(QuotaRefusal) {
        let policy = self.policy
        let now = clock.wallMilliseconds()
        let window = policy.window(key, at: now)
        let limit = policy.limits[key]
        let keyValues: [LedgerValue] = [.text(key.provider), .text(key.api), .integer(window.lowerBound)]
        let outcome: Result<Void, QuotaRefusal>
        do {
            outcome = try session.transaction { () throws(LedgerError) -> Result<Void, QuotaRefusal> in
                try session.query("""
                    INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit) VALUES ($1, $2, $3, $4, 0, $5)
                    ON CONFLICT (provider, api, window_start) DO NOTHING
                    """, keyValues + [.integer(window.upperBound), limit.map { .integer($0) } ?? .null])
                let rows = try session.query("SELECT used, exhausted_until FROM quota WHERE provider = $1 AND api = $2 AND window_start = $3 FOR UPDATE",
                                             keyValues)
                let used: Int64 = try rows.first?.get("used") ?? 0
                if let until: Int64 = try rows.first?.get("exhausted_until", as: Int64?.self), until > now {
                    return .failure(QuotaRefusal(key: key, reason: .exhausted, resetAt: until))
                }
                if let limit {
                    if used + units > limit { return .failure(QuotaRefusal(key: key, reason: .limitReached, resetAt: window.upperBound)) }
                    if used + units > policy.ceiling(limit: limit, for: job) {
                        return .failure(QuotaRefusal(key: key, reason: .reserved, resetAt: window.upperBound))
                    }
                }
                try session.query("UPDATE quota SET used = used + $4, quota_limit = $5 WHERE provider = $1 AND api = $2 AND window_start = $3",
                                  keyValues + [.integer(units), limit.map { .integer($0) } ?? .null])
                return .success(())
            }
        } catch {
            onError("quota ledger: \(error)")
            return
        }
        try outcome.get()
    }

    public func markExhausted(_ key: QuotaKey) -> (resetAt: Int64, first: Bool) {
        let policy = self.policy
        let now = clock.wallMilliseconds()
        let window = policy.window(key, at: now)
        let keyValues: [LedgerValue] = [.text(key.provider), .text(key.api), .integer(window.lowerBound)]
        do {
            return try session.transaction { () throws(LedgerError) -> (resetAt: Int64, first: Bool) in
                try session.query("""
                    INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit) VALUES ($1, $2, $3, $4, 0, $5)
                    ON CONFLICT (provider, api, window_start) DO NOTHING
                    """, keyValues + [.integer(window.upperBound), policy.limits[key].map { .integer($0) } ?? .null])
                let rows = try session.query("SELECT exhausted_until FROM quota WHERE provider = $1 AND api = $2 AND window_start = $3 FOR UPDATE",
                                             keyValues)
                if let until: Int64 = try rows.first?.get("exhausted_until", as: Int64?.self), until > now { return (until, false) }
                try session.query("UPDATE quota SET exhausted_until = $4 WHERE provider = $1 AND api = $2 AND window_start = $3",
                                  keyValues + [.integer(window.upperBound)])
                return (window.upperBound, true)
            }
        } catch {
            onError("quota ledger: \(error)")
            return (window.upperBound, true)
        }
    }

    /// The current window of every API with a limit or a call counted; a ledger that cannot be
    /// read is told through `onError` and counts no calls.
    public func usage() -> [QuotaUsage] {
        let policy = self.policy
        let now = clock.wallMilliseconds()
        var recorded: [QuotaKey: (used: Int64, exhaustedUntil: Int64?)] = [:]
        do {
            let rows = try session.query("SELECT provider, api, window_start, used, exhausted_until FROM quota WHERE window_end > $1 ORDER BY window_start",
                                         [.integer(now)])
            for row in rows {
                let key = QuotaKey(provider: try row.get("provider"), api: try row.get("api"))
                guard try row.get("window_start", as: Int64.self) == policy.window(key, at: now).lowerBound else { continue }
                recorded[key] = (try row.get("used"), try row.get("exhausted_until"))
            }
        } catch {
            onError("quota ledger: \(error)")
            recorded = [:]
        }
        let keys = Set(policy.limits.keys).union(recorded.keys)
        return keys.sorted().map { key in
            let window = policy.window(key, at: now)
            let row = recorded[key]
            let limit = policy.limits[key]
            return QuotaUsage(key: key, windowStart: window.lowerBound, windowEnd: window.upperBound, used: row?.used ?? 0,
                              limit: limit, reserved: limit.map { policy.reserved(limit: $0) } ?? 0,
                              exhaustedUntil: row?.exhaustedUntil.flatMap { $0 > now ? $0 : nil })
        }
    }

    /// What `job` may still use of each limited API now, under the current policy.
    public func remaining(for job: String?) -> [QuotaKey: Int64] { remaining(for: job, policy: policy) }
}
