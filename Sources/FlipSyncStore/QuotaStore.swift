import FlipSyncCore
import GRDB

/// The quota ledger in the run store's database: one `quota` row per provider, API and window
/// (`window_start`, `window_end` in milliseconds since the epoch, `used`, `quota_limit`,
/// `exhausted_until`). Each `consume` checks and counts in one write transaction (`consumeCommitted`:
/// in the next group-commit transaction), so concurrent
/// tasks and a restart cannot go past the limit.
///
/// Every call is counted when let through, before it is sent (a call that then fails is still
/// counted: the provider counts it too). Storage errors do not stop calls: the call is let
/// through and the error told through `onError`.
public final class QuotaStore: QuotaLedgerWithState, Sendable {
    private let store: RunStore
    public let state: QuotaLedgerState

    public init(store: RunStore, policy: QuotaPolicy, clock: any SchedulerClock,
                onError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        state = QuotaLedgerState(policy: policy, clock: clock, onError: onError)
    }

    static func registerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("m11-quota: calls counted per provider, API and quota window") { db in
            try db.execute(sql: """
                CREATE TABLE quota (
                    provider TEXT NOT NULL,
                    api TEXT NOT NULL,
                    window_start INTEGER NOT NULL,
                    window_end INTEGER NOT NULL,
                    used INTEGER NOT NULL DEFAULT 0,
                    quota_limit INTEGER,
                    exhausted_until INTEGER,
                    PRIMARY KEY (provider, api, window_start)
                )
                """)
        }
    }

    public func consume(_ key: QuotaKey, units: Int64, job: String?) throws(QuotaRefusal) {
        let m = state.moment(key)
        try settle(Result { try store.writer.write { db in try Self.consume(key, units: units, job: job, at: m, db) } })
    }

    /// The same check and count in the next group-commit transaction (`GroupCommit`): no write
    /// transaction of its own per call, and no thread blocked on the writer while it waits.
    public func consumeCommitted(_ key: QuotaKey, units: Int64, job: String?) async throws(QuotaRefusal) {
        let m = state.moment(key)
        let outcome: Result<QuotaVerdict, any Error>
        do { outcome = .success(try await store.groupWrite { db in try Self.consume(key, units: units, job: job, at: m, db) }) } catch {
            outcome = .failure(error)
        }
        try settle(outcome)
    }

    /// A refusal is thrown; a storage error lets the call through and is told through `onError`.
    private func settle(_ outcome: Result<QuotaVerdict, any Error>) throws(QuotaRefusal) {
        switch outcome {
        case .success(.refused(let refusal)): throw refusal
        case .success: return
        case .failure(let error): state.onError("quota ledger: \(error)")
        }
    }

    /// Checks `units` of `key` against the row of `m`'s window and, when allowed, counts them:
    /// inside one write transaction, so no other writer counts in between. Writes the same thing
    /// when run again after a rollback (group commit's retry), since it reads what it changes.
    private static func consume(_ key: QuotaKey, units: Int64, job: String?, at m: QuotaMoment,
                                _ db: Database) throws -> QuotaVerdict {
        // By position (two named columns); a value of the wrong type is an error, not a zero.
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT used, exhausted_until FROM quota WHERE provider = ? AND api = ? AND window_start = ?"),
                                   arguments: [key.provider, key.api, m.window.lowerBound])
        let used = try row?.decode(Int64.self, atIndex: 0) ?? 0
        let exhaustedUntil = try row?.decode(Int64?.self, atIndex: 1) ?? nil
        let verdict = m.policy.verdict(key, used: used, units: units, exhaustedUntil: exhaustedUntil, now: m.now,
                                       windowEnd: m.window.upperBound, job: job)
        guard verdict == .allowed else { return verdict }
        try db.cachedStatement(sql: """
            INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (provider, api, window_start) DO UPDATE SET used = used + excluded.used, quota_limit = excluded.quota_limit
            """).execute(arguments: [key.provider, key.api, m.window.lowerBound, m.window.upperBound, units, m.policy.limits[key]])
        return verdict
    }

    public func markExhausted(_ key: QuotaKey) -> (resetAt: Int64, first: Bool) {
        let m = state.moment(key)
        let (now, window) = (m.now, m.window)
        do {
            return try store.writer.write { db in
                // Type-checked, as in `consume` (`Int64.fetchOne` would read text as 0).
                let row = try Row.fetchOne(db, sql: "SELECT exhausted_until FROM quota WHERE provider = ? AND api = ? AND window_start = ?",
                                           arguments: [key.provider, key.api, window.lowerBound])
                if let until = try row?.decode(Int64?.self, atIndex: 0), until > now { return (until, false) }
                try db.execute(sql: """
                    INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit, exhausted_until) VALUES (?, ?, ?, ?, 0, ?, ?)
                    ON CONFLICT (provider, api, window_start) DO UPDATE SET exhausted_until = excluded.exhausted_until
                    """, arguments: [key.provider, key.api, window.lowerBound, window.upperBound, m.policy.limits[key], window.upperBound])
                return (window.upperBound, true)
            }
        } catch {
            state.onError("quota ledger: \(error)")
            return (window.upperBound, true)
        }
    }

    /// The current window of every API with a limit or a call counted. A ledger that cannot be
    /// read (or a row that does not decode) is told through `onError` and counts no calls.
    public func usage() -> [QuotaUsage] {
        let policy = self.policy
        let now = state.clock.wallMilliseconds()
        do {
            return try Self.recordedUsage(reader: store.reader, policy: policy, now: now)
        } catch {
            state.onError("quota ledger: \(error)")
            return Self.usage(rows: [], policy: policy, now: now)
        }
    }

    /// The current window of every API with a limit or a call counted (read-only: `flipsyncctl
    /// quota`); a ledger that cannot be read counts no calls. `recordedUsage` says why instead.
    public static func usage(store: RunStore, policy: QuotaPolicy, now: Int64) -> [QuotaUsage] {
        (try? recordedUsage(store: store, policy: policy, now: now)) ?? usage(rows: [], policy: policy, now: now)
    }

    /// As `usage(store:policy:now:)`, but a ledger that cannot be read, or a `quota` row that does
    /// not decode, is an error naming the table and the row's provider, API and window.
    public static func recordedUsage(store: RunStore, policy: QuotaPolicy, now: Int64) throws(LedgerError) -> [QuotaUsage] {
        try recordedUsage(reader: store.reader, policy: policy, now: now)
    }

    static func recordedUsage(reader: any DatabaseReader, policy: QuotaPolicy, now: Int64) throws(LedgerError) -> [QuotaUsage] {
        let rows: [QuotaRow]
        do { rows = try reader.read { db in try QuotaRow.open(db, now: now) } } catch let error as LedgerError { throw error } catch {
            throw .storage("\(error)")
        }
        return usage(rows: rows, policy: policy, now: now)
    }

    static func usage(rows: [QuotaRow], policy: QuotaPolicy, now: Int64) -> [QuotaUsage] {
        policy.usage(records: rows.map { QuotaRecord(key: $0.key, windowStart: $0.windowStart, used: $0.used, exhaustedUntil: $0.exhaustedUntil) },
                     now: now)
    }
}
