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
