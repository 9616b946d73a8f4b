import Logging
import PostgresNIO

/// The cluster's tables in PostgreSQL, created by numbered migrations that run in order, each
/// once (`flipsync_cluster_migrations` records them). Nodes starting together take a
/// transaction-scoped advisory lock first, so only one of them migrates.
enum ClusterSchema {
    /// An arbitrary constant: the advisory lock that serialises migrations.
    static let migrationLock: Int64 = 0x466C_6970_5379_6E63  // "FlipSync"

    static let migrations: [(version: Int32, name: String, sql: [String])] = [
        (1, "nodes-lease-fires", [
            """
            CREATE TABLE flipsync_cluster_nodes (
                node_id TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid BIGINT NOT NULL,
                started_at_ms BIGINT NOT NULL,
                heartbeat_at_ms BIGINT NOT NULL,
                tasks_in_flight BIGINT NOT NULL DEFAULT 0,
                stopped_at_ms BIGINT
            )
            """,
            // One row per lease (only "scheduler" so far). `token` is the fencing token: it goes
            // up by one each time a node acquires the lease (not when the holder renews it).
            """
            CREATE TABLE flipsync_cluster_leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                token BIGINT NOT NULL,
                expires_at_ms BIGINT NOT NULL
            )
            """,
            // Every fire, once, cluster-wide: the node and fencing token that claimed it.
            """
            CREATE TABLE flipsync_cluster_fires (
                job TEXT NOT NULL,
                scheduled_at BIGINT NOT NULL,
                node_id TEXT NOT NULL,
                token BIGINT NOT NULL,
                claimed_at_ms BIGINT NOT NULL,
                PRIMARY KEY (job, scheduled_at)
            )
            """,
        ]),
        (2, "tasks-buckets-instances", [
            // Which process heartbeats under a node's name: a random id per start, so a second
            // process started with the same `node_name` is recognised (and refused).
            "ALTER TABLE flipsync_cluster_nodes ADD COLUMN instance_id TEXT NOT NULL DEFAULT ''",
            // Tasks claimed, not assigned. `state`: pending, claimed, done, failed. `token` goes up
            // by one at each claim (the task lease's fencing token); `attempts` counts claims that
            // were not released unstarted. A claimed task whose lease expired is claimable again.
            """
            CREATE TABLE flipsync_cluster_tasks (
                id BIGSERIAL PRIMARY KEY,
                run_id TEXT NOT NULL,
                task_key TEXT NOT NULL,
                payload TEXT NOT NULL DEFAULT '',
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'claimed', 'done', 'failed')),
                lease_holder TEXT,
                lease_expires_at_ms BIGINT,
                token BIGINT NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                started_at_ms BIGINT,
                enqueued_at_ms BIGINT NOT NULL,
                finished_at_ms BIGINT,
                error TEXT,
                UNIQUE (run_id, task_key)
            )
            """,
            "CREATE INDEX flipsync_cluster_tasks_open ON flipsync_cluster_tasks (id) WHERE state IN ('pending', 'claimed')",
            "CREATE INDEX flipsync_cluster_tasks_holder ON flipsync_cluster_tasks (lease_holder) WHERE state = 'claimed'",
            // Token buckets shared by every node: one row per (provider, operation) key.
            """
            CREATE TABLE flipsync_cluster_buckets (
                key TEXT PRIMARY KEY,
                tokens DOUBLE PRECISION NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                granted BOOLEAN NOT NULL
            )
            """,
        ]),
        (3, "bucket-rates", [
            // The rate and burst the bucket refills at and holds, and which node's configuration
            // each is (`ClusterRateLimiter`: the lower of two nodes' wins; only the node whose value
            // it is may raise it). NULL in rows from before: the next caller's configuration.
            "ALTER TABLE flipsync_cluster_buckets ADD COLUMN rate_per_second DOUBLE PRECISION",
            "ALTER TABLE flipsync_cluster_buckets ADD COLUMN rate_node TEXT",
            "ALTER TABLE flipsync_cluster_buckets ADD COLUMN burst BIGINT",
            "ALTER TABLE flipsync_cluster_buckets ADD COLUMN burst_node TEXT",
        ]),
        (4, "job-runs", [
            // Each job's run lease (`ClusterCoordinator` as `JobRunGate`): the node and process
            // (instance) whose run holds it, that run (its node-local id), and the generation, one
            // more at each acquisition. Held while `released` is false and the holding process is
            // the node's live one (heartbeat within the lease, not stopped).
            """
            CREATE TABLE flipsync_cluster_job_runs (
                job TEXT PRIMARY KEY,
                node_id TEXT NOT NULL,
                instance_id TEXT NOT NULL,
                run_id BIGINT NOT NULL,
                generation BIGINT NOT NULL,
                acquired_at_ms BIGINT NOT NULL,
                released BOOLEAN NOT NULL DEFAULT false,
                cancel_requested BOOLEAN NOT NULL DEFAULT false
            )
            """,
        ]),
        (5, "dispatched-tasks", [
            // Runs' tasks on the queue (`ClusterTaskDispatcher`, `ClusterTaskWorker`): the node whose
            // run enqueued the task (a draining node claims only its own runs' tasks), a request from
            // that run to stop it (its holder sees it at its next lease renewal), and how it ended
            // where it ran (`finished`, `budget_exhausted`, `abandoned`, `cancelled`).
            "ALTER TABLE flipsync_cluster_tasks ADD COLUMN origin_node TEXT",
            "ALTER TABLE flipsync_cluster_tasks ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false",
            "ALTER TABLE flipsync_cluster_tasks ADD COLUMN outcome TEXT",
        ]),
        (6, "task-notify", [
            // Every node LISTENs on `flipsync_cluster_tasks` (`ClusterTaskListener`): a task that
            // becomes claimable (enqueued, handed back, failed to retry) says `pending`; one that
            // ends says `ended <origin node>`, for the node whose run waits on it. Only changes
            // of `state` fire it (lease renewals do not), and PostgreSQL folds identical
            // notifications of one transaction into one, delivered at its commit.
            """
            CREATE FUNCTION flipsync_cluster_tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.state = 'pending' AND (TG_OP = 'INSERT' OR OLD.state <> 'pending') THEN
                    PERFORM pg_notify('flipsync_cluster_tasks', 'pending');
                ELSIF NEW.state IN ('done', 'failed') AND (TG_OP = 'INSERT' OR OLD.state NOT IN ('done', 'failed')) THEN
                    PERFORM pg_notify('flipsync_cluster_tasks', 'ended ' || COALESCE(NEW.origin_node, ''));
                END IF;
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER flipsync_cluster_tasks_notify AFTER INSERT OR UPDATE OF state ON flipsync_cluster_tasks
            FOR EACH ROW EXECUTE FUNCTION flipsync_cluster_tasks_notify()
            """,
        ]),
    ]

    static var latestVersion: Int32 { migrations.last!.version }

    /// Runs the migrations this database has not had yet; returns how many ran.
    @discardableResult
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS flipsync_cluster_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
            var applied = Set<Int32>()
            for try await version in try await connection.query("SELECT version FROM flipsync_cluster_migrations",
                                                                logger: logger).decode(Int32.self) {
                applied.insert(version)
            }
            var ran = 0
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO flipsync_cluster_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                                           logger: logger)
                ran += 1
            }
            return ran
        }
    }
}

/// The cluster database as a whole, for tools and tests that use its tables without a node.
public enum ClusterDatabase {
    /// Creates or updates the cluster's tables (every migration, each once); returns how many ran.
    @discardableResult
    public static func migrate(_ client: PostgresClient, logger: Logger) async throws -> Int {
        try await ClusterSchema.migrate(client, logger: logger)
    }
}
