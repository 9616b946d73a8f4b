import FlipSyncCore
import FlipSyncStore
import PostgresNIO

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

    // MARK: - Writing

    static func optional(_ value: Int64?) -> LedgerValue { value.map { .integer($0) } ?? .null }
    static func optional(_ value: String?) -> LedgerValue { value.map { .text($0) } ?? .null }

    /// Several statements as one write: their own transaction, or a savepoint inside `batch`'s.
    func write<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        try session.transaction { () throws(LedgerError) -> T in try body() }
    }
}
