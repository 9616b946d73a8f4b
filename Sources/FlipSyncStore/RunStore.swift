import FlipSyncCore
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The run ledger in SQLite: runs, tasks and per-job schedule state.
///
/// The daemon opens it read-write as a `DatabasePool` (WAL: one writer, concurrent readers,
/// `synchronous = NORMAL`, so a power loss can lose the last transactions but never corrupts);
/// `flipsyncctl` opens it read-only, so it works while the daemon is down or running.
public final class RunStore: RunLedger, LedgerProbe, Sendable {
    let writer: any DatabaseWriter
    let reader: any DatabaseReader
    /// Named in every storage error, so a full disk or a lock says which file.
    let path: String
    /// The writes made while tasks run (task states, decisions, spend rows) go through it.
    let group: GroupCommit
    /// Told of each run's start and end, each metered call, decision and commit as it is recorded.
    public let metrics: LedgerMetrics
    /// Each run's sweep, once looked up (`sweepID(ofRun:)`).
    let sweeps = SweepIDCache()

    public enum Mode: Sendable { case readWrite, readOnly }

    /// The WAL pages after which they are copied back into the database file (by
    /// `checkpointer`, off the writer's thread). 10,000 (about 40 MiB) instead of SQLite's
    /// 1,000: the pages a sweep writes over and over (the tasks', spend's and quota's last
    /// leaves) are copied back once per checkpoint, whatever times they were written.
    static let walCheckpointPages = 10_000

    /// Copies the WAL back into the file without a commit waiting for it (read-write mode only).
    let checkpointer: WALCheckpointer?

    /// Opens (creating and migrating, in read-write mode) the database at `path`.
    public convenience init(path: String, mode: Mode = .readWrite, metrics: LedgerMetrics = .off) throws(LedgerError) {
        try self.init(path: path, mode: mode, metrics: metrics, walCheckpointPages: Self.walCheckpointPages)
    }

    /// `walCheckpointPages` or a group-commit wait other than the daemon's, for tests.
    init(path: String, mode: Mode = .readWrite, metrics: LedgerMetrics = .off, walCheckpointPages: Int,
         commitLinger: GroupCommit.Linger = .standard) throws(LedgerError) {
        self.path = path
        self.metrics = metrics
        var checkpointer: WALCheckpointer?
        do {
            var config = Configuration()
            config.busyMode = .timeout(5)
            config.label = "flipsync"
            switch mode {
            case .readWrite:
                try Self.createPrivately(path)
                config.prepareDatabase { db in
                    try db.execute(sql: "PRAGMA synchronous = NORMAL")
                    try db.execute(sql: "PRAGMA foreign_keys = ON")
                }
                let pool = try DatabasePool(path: path, configuration: config)
                // The writer's checkpoints go to a thread of their own (SQLite's automatic
                // checkpoint would run inside a commit; BENCHMARKS.md).
                let background = WALCheckpointer(path: path, pages: walCheckpointPages)
                pool.writeWithoutTransaction { db in background.install(on: db) }
                checkpointer = background
                try Self.renameFormerMigrations(pool)
                try Self.migrator.migrate(pool)
                // A read-only file with a -wal beside it opens "read-write" and then fails every
                // write: refuse it now with a write that changes nothing.
                try pool.write { db in try db.execute(sql: "UPDATE schedule_state SET paused = paused WHERE 0") }
                writer = pool
                reader = pool
            case .readOnly:
                config.readonly = true
                let queue: DatabaseQueue
                do {
                    queue = try DatabaseQueue(path: path, configuration: config)
                } catch let error as DatabaseError
                            where [.SQLITE_CANTOPEN, .SQLITE_READONLY].contains(error.resultCode) && Self.isFrozen(path) {
                    // Reading a WAL database needs a -wal and a -shm beside it, which SQLite cannot
                    // create in a directory it may not write (or on a read-only file system). With
                    // no -wal there nobody is writing the file, so it is read as immutable.
                    guard let frozen = try? DatabaseQueue(path: Self.immutableURI(path), configuration: config) else { throw error }
                    queue = frozen
                }
                // Refuse a database from a newer FlipSync rather than misread it.
                let applied = try queue.read { db in try Self.migrator.appliedIdentifiers(db) }
                // A ledger not yet opened read-write since the steps were renamed keeps their former names.
                let known = Set(Self.migrator.migrations).union(Self.formerMigrationNames.map(\.formerly))
                guard applied.isSubset(of: known) else {
                    throw LedgerError.storage("\(path) was written by a newer FlipSync (migrations \(applied.subtracting(known).sorted()))")
                }
                writer = queue
                reader = queue
            }
        } catch let error as LedgerError {
            throw error
        } catch {
            let hint = mode == .readWrite && Self.isOnReadOnlyFileSystem(path) ? " (the file system is read-only)" : ""
            throw .storage("cannot open \(path)\(hint): \(error)")
        }
        self.checkpointer = checkpointer
        group = GroupCommit(writer: writer, metrics: metrics, linger: commitLinger)
    }

    /// Creates the ledger file, if it does not exist yet, with mode 0600 whatever the umask:
    /// it holds every run, its errors and its spend, and outside systemd (whose `UMask=0077`
    /// already does this) a 0644 file would be readable by every local user. SQLite gives the
    /// `-wal` and `-shm` files it creates beside it the database file's mode. An existing file
    /// keeps its mode. A symbolic link in its place is not followed.
    static func createPrivately(_ path: String) throws(LedgerError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 {
            if errno == EEXIST { return }
            // A read-only file system or directory: let SQLite's own error say so.
            return
        }
        defer { close(fd) }
        // The umask may have removed bits, never added them; make it exactly 0600.
        guard fchmod(fd, 0o600) == 0 else { throw .storage("cannot set the mode of \(path): \(String(cString: strerror(errno)))") }
    }

    /// Whether the file system holding `path` is mounted read-only.
    static func isOnReadOnlyFileSystem(_ path: String) -> Bool {
        var info = statvfs()
        return statvfs(path, &info) == 0 && info.f_flag & UInt(ST_RDONLY) != 0
    }

    /// In a directory this process may not write, with no write-ahead log beside it: nobody is
    /// writing it now.
    static func isFrozen(_ path: String) -> Bool {
        access(FileSystem.directory(of: path), W_OK) != 0 && access(path + "-wal", F_OK) != 0
    }

    /// `path` as an SQLite URI that opens it immutable (no locks, no -shm).
    static func immutableURI(_ path: String) -> String {
        let escaped = path.map { character in
            switch character {
            case "%": "%25"
            case "?": "%3F"
            case "#": "%23"
            default: String(character)
            }
        }
        return "file:\(escaped.joined())?immutable=1"
    }

    /// Every schema step, in the order it runs, with the name FlipSync gave it before the steps
    /// were named `mNN-…` so that their names sort in that order.
    static let formerMigrationNames: [(name: String, formerly: String)] = [
        ("m01-runs: runs, tasks, schedule state", "v1: runs, tasks, schedule state"),
        ("m02-spend: one row per metered call", "spend: one row per metered call"),
        ("m03-sync: stock, order lines, cursors, pushes, drift, oversells",
         "sync: stock, order lines, cursors, pushes, drift, oversells"),
        ("m04-repricing: listings, decisions, unit costs", "v3: repricing listings, decisions, unit costs"),
        ("m05-shipping: quotes and recommendations", "v5: shipping quotes and recommendations"),
        ("m06-shipping: listings' shipping settings, quotes and verdicts",
         "v7-shipping: listings' shipping settings, quotes and verdicts"),
        ("m07-shipping: statuses default-inadequate and no-rate", "v8-shipping: statuses default-inadequate and no-rate"),
        ("m08-matches: LLM product-match cache", "v6: LLM product-match cache"),
        ("m09-coverage: when each listing was last checked", "v9-coverage: when each listing was last checked"),
        ("m10-repricing: decisions record the shipping we charge", "v8-repricing: decisions record the shipping we charge"),
        ("m11-quota: calls counted per provider, API and quota window",
         "v9-quota: calls counted per provider, API and quota window"),
        ("m12-ebay-competitors: competitor item ids each search found, and when",
         "v10-ebay-competitors: competitor item ids each search found, and when"),
        ("m13-ebay-offers: each SKU's published offer id, price and quantity as last read or set",
         "v11-ebay-offers: each SKU's published offer id, price and quantity as last read or set"),
        ("m14-tasks: task inputs as JSON", "v12-tasks: task inputs as JSON"),
    ]

    /// Rewrites, in one transaction before the migrator reads them, the step names a ledger
    /// recorded under their former names (`formerMigrationNames`) to today's: those steps ran
    /// and must not run again. The table is rewritten in run order, so it lists the names in the
    /// order they ran. A ledger with no former name (new, or already rewritten) is not written.
    static func renameFormerMigrations(_ writer: any DatabaseWriter) throws {
        let newName = Dictionary(uniqueKeysWithValues: formerMigrationNames.map { ($0.formerly, $0.name) })
        let position = Dictionary(uniqueKeysWithValues: formerMigrationNames.enumerated().map { ($1.name, $0) })
        try writer.write { db in
            guard try db.tableExists("grdb_migrations") else { return }
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
            guard applied.contains(where: { newName[$0] != nil }) else { return }
            var seen = Set<String>()
            let renamed = applied.map { newName[$0] ?? $0 }.filter { seen.insert($0).inserted }
            // Known steps in run order, then any other name (a newer FlipSync's) as it was.
            let ordered = renamed.enumerated().sorted { a, b in
                (position[a.element] ?? Int.max, a.offset) < (position[b.element] ?? Int.max, b.offset)
            }.map(\.element)
            try db.execute(sql: "DELETE FROM grdb_migrations")
            for name in ordered {
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [name])
            }
        }
    }

    /// Named schema steps, `mNN-…` in the order they run; never edit one that has shipped, add
    /// another (the next is `m21-…`).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("m01-runs: runs, tasks, schedule state") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    job TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'manual')),
                    requested_by INTEGER,
                    scheduled_at INTEGER,
                    created_at INTEGER NOT NULL,
                    started_at INTEGER,
                    finished_at INTEGER,
                    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled',
                                                           'timed_out', 'interrupted', 'skipped', 'budget_exhausted')),
                    skip_reason TEXT,
                    summary TEXT,
                    error TEXT,
                    spend_micros INTEGER NOT NULL DEFAULT 0,
                    resumes INTEGER REFERENCES runs(id) ON DELETE SET NULL
                );
                -- A fire is recorded once: (job, scheduled_at) is unique for scheduled and catch-up runs.
                CREATE UNIQUE INDEX runs_fire ON runs(job, scheduled_at) WHERE scheduled_at IS NOT NULL;
                CREATE INDEX runs_job_created ON runs(job, created_at);
                CREATE INDEX runs_status ON runs(status) WHERE status IN ('queued', 'running');

                CREATE TABLE tasks (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    key TEXT NOT NULL,
                    agent TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    started_at INTEGER,
                    finished_at INTEGER,
                    result TEXT,
                    error TEXT,
                    PRIMARY KEY (run_id, key)
                );  -- with a rowid: tasks list in the order they were planned

                CREATE TABLE schedule_state (
                    job TEXT PRIMARY KEY,
                    last_scheduled_at INTEGER,
                    last_run_id INTEGER,
                    next_due_at INTEGER,
                    paused INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                """)
        }
        SpendLedger.registerMigrations(&migrator)
        SyncStore.registerMigrations(&migrator)
        registerRepricingMigrations(&migrator)
        registerShippingMigrations(&migrator)
        registerMatchMigrations(&migrator)
        registerCoverageMigrations(&migrator)
        registerRepricingShippingMigration(&migrator)
        QuotaStore.registerMigrations(&migrator)
        registerCompetitorMigrations(&migrator)
        registerOfferMigrations(&migrator)
        migrator.registerMigration("m14-tasks: task inputs as JSON") { db in
            // A task's input as JSON (`TaskPayload`); rows planned before this step keep NULL.
            try db.execute(sql: "ALTER TABLE tasks ADD COLUMN input TEXT")
        }
        migrator.registerMigration("m15-run-node: the node that ran each run") { db in
            // The node that recorded the run, on a ledger several nodes share (PostgreSQL). An
            // SQLite ledger has one node: its rows keep NULL, and every run is that node's.
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN node TEXT")
        }
        registerOfferChangeMigrations(&migrator)
        registerSearchSubjectMigrations(&migrator)
        registerDecideCutMigration(&migrator)
        migrator.registerMigration("m21-runs-resumes: runs found by the run they resume") { db in
            // `resumes` references `runs(id) ON DELETE SET NULL`: without an index every run the
            // pruner deletes is a scan of `runs` (12 s for 500 of 300,000 runs; 2 ms with it),
            // and `pruneRuns` walks chains by it.
            try db.execute(sql: "CREATE INDEX runs_resumes ON runs(resumes) WHERE resumes IS NOT NULL")
        }
        return migrator
    }

    /// `body` in its own transaction, or, inside `batch`, in a savepoint of the batch's
    /// transaction (so its failure stays its own).
    func write<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        do {
            return try writer.unsafeReentrantWrite { db in
                var result: T?
                try db.inSavepoint {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw storageError(error)
        }
    }

    /// `body`, one SQL statement, in its own transaction or, inside `batch`, in the batch's, with
    /// no savepoint: SQLite undoes a failed statement by itself, so its failure stays its own all
    /// the same, and the scheduler's thousand fires a second do not pay two more statements each.
    ///
    /// Outside `batch` the statement still gets a transaction of its own (BEGIN … COMMIT), never
    /// SQLite's autocommit: a `RETURNING` statement read with `fetchOne` commits only when it is
    /// reset, and a commit failing there (a full disk) would go unreported — the row returned,
    /// the run "recorded", nothing written (`scripts/storage-fault-test`, "a run asked for while
    /// the disk is full is refused").
    func writeStatement<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        do {
            return try writer.unsafeReentrantWrite { db in
                if db.isInsideTransaction { return try body(db) }
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw storageError(error)
        }
    }

    public func batch(_ body: () -> Void) throws(LedgerError) {
        do {
            try writer.writeWithoutTransaction { db in
                // IMMEDIATE: a locked database fails here, once, after the busy timeout, before
                // `body` runs, rather than at each of its writes.
                try db.inTransaction(.immediate) {
                    body()
                    return .commit
                }
            }
        } catch {
            throw .storage("\(path): \(error)")
        }
    }

    /// `body` in the next group-commit transaction (`GroupCommit`), once that is committed.
    func groupWrite<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T,
                                 settled: (@Sendable (Result<T, any Error>) -> Void)? = nil) async throws(LedgerError) -> T {
        do { return try await group.commit(body, settled: settled) } catch { throw storageError(error) }
    }

    /// A write nothing in its task reads back (`WriteBehind`): queued and not waited for when
    /// the task runs under `WriteBehind.run`, else `groupWrite`. `committed` runs once it is.
    func writeBehind(_ body: @escaping @Sendable (Database) throws -> Void,
                     committed: (@Sendable () -> Void)? = nil) async throws(LedgerError) {
        try await group.write(body) { [self] error in
            if error == nil { committed?() }
            return error.map { storageError($0) }
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        do { return try reader.read(body) } catch { throw storageError(error) }
    }

    /// A read of one statement: without the transaction `read` wraps its body in (GRDB's BEGIN
    /// and COMMIT, prepared afresh each time), since one statement always sees one state of the
    /// ledger. Only for a body that reads with one statement (more would each see their own).
    func readStatement<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        do { return try reader.unsafeRead(body) } catch { throw storageError(error) }
    }

    /// `error` as a storage error naming this ledger's file (once, however deep it was raised).
    /// A `LedgerError` raised inside (a record's "row … does not decode", a nested write's own
    /// error) keeps its message: never "run ledger: run ledger: …" nor the path twice.
    func storageError(_ error: any Error) -> LedgerError {
        switch error as? LedgerError {
        case .storage(let message)?:
            return message.hasPrefix("\(path): ") ? .storage(message) : .storage("\(path): \(message)")
        case .notFound?:
            return error as! LedgerError
        case nil:
            return .storage("\(path): \(error)")
        }
    }

    // MARK: - Runs

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

    // MARK: - Tasks

    public func tasks(runID: Int64) throws(LedgerError) -> [TaskInfo] {
        try read { db in
            try TaskRow.fetchAllNamed(db, TaskRow.filter(sql: "run_id = ?", arguments: [runID]).order(sql: "rowid"), key: ["run_id", "key"]).map(\.info)
        }
    }

    public func task(runID: Int64, key: String) throws(LedgerError) -> TaskInfo? {
        try read { db in try TaskRow.fetchAllNamed(db, TaskRow.filter(sql: "run_id = ? AND key = ?", arguments: [runID, key]), key: ["run_id", "key"]).first?.info }
    }

    public func saveTask(_ task: TaskInfo) throws(LedgerError) {
        try writeStatement { db in try Self.upsert(task, db) }
    }

    public func saveTasks(_ tasks: [TaskInfo]) throws(LedgerError) {
        try write { db in try Self.upsert(tasks, db) }
    }

    public func commitTask(_ task: TaskInfo) async throws(LedgerError) {
        do { try await group.commitTask(task) } catch { throw .storage("\(path): \(error)") }
    }

    static func upsert(_ task: TaskInfo, _ db: Database) throws {
        try db.cachedStatement(sql: upsertSQL[0]).execute(arguments: arguments(task))
    }

    /// `upsert` for each of `tasks` in turn, in statements of up to `upsertRows` rows: the same
    /// rows as one statement each (a key given twice is inserted, then updated, in that order),
    /// and the same row ids, but one statement fails for all of its rows.
    static func upsert(_ tasks: [TaskInfo], _ db: Database) throws {
        var start = 0
        while start < tasks.count {
            let end = min(tasks.count, start + upsertRows)
            var arguments = StatementArguments()
            for task in tasks[start..<end] { arguments += Self.arguments(task) }
            try db.cachedStatement(sql: upsertSQL[end - start - 1]).execute(arguments: arguments)
            start = end
        }
    }

    private static func arguments(_ task: TaskInfo) -> StatementArguments {
        [task.runID, task.key, task.agent, task.status.rawValue, task.attempts, task.startedAt, task.finishedAt, task.result,
         task.error, task.input]
    }

    /// The most task rows one upsert statement takes (10 parameters each).
    static let upsertRows = 64

    /// The task upsert for 1 to `upsertRows` rows.
    private static let upsertSQL: [String] = (1...upsertRows).map { rows in
        """
        INSERT INTO tasks (run_id, key, agent, status, attempts, started_at, finished_at, result, error, input)
        VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", "))
        ON CONFLICT (run_id, key) DO UPDATE SET
            agent = excluded.agent, status = excluded.status, attempts = excluded.attempts,
            started_at = excluded.started_at, finished_at = excluded.finished_at,
            result = excluded.result, error = excluded.error, input = coalesce(excluded.input, tasks.input)
        """
    }

    // MARK: - Schedule state

    public func scheduleStates() throws(LedgerError) -> [String: ScheduleState] {
        try read { db in
            let rows = try ScheduleStateRow.fetchAllNamed(db, ScheduleStateRow.all(), key: ["job"])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0.job, $0.state) })
        }
    }

    public func saveScheduleState(_ state: ScheduleState) throws(LedgerError) {
        try writeStatement { db in
            try db.cachedStatement(sql: """
                INSERT INTO schedule_state (job, last_scheduled_at, last_run_id, next_due_at, paused) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (job) DO UPDATE SET last_scheduled_at = excluded.last_scheduled_at,
                    last_run_id = excluded.last_run_id, next_due_at = excluded.next_due_at
                """).execute(arguments: [state.job, state.lastScheduledAt, state.lastRunID, state.nextDueAt, state.paused])
        }
    }

    public func setPaused(_ paused: Bool, job: String) throws(LedgerError) {
        try writeStatement { db in
            try db.cachedStatement(sql: """
                INSERT INTO schedule_state (job, paused) VALUES (?, ?)
                ON CONFLICT (job) DO UPDATE SET paused = excluded.paused
                """).execute(arguments: [job, paused])
        }
    }

    // MARK: - Health

    /// Times `count` single-row writes (each its own transaction, as the daemon writes) and reads
    /// against a scratch table, in microseconds.
    public func timedRoundTrips(count: Int) throws -> (writes: [Int64], reads: [Int64]) {
        func micros() -> Int64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
        }
        try writer.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
            try db.execute(sql: "DELETE FROM probe")
        }
        var writes: [Int64] = [], reads: [Int64] = []
        for i in 0..<count {
            let start = micros()
            try writer.write { db in try db.execute(sql: "INSERT INTO probe (id, value) VALUES (?, ?)", arguments: [i, "probe \(i)"]) }
            writes.append(micros() - start)
            let readStart = micros()
            _ = try reader.read { db in try String.fetchOne(db, sql: "SELECT value FROM probe WHERE id = ?", arguments: [i]) }
            reads.append(micros() - readStart)
        }
        try writer.write { db in try db.execute(sql: "DELETE FROM probe") }
        return (writes, reads)
    }

    /// `PRAGMA quick_check` (or the full `integrity_check`): "ok" when the file is sound.
    public func integrityCheck(full: Bool = false) throws(LedgerError) -> String {
        try read { db in
            try String.fetchAll(db, sql: full ? "PRAGMA integrity_check" : "PRAGMA quick_check").joined(separator: "; ")
        }
    }
}
