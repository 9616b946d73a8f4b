import FlipSyncCore
import GRDB

/// The runs: a fire recorded, started and finished; interrupted runs found at start-up; the
/// runs read back; old runs and their sweeps' rows pruned.
extension RunStore {
    public func recordFire(job: String, kind: String, trigger: RunTrigger, requestedBy: UInt32?, scheduledAt: Int64?,
                           status: RunStatus, skipReason: SkipReason?, summary: String?, at: Int64,
                           resumes: Int64?) throws(LedgerError) -> RunInfo? {
        // One statement, prepared once per connection. The run is built from what was inserted,
        // not read back: `RETURNING` costs SQLite an ephemeral table per execution (a third of
        // the fire's cost when a thousand jobs fire in the same second, BENCHMARKS.md).
        let run = try writeStatement { db -> RunInfo? in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO runs (job, kind, trigger, requested_by, scheduled_at, created_at, status, skip_reason,
                                  summary, finished_at, resumes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """)
            let finishedAt = status.isFinal ? at : nil
            try statement.execute(arguments: [
                job, kind, trigger.rawValue, requestedBy.map { Int64($0) }, scheduledAt, at, status.rawValue,
                skipReason?.rawValue, summary, finishedAt, resumes])
            // No row when the fire was recorded before (the unique `runs_fire`).
            guard db.changesCount == 1 else { return nil }
            return RunInfo(id: db.lastInsertedRowID, job: job, kind: kind, trigger: trigger, requestedBy: requestedBy,
                           scheduledAt: scheduledAt, createdAt: at, finishedAt: finishedAt, status: status,
                           skipReason: skipReason, summary: summary, resumes: resumes)
        }
        if let run, run.status.isFinal { metrics.runFinished(job: run.job, status: run.status.rawValue, durationMilliseconds: nil) }
        return run
    }

    public func markRunning(runID: Int64, at: Int64) throws(LedgerError) {
        let started = try writeStatement { db in try Self.markRunning(db, runID: runID, at: at) }
        started.map { metrics.runStarted(job: $0.job, latenessMilliseconds: $0.scheduledAt.map { at - $0 * 1000 }) }
    }

    public func commitRunning(runID: Int64, at: Int64) async throws(LedgerError) {
        let started = try await groupWrite { db in try Self.markRunning(db, runID: runID, at: at) }
        started.map { metrics.runStarted(job: $0.job, latenessMilliseconds: $0.scheduledAt.map { at - $0 * 1000 }) }
    }

    /// The run's job and scheduled time when it went from queued to running, else nil.
    private static func markRunning(_ db: Database, runID: Int64, at: Int64) throws -> (job: String, scheduledAt: Int64?)? {
        try Row.fetchOne(db.cachedStatement(sql: "UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued' RETURNING job, scheduled_at"),
                         arguments: [at, runID]).map { (try $0.decode(forColumn: "job"), try $0.decode(forColumn: "scheduled_at")) }
    }

    public func finishRun(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64,
                          at: Int64) throws(LedgerError) {
        let finished = try writeStatement { db in
            try Self.finishRun(db, runID: runID, status: status, summary: summary, error: error, spendMicros: spendMicros, at: at)
        }
        finished.map { metrics.runFinished(job: $0.job, status: status.rawValue, durationMilliseconds: $0.startedAt.map { at - $0 }) }
    }

    public func commitFinish(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64,
                             at: Int64) async throws(LedgerError) {
        let finished = try await groupWrite { db in
            try Self.finishRun(db, runID: runID, status: status, summary: summary, error: error, spendMicros: spendMicros, at: at)
        }
        finished.map { metrics.runFinished(job: $0.job, status: status.rawValue, durationMilliseconds: $0.startedAt.map { at - $0 }) }
    }

    private static func finishRun(_ db: Database, runID: Int64, status: RunStatus, summary: String?, error: String?,
                                  spendMicros: Int64, at: Int64) throws -> (job: String, startedAt: Int64?)? {
        try Row.fetchOne(
            db.cachedStatement(sql: """
                UPDATE runs SET status = ?, summary = ?, error = ?, spend_micros = ?, finished_at = ?
                WHERE id = ? AND status IN ('queued', 'running')
                RETURNING job, started_at
                """),
            arguments: [status.rawValue, summary, error, spendMicros, at, runID]).map { (try $0.decode(forColumn: "job"), try $0.decode(forColumn: "started_at")) }
    }

    public func interruptLeftovers(at: Int64, reason: String) throws(LedgerError) -> [RunInfo] {
        let leftovers = try interruptLeftoverRows(at: at, reason: reason)
        for run in leftovers {
            metrics.runFinished(job: run.job, status: RunStatus.interrupted.rawValue, durationMilliseconds: run.startedAt.map { at - $0 })
        }
        return leftovers
    }

    private func interruptLeftoverRows(at: Int64, reason: String) throws(LedgerError) -> [RunInfo] {
        try write { db in
            let leftovers = try RunRow.fetchAllNamed(db, RunRow.filter(sql: "status IN ('queued', 'running')").order(sql: "id"), key: ["id"])
            try db.execute(
                sql: "UPDATE runs SET status = 'interrupted', error = ?, finished_at = ? WHERE status IN ('queued', 'running')",
                arguments: [reason, at])
            try db.execute(
                sql: "UPDATE tasks SET status = 'pending' WHERE status = 'running' AND run_id IN (SELECT id FROM runs WHERE status = 'interrupted')")
            return leftovers.map { row in
                var info = row.info
                info.status = .interrupted
                info.error = reason
                info.finishedAt = at
                return info
            }
        }
    }

    /// Interrupted runs created at or after `since` that no run resumes: a daemon killed after
    /// marking its leftovers interrupted but before recording their resumes leaves these, and
    /// the next start resumes them.
    public func unresumedInterruptions(createdSince since: Int64) throws(LedgerError) -> [RunInfo] {
        try read { db in
            try RunRow.fetchAllNamed(db, RunRow.filter(sql: """
                status = 'interrupted' AND created_at >= ? AND NOT EXISTS (SELECT 1 FROM runs AS later WHERE later.resumes = runs.id)
                """, arguments: [since]).order(sql: "id"), key: ["id"]).map(\.info)
        }
    }

    public func run(id: Int64) throws(LedgerError) -> RunInfo? {
        try read { db in try RunRow.fetchAllNamed(db, RunRow.filter(key: id), key: ["id"]).first?.info }
    }

    public func recentRuns(job: String?, limit: Int) throws(LedgerError) -> [RunInfo] {
        try read { db in
            var request = RunRow.order(sql: "id DESC").limit(limit)
            if let job { request = request.filter(sql: "job = ?", arguments: [job]) }
            return try RunRow.fetchAllNamed(db, request, key: ["id"]).map(\.info)
        }
    }

    public func pruneRuns(createdBefore before: Int64, limit: Int) throws(LedgerError) -> Int {
        try write { db in
            try db.execute(sql: RunStore.pruneRunsSQL(parameter: { "?\($0)" }), arguments: [before, limit])
            return db.changesCount
        }
    }

    /// The runs `pruneRuns` deletes, the same in both dialects but for how parameters are
    /// written (1: created before, 2: the limit): finished runs created before the cutoff, the
    /// oldest first, but for every run a kept run resumes, directly or along its chain (a kept
    /// run: created since the cutoff, or queued or running). So a chain is pruned only once all
    /// of it is old and finished, and a kept run never loses the first run of its sweep, nor,
    /// through it, its sweep's snapshot and decisions (`pruneSweepRows`) — a resumed sweep still
    /// running keeps its rows. The walk starts from the runs that resume another (the partial
    /// index `runs_resumes`, m21), a few.
    public static func pruneRunsSQL(parameter: (Int) -> String) -> String {
        let (before, limit) = (parameter(1), parameter(2))
        return """
            WITH RECURSIVE kept_chain(id) AS (
                SELECT resumes FROM runs WHERE resumes IS NOT NULL AND (created_at >= \(before) OR status IN ('queued', 'running'))
                UNION
                SELECT runs.resumes FROM runs JOIN kept_chain ON runs.id = kept_chain.id WHERE runs.resumes IS NOT NULL
            )
            DELETE FROM runs WHERE id IN (
                SELECT id FROM runs WHERE created_at < \(before) AND status NOT IN ('queued', 'running')
                    AND id NOT IN (SELECT id FROM kept_chain)
                ORDER BY id LIMIT \(limit))
            """
    }

    /// The tables holding a sweep's rows, keyed `(sweep_id, marketplace, sku)`, in the order
    /// `pruneSweepRows` empties them.
    public static let sweepTables = ["decide_cut", "sweep_listings", "decisions"]

    public func pruneSweepRows(limit: Int) throws(LedgerError) -> Int {
        try write { db in
            var left = max(0, limit)
            for table in RunStore.sweepTables where left > 0 {
                // By the primary key (sweep_id, marketplace, sku): the oldest sweep's rows first.
                try db.execute(sql: """
                    DELETE FROM \(table) WHERE (sweep_id, marketplace, sku) IN (
                        SELECT sweep_id, marketplace, sku FROM \(table)
                        WHERE sweep_id < (SELECT COALESCE(MIN(id), 9223372036854775807) FROM runs)
                        ORDER BY sweep_id, marketplace, sku LIMIT ?)
                    """, arguments: [left])
                left -= db.changesCount
            }
            return max(0, limit) - left
        }
    }
}
