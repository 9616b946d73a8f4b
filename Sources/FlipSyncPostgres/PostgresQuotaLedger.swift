import FlipSyncCore
import PostgresNIO

/// The quota ledger in PostgreSQL: the same `quota` table and rules as `QuotaStore` (one row per
/// provider, API and window; every call counted when let through, before it is sent; storage
/// errors let the call through and are told through `onError`). Each `consume` checks and counts
/// in one transaction holding the window's row locked (`SELECT … FOR UPDATE` after creating it if
/// absent), so nodes sharing the database cannot go past a limit together.
///
/// The common case is one statement: an `UPDATE … WHERE` the window's row is not exhausted and
/// the call fits the job's cap (the limit less the reserves not its own), `RETURNING` the count.
/// PostgreSQL takes the row's lock and re-checks the condition on its newest version, so two
/// nodes updating at once cannot both pass the cap. No row back (no row yet, exhausted, or not
/// fitting) goes the transaction's way above, which creates the row and says why it refuses.
public final class PostgresQuotaLedger: QuotaLedgerWithState, Sendable {
    private let session: PostgresSession
    public let state: QuotaLedgerState

    public init(ledger: PostgresLedger, policy: QuotaPolicy, clock: any SchedulerClock,
                onError: @escaping @Sendable (String) -> Void = { _ in }) {
        session = ledger.session
        state = QuotaLedgerState(policy: policy, clock: clock, onError: onError)
    }

    public func consume(_ key: QuotaKey, units: Int64, job: String?) throws(QuotaRefusal) {
        let count = Count(key, units: units, job: job, at: state.moment(key))
        do {
            if !(try session.query(Count.sql, count.values)).isEmpty { return }
        } catch {
            state.onError("quota ledger: \(error)")
            return
        }
        try consumeLocked(count)
    }

    /// The common case (the window's row exists, is not exhausted, and the call fits) as one
    /// statement through the connection pool, the caller suspended rather than blocked; the
    /// rest (no row yet, a refusal) as `consume`, in a transaction.
    public func consumeCommitted(_ key: QuotaKey, units: Int64, job: String?) async throws(QuotaRefusal) {
        let count = Count(key, units: units, job: job, at: state.moment(key))
        do {
            if !(try await session.queryAsync(Count.sql, count.values)).isEmpty { return }
        } catch {
            state.onError("quota ledger: \(error)")
            return
        }
        try consumeLocked(count)
    }

    /// One call's count: its window's key, and the one-statement `UPDATE` of the common case.
    private struct Count {
        static let sql = """
            UPDATE quota SET used = used + $4, quota_limit = $5
            WHERE provider = $1 AND api = $2 AND window_start = $3
              AND (exhausted_until IS NULL OR exhausted_until <= $6) AND ($7::BIGINT IS NULL OR used + $4 <= $7::BIGINT)
            RETURNING used
            """
        let key: QuotaKey
        let units: Int64
        let job: String?
        let moment: QuotaMoment
        let keyValues: [LedgerValue]
        let limit: Int64?

        init(_ key: QuotaKey, units: Int64, job: String?, at m: QuotaMoment) {
            (self.key, self.units, self.job, moment) = (key, units, job, m)
            limit = m.policy.limits[key]
            keyValues = [.text(key.provider), .text(key.api), .integer(m.window.lowerBound)]
        }

        /// `sql`'s values: the key, the units, the limit, now, and the job's cap (the limit less
        /// the reserves not its own).
        var values: [LedgerValue] {
            let cap = limit.map { Swift.min($0, moment.policy.ceiling(limit: $0, for: job)) }
            return keyValues + [.integer(units), limit.map { .integer($0) } ?? .null, .integer(moment.now), cap.map { .integer($0) } ?? .null]
        }
    }

    /// The check and count in a transaction holding the window's row locked (created first if
    /// absent): the way of a call the one-statement `UPDATE` did not count.
    private func consumeLocked(_ count: Count) throws(QuotaRefusal) {
        let (m, keyValues, limit) = (count.moment, count.keyValues, count.limit)
        let verdict: QuotaVerdict
        do {
            verdict = try session.transaction { () throws(LedgerError) -> QuotaVerdict in
                try session.query("""
                    INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit) VALUES ($1, $2, $3, $4, 0, $5)
                    ON CONFLICT (provider, api, window_start) DO NOTHING
                    """, keyValues + [.integer(m.window.upperBound), limit.map { .integer($0) } ?? .null])
                let rows = try session.rows("SELECT used, exhausted_until FROM quota WHERE provider = $1 AND api = $2 AND window_start = $3 FOR UPDATE",
                                            keyValues)
                let verdict = m.policy.verdict(count.key, used: try rows.first?.get("used") ?? 0, units: count.units,
                                               exhaustedUntil: try rows.first?.get("exhausted_until", as: Int64?.self), now: m.now,
                                               windowEnd: m.window.upperBound, job: count.job)
                guard verdict == .allowed else { return verdict }
                try session.query("UPDATE quota SET used = used + $4, quota_limit = $5 WHERE provider = $1 AND api = $2 AND window_start = $3",
                                  keyValues + [.integer(count.units), limit.map { .integer($0) } ?? .null])
                return verdict
            }
        } catch {
            state.onError("quota ledger: \(error)")
            return
        }
        if case .refused(let refusal) = verdict { throw refusal }
    }

    public func markExhausted(_ key: QuotaKey) -> (resetAt: Int64, first: Bool) {
        let m = state.moment(key)
        let (policy, now, window) = (m.policy, m.now, m.window)
        let keyValues: [LedgerValue] = [.text(key.provider), .text(key.api), .integer(window.lowerBound)]
        do {
            return try session.transaction { () throws(LedgerError) -> (resetAt: Int64, first: Bool) in
                try session.query("""
                    INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit) VALUES ($1, $2, $3, $4, 0, $5)
                    ON CONFLICT (provider, api, window_start) DO NOTHING
                    """, keyValues + [.integer(window.upperBound), policy.limits[key].map { .integer($0) } ?? .null])
                let rows = try session.rows("SELECT exhausted_until FROM quota WHERE provider = $1 AND api = $2 AND window_start = $3 FOR UPDATE",
                                            keyValues)
                if let until: Int64 = try rows.first?.get("exhausted_until", as: Int64?.self), until > now { return (until, false) }
                try session.query("UPDATE quota SET exhausted_until = $4 WHERE provider = $1 AND api = $2 AND window_start = $3",
                                  keyValues + [.integer(window.upperBound)])
                return (window.upperBound, true)
            }
        } catch {
            state.onError("quota ledger: \(error)")
            return (window.upperBound, true)
        }
    }

    /// The current window of every API with a limit or a call counted; a ledger that cannot be
    /// read is told through `onError` and counts no calls.
    public func usage() -> [QuotaUsage] {
        let policy = self.policy
        let now = state.clock.wallMilliseconds()
        var records: [QuotaRecord] = []
        do {
            let rows = try session.rows("SELECT provider, api, window_start, used, exhausted_until FROM quota WHERE window_end > $1 ORDER BY window_start",
                                        [.integer(now)])
            for row in rows {
                records.append(QuotaRecord(key: QuotaKey(provider: try row.get("provider"), api: try row.get("api")),
                                           windowStart: try row.get("window_start"), used: try row.get("used"),
                                           exhaustedUntil: try row.get("exhausted_until", as: Int64?.self)))
            }
        } catch {
            state.onError("quota ledger: \(error)")
            records = []
        }
        return policy.usage(records: records, now: now)
    }
}
