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
}
