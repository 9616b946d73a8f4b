import FlipSyncCore
import FlipSyncStore
import Logging
import PostgresNIO
#if canImport(Glibc)
import Glibc
#endif

/// The run ledger in PostgreSQL: runs, tasks and per-job schedule state, in the same tables as
/// the SQLite ledger (`PostgresLedgerSchema`), behind the same protocols (`RunLedger`,
/// `LedgerProbe`). Opening it migrates the schema (each step once, under an advisory lock).
///
/// Every call is synchronous and bounded (`PostgresSession`: its own event loop thread, a deadline
/// per statement, a new connection after a broken one). A fire is recorded at most once by the
/// database itself: `INSERT … ON CONFLICT DO NOTHING RETURNING` against the unique index on
/// (job, scheduled_at).
public final class PostgresLedger: ResumableRunLedger, RunAdopting, LedgerProbe, Sendable {
    public let session: PostgresSession
    /// The node this ledger records runs for (`runs.node`; `[daemon] node_name`, default the host
    /// name): the runs it interrupts as leftovers and offers to resume at start are this node's
    /// only, so a node starting on a shared database never touches another node's runs. `nil`
    /// (tests, `migrate-store`) is the runs recorded without a node.
    public let node: String?
    /// Where this ledger, and the stores built on it (`init(ledger:)`), record what they write as
    /// metrics (`LedgerMetrics`), at the same points as the SQLite stores; `.off` records nothing.
    public let metrics: LedgerMetrics
    /// `commitTask`'s rows, several to a statement under load.
    let taskCommits: PostgresTaskCommits
    /// Statements `commitTask` has written so far (for tests and the bench).
    public var taskStatements: Int { taskCommits.statements }

    /// Connects to `endpoint` and migrates the ledger's schema.
    /// `readOnly` (the read commands of `flipsyncctl`): the session's transactions are read-only
    /// and nothing is migrated; a database without the ledger, or at an older schema step, is an
    /// error saying so (the daemon, or a run, brings it up to date).
    public init(endpoint: ClusterEndpoint, password: String, timeout: Double = 10, node: String? = nil,
                metrics: LedgerMetrics = .off, readOnly: Bool = false) throws(LedgerError) {
        do {
            session = try PostgresSession(endpoint: endpoint, password: password, timeout: timeout, readOnly: readOnly)
        } catch {
            throw .storage("\(endpoint): \(error)")
        }
        self.node = node
        self.metrics = metrics
        taskCommits = PostgresTaskCommits(session: session)
        if readOnly { try Self.checkSchema(session) } else { try Self.migrate(session) }
    }

    public init(session: PostgresSession, node: String? = nil, metrics: LedgerMetrics = .off) throws(LedgerError) {
        self.session = session
        self.node = node
        self.metrics = metrics
        taskCommits = PostgresTaskCommits(session: session)
        try Self.migrate(session)
    }

    /// Closes the connection (the ledger cannot be used after).
    public func close() { session.close() }

    // MARK: - Schema

    /// Runs the schema steps this database has not had yet, each in its own transaction, while
    /// holding a session advisory lock (nodes starting together wait, then find nothing to do).
    /// Refuses a database migrated by a newer FlipSync. Returns the names of the steps it ran.
    @discardableResult
    public static func migrate(_ session: PostgresSession) throws(LedgerError) -> [String] {
        try session.query("SELECT pg_advisory_lock($1)", [.integer(PostgresLedgerSchema.migrationLock)])
        defer { _ = try? session.query("SELECT pg_advisory_unlock($1)", [.integer(PostgresLedgerSchema.migrationLock)]) }
        try session.query("""
            CREATE TABLE IF NOT EXISTS flipsync_ledger_migrations (
                identifier TEXT PRIMARY KEY,
                position INTEGER NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """)
        var applied = Set<String>()
        for row in try session.rows("SELECT identifier FROM flipsync_ledger_migrations") {
            applied.insert(try row.get("identifier", as: String.self))
        }
        let known = Set(PostgresLedgerSchema.migrations.map(\.name))
        guard applied.isSubset(of: known) else {
            throw .storage("\(session.endpoint) was migrated by a newer FlipSync (migrations \(applied.subtracting(known).sorted()))")
        }
        var ran: [String] = []
        for (position, migration) in PostgresLedgerSchema.migrations.enumerated() where !applied.contains(migration.name) {
            try session.transaction { () throws(LedgerError) in
                for statement in migration.sql { try session.query(statement) }
                try session.query("INSERT INTO flipsync_ledger_migrations (identifier, position) VALUES ($1, $2)",
                                  [.text(migration.name), .integer(Int64(position + 1))])
            }
            ran.append(migration.name)
        }
        return ran
    }

    /// For a reader that changes nothing: the database must hold this build's whole schema.
    static func checkSchema(_ session: PostgresSession) throws(LedgerError) {
        let present = try session.rows("SELECT to_regclass('flipsync_ledger_migrations') IS NOT NULL AS present")
        guard try present.first?.get("present", as: Bool.self) == true else {
            throw .storage("\(session.endpoint) holds no FlipSync ledger yet (flipsyncd, or a run, creates it)")
        }
        var applied = Set<String>()
        for row in try session.rows("SELECT identifier FROM flipsync_ledger_migrations") {
            applied.insert(try row.get("identifier", as: String.self))
        }
        let known = PostgresLedgerSchema.migrations.map(\.name)
        guard applied.isSubset(of: Set(known)) else {
            throw .storage("\(session.endpoint) was migrated by a newer FlipSync (migrations \(applied.subtracting(known).sorted()))")
        }
        let missing = known.filter { !applied.contains($0) }
        guard missing.isEmpty else {
            throw .storage("""
                \(session.endpoint): the ledger has \(applied.count) of this FlipSync's \(known.count) schema steps \
                (missing \(missing.joined(separator: ", "))); start flipsyncd, or a run, to bring it up to date (a read command changes nothing)
                """)
        }
    }

    /// The steps applied to this database, in the order they ran.
    public func appliedMigrations() throws(LedgerError) -> [String] {
        try session.query("SELECT identifier FROM flipsync_ledger_migrations ORDER BY position").map { row throws(LedgerError) in
            try PostgresColumns(row).get("identifier", as: String.self)
        }
    }

    // MARK: - Runs

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

    static func optional(_ value: Int64?) -> LedgerValue { value.map { .integer($0) } ?? .null }
    static func optional(_ value: String?) -> LedgerValue { value.map { .text($0) } ?? .null }

    /// Several statements as one write: their own transaction, or a savepoint inside `batch`'s.
    func write<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        try session.transaction { () throws(LedgerError) -> T in try body() }
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

    // MARK: - Tasks

    public func tasks(runID: Int64) throws(LedgerError) -> [TaskInfo] {
        try session.rows(
            """
            SELECT run_id, key, agent, status, attempts, started_at, finished_at, result, error, input
            FROM tasks WHERE run_id = $1 ORDER BY seq
            """, [.integer(runID)]).map(Self.taskInfo)
    }

    public func task(runID: Int64, key: String) throws(LedgerError) -> TaskInfo? {
        try session.rows(
            """
            SELECT run_id, key, agent, status, attempts, started_at, finished_at, result, error, input
            FROM tasks WHERE run_id = $1 AND key = $2
            """, [.integer(runID), .text(key)]).first.map(Self.taskInfo)
    }

    private static func taskInfo(_ row: PostgresColumns) throws(LedgerError) -> TaskInfo {
        let statusText = try row.get("status", as: String.self)
        guard let status = TaskStatus(rawValue: statusText) else { throw .storage("a task with status \(statusText)") }
        return TaskInfo(runID: try row.get("run_id"), key: try row.get("key"), agent: try row.get("agent"), status: status,
                        attempts: Int(try row.get("attempts", as: Int64.self)), startedAt: try row.get("started_at"),
                        finishedAt: try row.get("finished_at"), result: try row.get("result"), error: try row.get("error"),
                        input: try row.get("input"))
    }

    public func saveTask(_ task: TaskInfo) throws(LedgerError) {
        try session.write(Self.upsertTaskSQL, Self.upsertValues(task))
    }

    /// Through the session's pool, the task waiting without holding a thread; rows committed by
    /// several tasks at once share one statement (`PostgresTaskCommits`). Inside the calling
    /// thread's transaction (a `batch`), written there.
    public func commitTask(_ task: TaskInfo) async throws(LedgerError) {
        if session.inTransaction { return try saveTask(task) }
        try await taskCommits.commit(task)
    }

    public func saveTasks(_ tasks: [TaskInfo]) throws(LedgerError) {
        try write { () throws(LedgerError) in
            for task in tasks { try upsert(task) }
        }
    }

    private func upsert(_ task: TaskInfo) throws(LedgerError) {
        try session.query(Self.upsertTaskSQL, Self.upsertValues(task))
    }

    static let taskColumns = ["run_id", "key", "agent", "status", "attempts", "started_at", "finished_at", "result", "error", "input"]

    /// What a task's row written again keeps: its `input` when the new one has none.
    static let taskUpsert = """
        ON CONFLICT (run_id, key) DO UPDATE SET
            agent = excluded.agent, status = excluded.status, attempts = excluded.attempts,
            started_at = excluded.started_at, finished_at = excluded.finished_at,
            result = excluded.result, error = excluded.error, input = coalesce(excluded.input, tasks.input)
        """

    static let upsertTaskSQL = """
        INSERT INTO tasks (\(taskColumns.joined(separator: ", ")))
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        \(taskUpsert)
        """

    static func upsertValues(_ task: TaskInfo) -> [LedgerValue] {
        [.integer(task.runID), .text(task.key), .text(task.agent), .text(task.status.rawValue), .integer(Int64(task.attempts)),
         optional(task.startedAt), optional(task.finishedAt), optional(task.result), optional(task.error), optional(task.input)]
    }

    public func batch(_ body: () -> Void) throws(LedgerError) {
        try session.transaction { body() }
    }

    // MARK: - Schedule state

    public func scheduleStates() throws(LedgerError) -> [String: ScheduleState] {
        var states: [String: ScheduleState] = [:]
        for row in try session.rows("SELECT job, last_scheduled_at, last_run_id, next_due_at, paused FROM schedule_state") {
            let job = try row.get("job", as: String.self)
            states[job] = ScheduleState(job: job, lastScheduledAt: try row.get("last_scheduled_at"), lastRunID: try row.get("last_run_id"),
                                        nextDueAt: try row.get("next_due_at"), paused: try row.get("paused", as: Int64.self) != 0)
        }
        return states
    }

    public func saveScheduleState(_ state: ScheduleState) throws(LedgerError) {
        try session.write(
            """
            INSERT INTO schedule_state (job, last_scheduled_at, last_run_id, next_due_at, paused) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (job) DO UPDATE SET last_scheduled_at = excluded.last_scheduled_at,
                last_run_id = excluded.last_run_id, next_due_at = excluded.next_due_at
            """,
            [.text(state.job), Self.optional(state.lastScheduledAt), Self.optional(state.lastRunID), Self.optional(state.nextDueAt),
             .integer(state.paused ? 1 : 0)])
    }

    public func setPaused(_ paused: Bool, job: String) throws(LedgerError) {
        try session.write(
            """
            INSERT INTO schedule_state (job, paused) VALUES ($1, $2)
            ON CONFLICT (job) DO UPDATE SET paused = excluded.paused
            """,
            [.text(job), .integer(paused ? 1 : 0)])
    }

    // MARK: - Health

    /// Times `count` single-row writes (each its own transaction) and reads against a scratch
    /// table, in microseconds: round trips to the server included.
    public func timedRoundTrips(count: Int) throws -> (writes: [Int64], reads: [Int64]) {
        func micros() -> Int64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
        }
        try session.query("CREATE TABLE IF NOT EXISTS probe (id BIGINT PRIMARY KEY, value TEXT NOT NULL)")
        try session.query("DELETE FROM probe")
        var writes: [Int64] = [], reads: [Int64] = []
        for i in 0..<count {
            let start = micros()
            try session.query("INSERT INTO probe (id, value) VALUES ($1, $2)", [.integer(Int64(i)), .text("probe \(i)")])
            writes.append(micros() - start)
            let readStart = micros()
            try session.query("SELECT value FROM probe WHERE id = $1", [.integer(Int64(i))])
            reads.append(micros() - readStart)
        }
        try session.query("DELETE FROM probe")
        return (writes, reads)
    }

    /// PostgreSQL has no `PRAGMA quick_check`: "ok" when the server answers and every schema step
    /// this FlipSync knows is applied; otherwise what is missing.
    public func integrityCheck(full: Bool = false) throws(LedgerError) -> String {
        let applied = Set(try appliedMigrations())
        let missing = PostgresLedgerSchema.migrations.map(\.name).filter { !applied.contains($0) }
        return missing.isEmpty ? "ok" : "missing schema steps: \(missing.joined(separator: ", "))"
    }
}
