import FlipSyncCore
import FlipSyncStore
import PostgresNIO

/// Runs: recording fires, starting and finishing them, leftovers, adoption and pruning.
extension PostgresLedger {
    static let runColumns = """
        id, job, kind, trigger, requested_by, scheduled_at, created_at, started_at, finished_at, status, skip_reason,
        summary, error, spend_micros, resumes
        """

    static func runInfo(_ raw: PostgresRow) throws(LedgerError) -> RunInfo {
        let row = PostgresColumns(raw)
        let triggerText = try row.get("trigger", as: String.self), statusText = try row.get("status", as: String.self)
        guard let trigger = RunTrigger(rawValue: triggerText), let status = RunStatus(rawValue: statusText) else {
            throw .storage("a run with trigger \(triggerText) and status \(statusText)")
        }
        return RunInfo(id: try row.get("id"), job: try row.get("job"), kind: try row.get("kind"), trigger: trigger,
                       requestedBy: try row.get("requested_by", as: Int64?.self).map { UInt32(truncatingIfNeeded: $0) },
                       scheduledAt: try row.get("scheduled_at"), createdAt: try row.get("created_at"),
                       startedAt: try row.get("started_at"), finishedAt: try row.get("finished_at"), status: status,
                       skipReason: try row.get("skip_reason", as: String?.self).flatMap(SkipReason.init(rawValue:)),
                       summary: try row.get("summary"), error: try row.get("error"), spendMicros: try row.get("spend_micros"),
                       resumes: try row.get("resumes"))
    }

    /// The sweep run `runID` belongs to: `resumes` followed back to the first run of the chain, in
    /// one statement, at most 1,000 steps (as SQLite's `RunStore`). A run that does not exist is its
    /// own sweep. The repricing and shipping stores both answer `sweepID(ofRun:)` with it.
    static func sweepID(ofRun runID: Int64, in session: PostgresSession) throws(LedgerError) -> Int64 {
        try sweepIDLookup(runID, in: session).sweep
    }

    /// The first run of `runID`'s chain of resumes, and whether `runID` has a row at all.
    static func sweepIDLookup(_ runID: Int64, in session: PostgresSession) throws(LedgerError) -> (sweep: Int64, found: Bool) {
        let rows = try session.rows("""
            WITH RECURSIVE chain (id, depth) AS (
                SELECT $1::BIGINT, 0
                UNION ALL
                SELECT r.resumes, c.depth + 1 FROM chain c JOIN runs r ON r.id = c.id
                WHERE r.resumes IS NOT NULL AND c.depth < 1000
            )
            SELECT id, EXISTS (SELECT 1 FROM runs WHERE id = $1) AS found FROM chain ORDER BY depth DESC LIMIT 1
            """, [.integer(runID)])
        guard let row = rows.first else { return (runID, false) }
        return (try row.get("id", as: Int64.self), try row.get("found", as: Bool.self))
    }

    public func recordFire(job: String, kind: String, trigger: RunTrigger, requestedBy: UInt32?, scheduledAt: Int64?,
                           status: RunStatus, skipReason: SkipReason?, summary: String?, at: Int64,
                           resumes: Int64?) throws(LedgerError) -> RunInfo? {
        let rows = try session.write(
            """
            INSERT INTO runs (job, kind, trigger, requested_by, scheduled_at, created_at, status, skip_reason,
                              summary, finished_at, resumes, node)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT DO NOTHING
            RETURNING \(Self.runColumns)
            """,
            [.text(job), .text(kind), .text(trigger.rawValue), Self.optional(requestedBy.map { Int64($0) }), Self.optional(scheduledAt),
             .integer(at), .text(status.rawValue), Self.optional(skipReason?.rawValue), Self.optional(summary),
             status.isFinal ? .integer(at) : .null, Self.optional(resumes), Self.optional(node)])
        let run = try rows.first.map { row throws(LedgerError) in try Self.runInfo(row) }
        if let run, run.status.isFinal { metrics.runFinished(job: run.job, status: run.status.rawValue, durationMilliseconds: nil) }
        return run
    }

    public func markRunning(runID: Int64, at: Int64) throws(LedgerError) {
        let started = try session.write(
            "UPDATE runs SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'queued' RETURNING job, scheduled_at",
            [.integer(at), .integer(runID)])
        if let row = started.first {
            let columns = PostgresColumns(row)
            let scheduledAt: Int64? = try columns.get("scheduled_at")
            metrics.runStarted(job: try columns.get("job"), latenessMilliseconds: scheduledAt.map { at - $0 * 1000 })
        }
    }

    public func finishRun(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64,
                          at: Int64) throws(LedgerError) {
        let finished = try session.write(
            """
            UPDATE runs SET status = $1, summary = $2, error = $3, spend_micros = $4, finished_at = $5
            WHERE id = $6 AND status IN ('queued', 'running')
            RETURNING job, started_at
            """,
            [.text(status.rawValue), Self.optional(summary), Self.optional(error), .integer(spendMicros), .integer(at), .integer(runID)])
        if let row = finished.first {
            let columns = PostgresColumns(row)
            let startedAt: Int64? = try columns.get("started_at")
            metrics.runFinished(job: try columns.get("job"), status: status.rawValue, durationMilliseconds: startedAt.map { at - $0 })
        }
    }

    public func interruptLeftovers(at: Int64, reason: String) throws(LedgerError) -> [RunInfo] {
        let leftovers = try write { () throws(LedgerError) -> [RunInfo] in
            let rows = try session.query(
                """
                UPDATE runs SET status = 'interrupted', error = $1, finished_at = $2
                WHERE status IN ('queued', 'running') AND node IS NOT DISTINCT FROM $3
                RETURNING \(Self.runColumns)
                """, [.text(reason), .integer(at), Self.optional(node)])
            try session.query("""
                UPDATE tasks SET status = 'pending' WHERE status = 'running'
                AND run_id IN (SELECT id FROM runs WHERE status = 'interrupted' AND node IS NOT DISTINCT FROM $1)
                """, [Self.optional(node)])
            var runs: [RunInfo] = []
            for row in rows { runs.append(try Self.runInfo(row)) }
            return runs.sorted { $0.id < $1.id }
        }
        for run in leftovers {
            metrics.runFinished(job: run.job, status: RunStatus.interrupted.rawValue, durationMilliseconds: run.startedAt.map { at - $0 })
        }
        return leftovers
    }

    public func lastRunID() throws(LedgerError) -> Int64 {
        let rows = try session.query("SELECT COALESCE(MAX(id), 0)::BIGINT AS id FROM runs")
        guard let row = rows.first else { return 0 }
        return try PostgresColumns(row).get("id")
    }

    public func adoptRuns(of nodes: [String], upTo lastRunID: Int64, at: Int64) throws(LedgerError) -> [RunInfo] {
        let others = Set(nodes).subtracting(node.map { [$0] } ?? [])
        guard !others.isEmpty else { return [] }
        let adopted = try write { () throws(LedgerError) -> [RunInfo] in
            // Which of them have runs still open (the partial index `runs_status`): usually
            // none, so a look costs one small read, however many nodes have stopped this week.
            var open = Set<String>()
            for row in try session.query("""
                SELECT DISTINCT node FROM runs WHERE status IN ('queued', 'running') AND node IS NOT NULL AND id <= $1
                """, [.integer(lastRunID)]) { open.insert(try PostgresColumns(row).get("node")) }
            var runs: [RunInfo] = []
            // A few nodes and runs at most: one statement each.
            for other in open.intersection(others).sorted() {
                // In SET, `node` is the row's value before the update: the error names the node
                // that ran it, which the row keeps.
                let rows = try session.query(
                    """
                    UPDATE runs SET status = 'interrupted', finished_at = $1,
                        error = 'node ' || node || ' stopped heartbeating while the run was going; taken over by node ' || $2
                    WHERE status IN ('queued', 'running') AND node = $3 AND id <= $4
                    RETURNING \(Self.runColumns)
                    """, [.integer(at), .text(node ?? "?"), .text(other), .integer(lastRunID)])
                for row in rows { runs.append(try Self.runInfo(row)) }
            }
            for run in runs {
                try session.query("UPDATE tasks SET status = 'pending' WHERE status = 'running' AND run_id = $1", [.integer(run.id)])
            }
            return runs.sorted { $0.id < $1.id }
        }
        for run in adopted {
            metrics.runFinished(job: run.job, status: RunStatus.interrupted.rawValue, durationMilliseconds: run.startedAt.map { at - $0 })
        }
        return adopted
    }

    /// This node's interrupted runs created at or after `since` that no run resumes, oldest first.
    public func unresumedInterruptions(createdSince since: Int64) throws(LedgerError) -> [RunInfo] {
        try session.query(
            """
            SELECT \(Self.runColumns) FROM runs
            WHERE status = 'interrupted' AND created_at >= $1 AND node IS NOT DISTINCT FROM $2
            AND NOT EXISTS (SELECT 1 FROM runs AS later WHERE later.resumes = runs.id)
            ORDER BY id
            """, [.integer(since), Self.optional(node)]).map { row throws(LedgerError) in try Self.runInfo(row) }
    }

    /// The node that recorded run `id` (`nil`: none, or no such run).
    public func node(ofRun id: Int64) throws(LedgerError) -> String? {
        try session.query("SELECT node FROM runs WHERE id = $1", [.integer(id)]).first.flatMap { row throws(LedgerError) in
            try PostgresColumns(row).get("node", as: String?.self)
        }
    }

    public func run(id: Int64) throws(LedgerError) -> RunInfo? {
        try session.query("SELECT \(Self.runColumns) FROM runs WHERE id = $1", [.integer(id)]).first.map { row throws(LedgerError) in
            try Self.runInfo(row)
        }
    }

    public func recentRuns(job: String?, limit: Int) throws(LedgerError) -> [RunInfo] {
        let rows: [PostgresRow]
        if let job {
            rows = try session.query("SELECT \(Self.runColumns) FROM runs WHERE job = $1 ORDER BY id DESC LIMIT $2",
                                     [.text(job), .integer(Int64(limit))])
        } else {
            rows = try session.query("SELECT \(Self.runColumns) FROM runs ORDER BY id DESC LIMIT $1", [.integer(Int64(limit))])
        }
        return try rows.map { row throws(LedgerError) in try Self.runInfo(row) }
    }

    public func pruneRuns(createdBefore before: Int64, limit: Int) throws(LedgerError) -> Int {
        try session.write(RunStore.pruneRunsSQL(parameter: { "$\($0)" }) + " RETURNING id", [.integer(before), .integer(Int64(limit))]).count
    }

    public func pruneSweepRows(limit: Int) throws(LedgerError) -> Int {
        try write { () throws(LedgerError) -> Int in try pruneSweepRowsInTransaction(limit: limit) }
    }

    private func pruneSweepRowsInTransaction(limit: Int) throws(LedgerError) -> Int {
        var left = Int64(max(0, limit))
        for table in RunStore.sweepTables where left > 0 {
            // By the primary key (sweep_id, marketplace, sku): the oldest sweep's rows first.
            let counted = try session.write(
                """
                WITH gone AS (
                    DELETE FROM \(table) WHERE (sweep_id, marketplace, sku) IN (
                        SELECT sweep_id, marketplace, sku FROM \(table)
                        WHERE sweep_id < (SELECT COALESCE(MIN(id), 9223372036854775807) FROM runs)
                        ORDER BY sweep_id, marketplace, sku LIMIT $1)
                    RETURNING 1)
                SELECT COUNT(*)::BIGINT AS n FROM gone
                """, [.integer(left)])
            left -= try counted.first.map { row throws(LedgerError) in try PostgresColumns(row).get("n", as: Int64.self) } ?? 0
        }
        return max(0, limit) - Int(left)
    }
}
