import FlipSyncCore
import GRDB
import Synchronization

/// The quota ledger in the run store's database: one `quota` row per provider, API and window
/// (`window_start`, `window_end` in milliseconds since the epoch, `used`, `quota_limit`,
/// `exhausted_until`). Each `consume` checks and counts in one write transaction (`consumeCommitted`:
/// in the next group-commit transaction), so concurrent
/// tasks and a restart cannot go past the limit.
///
/// Every call is counted when let through, before it is sent (a call that then fails is still
/// counted: the provider counts it too). Storage errors do not stop calls: the call is let
/// through and the error told through `onError`.
///
/// **Leases.** The request pipeline's calls of one unit (`consumeCommitted`) are counted ahead in
/// blocks: the write that counts a call also counts `leaseBlock` more calls for this process, and
/// the next calls are let through from that block in memory, with no write and no wait. A block is
/// taken only while the window's count is at least four blocks below the lowest ceiling any job
/// has (the limit less every reserve) and the API is not exhausted; closer to a bound each call is
/// checked and counted on its own as before, so limits and reserves stop calls exactly where they
/// did. The next block is taken once fewer than half of the current one are left, by one call
/// at a time.
/// What is counted ahead and not used goes back to the ledger when the process stops
/// (`returnLeases`), when the window has ended, when the API is marked exhausted, or when a reload
/// leaves no room for it; only a crash leaves it counted (at most 1.5 blocks per API, never more
/// calls let through than the ledger counts). `usage()` and `remaining(for:)` show this process's
/// calls, not its block.
public final class QuotaStore: QuotaLedgerWithState, Sendable {
    private let store: RunStore
    public let state: QuotaLedgerState

    /// Calls counted ahead in one write (see the type's comment).
    public static let leaseBlock: Int64 = 32

    /// Calls counted in the ledger for this process and not yet let through: one API's window.
    struct Lease: Sendable {
        var window: Range<Int64>
        /// Counted, not yet let through.
        var left: Int64 = 0
        /// The window's `used` once the block was counted: a reload whose lowest ceiling is below
        /// it leaves no room for the block, which then goes back.
        var top: Int64 = 0
        /// A write taking the next block is under way (only one at a time per API).
        var refilling = false
    }

    private let leases = Mutex<[QuotaKey: Lease]>([:])

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
    /// transaction of its own per call, and no thread blocked on the writer while it waits. A
    /// call of one unit is let through from this process's lease when it holds one (no write),
    /// and a write may take the next block (see the type's comment).
    public func consumeCommitted(_ key: QuotaKey, units: Int64, job: String?) async throws(QuotaRefusal) {
        let m = state.moment(key)
        guard units == 1 else {
            let outcome: Result<QuotaVerdict, any Error>
            do { outcome = .success(try await store.groupWrite { db in try Self.consume(key, units: units, job: job, at: m, db) }) } catch {
                outcome = .failure(error)
            }
            return try settle(outcome)
        }
        let floor = Self.lowestCeiling(key, m.policy)
        let step = leases.withLock { all in Self.take(&all[key], window: m.window, floor: floor) }
        if step.taken && !step.refill { return }
        let callUnits: Int64 = step.taken ? 0 : 1
        let landing = Landing()
        let outcome: Result<Counted, any Error>
        do {
            outcome = .success(try await store.groupWrite({ db in
                try Self.count(key, units: callUnits, lease: step.refill, returning: step.returning, job: job, at: m, db)
            }, settled: { result in
                // On the drainer's thread, before any later write's caller resumes: a call refused
                // by a later write finds this block (below).
                guard step.refill else { return }
                let landed = self.leases.withLock { all -> Bool in
                    guard var lease = all[key], lease.window == m.window, lease.refilling else { return false }
                    lease.refilling = false
                    if case .success(let counted) = result, counted.leased > 0 {
                        lease.left += counted.leased
                        lease.top = counted.top
                    }
                    all[key] = lease
                    return true
                }
                landing.kept.withLock { $0 = landed }
            }))
        } catch {
            outcome = .failure(error)
        }
        // The lease was given back (exhausted, the process stopping) or its window ended while
        // the block was being counted: the block goes back too.
        if case .success(let counted) = outcome, counted.leased > 0, !landing.kept.withLock({ $0 }) {
            do { try await store.groupWrite { db in try Self.giveBack(key, counted.leased, windowStart: m.window.lowerBound, db) } } catch {
                state.onError("quota ledger: \(error)")
            }
        }
        if step.taken { return }
        // Refused while this process holds calls counted ahead (a block that landed after this
        // call looked): the call takes one of those instead.
        if case .success(.refused(let refusal)) = outcome.map(\.verdict), refusal.reason != .exhausted,
           leases.withLock({ all in Self.takeLanded(&all[key], window: m.window) }) {
            return
        }
        try settle(outcome.map(\.verdict))
    }

    /// What one call does with `key`'s lease: let through from it (`taken`), and whether this
    /// call's write takes the next block (`refill`), returning what is left of a lease that can no
    /// longer be used (another window, or no room under a reload's ceilings).
    struct LeaseStep {
        var taken = false
        var refill = false
        var returning: (window: Range<Int64>, units: Int64)?
    }

    /// Whether a block's write landed (`settled`) on the lease it was taken for.
    private final class Landing: Sendable {
        let kept = Mutex(true)
    }

    /// One call from a block of `window` that landed after the call looked, if any is left.
    static func takeLanded(_ lease: inout Lease?, window: Range<Int64>) -> Bool {
        guard var held = lease, held.window == window, held.left >= 1 else { return false }
        held.left -= 1
        lease = held
        return true
    }

    static func take(_ lease: inout Lease?, window: Range<Int64>, floor: Int64) -> LeaseStep {
        var step = LeaseStep()
        if let held = lease, held.window != window || held.top > floor {
            // Given back by this call's write (which there is: nothing is left to take from).
            if held.left > 0 { step.returning = (held.window, held.left) }
            // A block being taken for this window is still awaited; one for another window is
            // given back when it lands.
            lease = held.refilling && held.window == window ? Lease(window: window, refilling: true) : nil
        }
        if var held = lease, held.left >= 1 {
            held.left -= 1
            step.taken = true
            if !held.refilling, held.left < leaseBlock / 2 {
                held.refilling = true
                step.refill = true
            }
            lease = held
            return step
        }
        // No block to take from: this call is counted by a write of its own, which takes the next
        // block unless one is already being taken.
        if lease?.refilling != true {
            lease = Lease(window: window, refilling: true)
            step.refill = true
        }
        return step
    }

    /// The lowest bound any job's calls stop at: the limit less every reserve (no bound without a limit).
    static func lowestCeiling(_ key: QuotaKey, _ policy: QuotaPolicy) -> Int64 {
        guard let limit = policy.limits[key] else { return .max }
        return limit - policy.reserved(limit: limit)
    }

    struct Counted: Sendable {
        var verdict: QuotaVerdict
        /// Calls counted ahead for the lease.
        var leased: Int64
        /// The window's `used` after this write.
        var top: Int64
    }

    /// One write: gives back what `returning` holds, then checks and counts `units` (0 with
    /// `lease` for a call already let through from the lease: not checked again), and with `lease`
    /// counts a block more when the window has room for it (see the type's comment). Without
    /// `lease` it is the plain check and count (`consume`), whose row is written even for 0 units.
    private static func count(_ key: QuotaKey, units: Int64, lease: Bool, returning: (window: Range<Int64>, units: Int64)?,
                              job: String?, at m: QuotaMoment, _ db: Database) throws -> Counted {
        if let returning { try giveBack(key, returning.units, windowStart: returning.window.lowerBound, db) }
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT used, exhausted_until FROM quota WHERE provider = ? AND api = ? AND window_start = ?"),
                                   arguments: [key.provider, key.api, m.window.lowerBound])
        // By position (two named columns); a value of the wrong type is an error, not a zero.
        let used = try row?.decode(Int64.self, atIndex: 0) ?? 0
        let exhaustedUntil = try row?.decode(Int64?.self, atIndex: 1) ?? nil
        // A call already let through from the lease, whose write only takes the next block.
        let letThrough = lease && units == 0
        if !letThrough {
            let verdict = m.policy.verdict(key, used: used, units: units, exhaustedUntil: exhaustedUntil, now: m.now,
                                           windowEnd: m.window.upperBound, job: job)
            guard verdict == .allowed else { return Counted(verdict: verdict, leased: 0, top: used) }
        }
        var block: Int64 = 0
        if lease, exhaustedUntil.map({ $0 <= m.now }) ?? true {
            let floor = lowestCeiling(key, m.policy)
            if floor == .max || floor - (used + units) >= 4 * leaseBlock { block = leaseBlock }
        }
        if !letThrough || block > 0 {
            try db.cachedStatement(sql: """
                INSERT INTO quota (provider, api, window_start, window_end, used, quota_limit) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (provider, api, window_start) DO UPDATE SET used = used + excluded.used, quota_limit = excluded.quota_limit
                """).execute(arguments: [key.provider, key.api, m.window.lowerBound, m.window.upperBound, units + block, m.policy.limits[key]])
        }
        return Counted(verdict: .allowed, leased: block, top: used + units + block)
    }

    /// Takes `units` counted ahead and not used off a window's count.
    private static func giveBack(_ key: QuotaKey, _ units: Int64, windowStart: Int64, _ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE quota SET used = max(0, used - ?) WHERE provider = ? AND api = ? AND window_start = ?")
            .execute(arguments: [units, key.provider, key.api, windowStart])
    }

    /// Gives every lease's unused calls back to the ledger (the process is stopping). Calls after
    /// it are counted as before, taking new blocks.
    public func returnLeases() {
        let held = leases.withLock { all in
            defer { all.removeAll() }
            return all.compactMap { key, lease in lease.left > 0 ? (key, lease.window.lowerBound, lease.left) : nil }
        }
        guard !held.isEmpty else { return }
        do {
            try store.writer.write { db in
                for (key, windowStart, units) in held { try Self.giveBack(key, units, windowStart: windowStart, db) }
            }
        } catch {
            state.onError("quota ledger: \(error)")
        }
    }

    /// This process's calls counted ahead and not let through, per API and window start.
    func leased() -> [QuotaKey: (windowStart: Int64, left: Int64)] {
        leases.withLock { all in all.compactMapValues { $0.left > 0 ? ($0.window.lowerBound, $0.left) : nil } }
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
        try count(key, units: units, lease: false, returning: nil, job: job, at: m, db).verdict
    }

    public func markExhausted(_ key: QuotaKey) -> (resetAt: Int64, first: Bool) {
        let m = state.moment(key)
        let (now, window) = (m.now, m.window)
        // The lease's calls go back: the API takes no more calls this window.
        let unused = leases.withLock { all -> Lease? in
            defer { all[key] = nil }
            return all[key].flatMap { $0.left > 0 ? $0 : nil }
        }
        do {
            return try store.writer.write { db in
                if let unused { try Self.giveBack(key, unused.left, windowStart: unused.window.lowerBound, db) }
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
        let leased = leased()
        do {
            let rows = try Self.rows(reader: store.reader, now: now)
            // This process's calls, not the block it holds counted ahead.
            return Self.usage(rows: rows.map { row in
                var row = row
                if let lease = leased[row.key], lease.windowStart == row.windowStart { row.used = max(0, row.used - lease.left) }
                return row
            }, policy: policy, now: now)
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
        usage(rows: try rows(reader: reader, now: now), policy: policy, now: now)
    }

    /// The rows of the windows open at `now`; a row that does not decode is an error naming it.
    private static func rows(reader: any DatabaseReader, now: Int64) throws(LedgerError) -> [QuotaRow] {
        do { return try reader.read { db in try QuotaRow.open(db, now: now) } } catch let error as LedgerError { throw error } catch {
            throw .storage("\(error)")
        }
    }

    static func usage(rows: [QuotaRow], policy: QuotaPolicy, now: Int64) -> [QuotaUsage] {
        policy.usage(records: rows.map { QuotaRecord(key: $0.key, windowStart: $0.windowStart, used: $0.used, exhaustedUntil: $0.exhaustedUntil) },
                     now: now)
    }
}
