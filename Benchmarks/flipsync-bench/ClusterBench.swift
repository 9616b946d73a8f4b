import FlipSyncCluster
import Foundation
import GRDB
import Logging
import PostgresNIO

/// Issue 16's benchmark item: tasks claimed, not assigned. N trivial tasks (nothing to do but
/// claim and complete) drained by 1, 2 and 3 nodes on one PostgreSQL — each node its own
/// `PostgresClient` and its own claim → complete loop, claiming a batch of the daemon's default
/// `pool_size` (64) under a lease, exactly the statements of `ClusterTaskQueue` — against one node
/// doing the same claim/complete cycle on a table in a real SQLite file through GRDB (WAL,
/// `synchronous = NORMAL`, as the run ledger). Claim latency is one claim statement's round trip.
///
/// The PostgreSQL is a throwaway server this benchmark starts (`initdb` in a temporary directory,
/// loopback, a free port, `synchronous_commit = off`: like SQLite's `synchronous = NORMAL`, a
/// crash may lose the last commits but corrupts nothing) and stops. Without PostgreSQL's server
/// binaries the item is skipped with a note.
enum ClusterBench {
    static let batch = 64
    static let lease: Int64 = 60_000

    static func run(quick: Bool, table: ResultTable) async throws {
        let count = quick ? 5_000 : 50_000
        guard let bin = BenchPostgres.binDirectory() else {
            table.notes.append("cluster: skipped, PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
            return
        }
        let scratch = try ScratchDirectory("cluster")
        defer { scratch.remove() }

        // SQLite first (one node), then PostgreSQL with 1, 2, 3 nodes.
        let sqlite = try sqliteCycle(count: count, path: scratch.file("tasks.sqlite"))
        table.add(ResultRow(benchmark: "cluster", metric: "SQLite, 1 node: tasks/s (claim \(batch) + complete)",
                            value: formatCount(sqlite.rate), goal: "reference"))
        table.add(ResultRow(benchmark: "cluster", metric: "SQLite, 1 node: claim latency p50 / p99",
                            value: "\(ms(sqlite.p50)) / \(ms(sqlite.p99)) ms"))

        let server = try BenchPostgres(bin: bin, scratch: scratch)
        defer { server.stop() }
        var results: [Int: Cycle] = [:]
        for nodes in 1...3 {
            let cycle = try await postgresCycle(count: count, nodes: nodes, server: server)
            results[nodes] = cycle
            table.add(ResultRow(benchmark: "cluster", metric: "PostgreSQL, \(nodes) node\(nodes == 1 ? "" : "s"): tasks/s",
                                value: formatCount(cycle.rate), reference: "SQLite 1 node \(formatCount(sqlite.rate))",
                                ratio: ratioText(cycle.rate, sqlite.rate),
                                goal: nodes == 1 ? "" : "more nodes, more tasks/s",
                                verdict: nodes == 1 ? "" : (cycle.rate > (results[1]?.rate ?? 0) ? "yes" : "no: one machine's 2 cores")))
            table.add(ResultRow(benchmark: "cluster", metric: "PostgreSQL, \(nodes) node\(nodes == 1 ? "" : "s"): claim latency p50 / p99",
                                value: "\(ms(cycle.p50)) / \(ms(cycle.p99)) ms",
                                reference: "SQLite \(ms(sqlite.p50)) / \(ms(sqlite.p99)) ms"))
            if cycle.duplicates > 0 || cycle.completed != count {
                throw BenchError.setup("\(nodes) nodes: \(cycle.completed) of \(count) tasks completed, \(cycle.duplicates) claimed twice")
            }
        }
        table.notes.append("""
            cluster: \(formatCount(Double(count))) trivial tasks, batches of \(batch); River's published figure for trivial jobs is \
            about 46,000 jobs/s on an 8-core machine; every node here shares this machine's \(ProcessInfo.processInfo.activeProcessorCount) \
            cores with PostgreSQL itself
            """)
    }

    struct Cycle {
        var rate: Double
        var p50: Int64
        var p99: Int64
        var completed: Int
        var duplicates: Int
    }

    static func ms(_ nanoseconds: Int64) -> String { format(Double(nanoseconds) / 1e6, digits: 2) }

    static func payloads(_ count: Int) -> [(key: String, payload: String)] {
        (0..<count).map { (key: "listing-\(String(format: "%07d", $0))", payload: "{}") }
    }

    // MARK: - PostgreSQL

    static func postgresCycle(count: Int, nodes: Int, server: BenchPostgres) async throws -> Cycle {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let database = "bench\(nodes)"
        try server.psql("CREATE DATABASE \(database)")
        let clients = (0..<nodes).map { _ in
            PostgresClient(configuration: server.configuration(database: database), backgroundLogger: logger)
        }
        return try await withThrowingTaskGroup(of: Cycle?.self) { group in
            for client in clients { group.addTask { await client.run(); return nil } }
            defer { group.cancelAll() }
            try await ClusterDatabase.migrate(clients[0], logger: logger)
            let setup = ClusterTaskQueue(client: clients[0], logger: logger)
            let all = payloads(count)
            for start in stride(from: 0, to: count, by: 10_000) {
                try await setup.enqueue(run: "bench", tasks: Array(all[start..<min(count, start + 10_000)]))
            }
            try server.psql("VACUUM ANALYZE flipsync_cluster_tasks", database: database)
            log("  PostgreSQL, \(nodes) node(s): \(count) tasks enqueued")
            let began = nowNanoseconds()
            let perNode = try await withThrowingTaskGroup(of: ([Int64], [Int64]).self) { workers in
                for (i, client) in clients.enumerated() {
                    workers.addTask {
                        let node = "node-\(i + 1)"
                        let queue = ClusterTaskQueue(client: client, logger: logger)
                        var latencies: [Int64] = [], ids: [Int64] = []
                        while true {
                            let before = nowNanoseconds()
                            let claimed = try await queue.claim(node: node, limit: batch, leaseMilliseconds: lease)
                            latencies.append(Int64(nowNanoseconds() - before))
                            if claimed.isEmpty { break }
                            let accepted = try await queue.complete(claimed, node: node)
                            guard accepted.count == claimed.count else {
                                throw BenchError.setup("\(node): \(claimed.count - accepted.count) completions refused")
                            }
                            ids += claimed.map(\.id)
                        }
                        return (latencies, ids)
                    }
                }
                var out: [([Int64], [Int64])] = []
                for try await result in workers { out.append(result) }
                return out
            }
            let seconds = Double(nowNanoseconds() - began) / 1e9
            let latencies = perNode.flatMap(\.0).sorted(), ids = perNode.flatMap(\.1)
            log("  PostgreSQL, \(nodes) node(s): per node \(perNode.map(\.1.count)) tasks")
            return Cycle(rate: Double(ids.count) / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99),
                         completed: ids.count, duplicates: ids.count - Set(ids).count)
        }!
    }

    // MARK: - SQLite

    /// The same table and the same claim/complete statements, on one node, in a real SQLite file.
    static func sqliteCycle(count: Int, path: String) throws -> Cycle {
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: path, configuration: config)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE tasks (
                    id INTEGER PRIMARY KEY,
                    run_id TEXT NOT NULL,
                    task_key TEXT NOT NULL,
                    payload TEXT NOT NULL DEFAULT '',
                    state TEXT NOT NULL DEFAULT 'pending',
                    lease_holder TEXT,
                    lease_expires_at_ms INTEGER,
                    token INTEGER NOT NULL DEFAULT 0,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    started_at_ms INTEGER,
                    enqueued_at_ms INTEGER NOT NULL,
                    finished_at_ms INTEGER,
                    error TEXT,
                    UNIQUE (run_id, task_key));
                CREATE INDEX tasks_open ON tasks (id) WHERE state IN ('pending', 'claimed');
                """)
            let insert = try db.makeStatement(sql: "INSERT INTO tasks (run_id, task_key, payload, enqueued_at_ms) VALUES ('bench', ?, ?, ?)")
            let now = wallMilliseconds()
            for task in payloads(count) { try insert.execute(arguments: [task.key, task.payload, now]) }
        }
        let node = "node-1"
        var latencies: [Int64] = [], ids: [Int64] = []
        let began = nowNanoseconds()
        while true {
            let before = nowNanoseconds()
            let claimed: [(Int64, Int64)] = try pool.write { db in
                let now = wallMilliseconds()
                let rows = try Row.fetchAll(db, sql: """
                    UPDATE tasks SET state = 'claimed', lease_holder = ?, lease_expires_at_ms = ?, token = token + 1,
                        attempts = attempts + 1, started_at_ms = NULL
                    WHERE id IN (SELECT id FROM tasks
                                 -- the first term lets SQLite's planner use the partial index
                                 WHERE state IN ('pending', 'claimed')
                                   AND (state = 'pending' OR (state = 'claimed' AND lease_expires_at_ms <= ?))
                                 ORDER BY id LIMIT ?)
                    RETURNING id, token
                    """, arguments: [node, now + lease, now, batch])
                return rows.map { ($0[0], $0[1]) }
            }
            latencies.append(Int64(nowNanoseconds() - before))
            if claimed.isEmpty { break }
            let accepted: Int = try pool.write { db in
                let now = wallMilliseconds()
                let complete = try db.cachedStatement(sql: """
                    UPDATE tasks SET state = 'done', finished_at_ms = ?, lease_expires_at_ms = NULL
                    WHERE id = ? AND token = ? AND state = 'claimed' AND lease_holder = ?
                    """)
                var n = 0
                for (id, token) in claimed {
                    try complete.execute(arguments: [now, id, token, node])
                    n += db.changesCount
                }
                return n
            }
            guard accepted == claimed.count else { throw BenchError.setup("SQLite: \(claimed.count - accepted) completions refused") }
            ids += claimed.map(\.0)
        }
        let seconds = Double(nowNanoseconds() - began) / 1e9
        latencies.sort()
        return Cycle(rate: Double(ids.count) / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99),
                     completed: ids.count, duplicates: ids.count - Set(ids).count)
    }
}

/// A throwaway PostgreSQL for the benchmark: `initdb` under the scratch directory (as `nobody`
/// when run as root, since `initdb` refuses root), loopback only, a free port, trust auth on
/// loopback (nothing else can reach it), stopped by `stop()`.
final class BenchPostgres {
    let bin: String
    let directory: String
    let port: Int
    private let asNobody: Bool
    /// Whether `pg_stat_statements` counts the statements (its library is installed: Debian's
    /// `postgresql` package has it), so a benchmark can say how many statements a task costs.
    let countsStatements: Bool

    static func binDirectory() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        return versions.reversed().map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    init(bin: String, scratch: ScratchDirectory) throws {
        self.bin = bin
        directory = scratch.file("pg")
        asNobody = geteuid() == 0
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if asNobody { try Self.sh("chown -R nobody \(scratch.path)", asNobody: false) }
        try Self.sh("\(bin)/initdb -D \(directory)/data -U bench --auth=trust -E UTF8 --no-sync", asNobody: asNobody)
        port = Int.random(in: 20_000...40_000)
        countsStatements = FileManager.default.fileExists(atPath: bin + "/../lib/pg_stat_statements.so")
        let counting = countsStatements ? " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top" : ""
        try Self.sh("""
            \(bin)/pg_ctl -D \(directory)/data -l \(directory)/server.log -w -t 30 \
            -o '-c listen_addresses=127.0.0.1 -p \(port) -k \(directory) -c synchronous_commit=off -c max_connections=50\(counting)' start
            """, asNobody: asNobody)
        // In template1, so every database created after has the view.
        if countsStatements { try psql("CREATE EXTENSION pg_stat_statements", database: "template1") }
        log("  PostgreSQL \(bin) on 127.0.0.1:\(port)")
    }

    func configuration(database: String) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: "127.0.0.1", port: port, username: "bench", password: nil,
                                                         database: database, tls: .disable)
        configuration.options.maximumConnections = 4
        return configuration
    }

    /// Statements run in `database` so far (every statement, BEGIN and COMMIT included), or nil
    /// when they are not counted.
    func statementsRun(database: String) async throws -> Int64? {
        guard countsStatements else { return nil }
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let client = PostgresClient(configuration: configuration(database: database), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Int64?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            for try await count in try await client.query("""
                SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_statements
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, logger: logger).decode(Int64.self) { return count }
            return nil
        }
    }

    func psql(_ sql: String, database: String = "postgres") throws {
        try Self.sh("\(bin)/psql -X -q -h \(directory) -p \(port) -U bench -d \(database) -c \"\(sql)\"", asNobody: asNobody)
    }

    func stop() {
        try? Self.sh("\(bin)/pg_ctl -D \(directory)/data -m fast -w -t 20 stop", asNobody: asNobody)
    }

    /// Runs a shell command to its end; posix_spawn and waitpid, not Foundation's Process, whose
    /// waitUntilExit can hang on Linux when the command leaves a daemon behind (`pg_ctl start`).
    static func sh(_ command: String, asNobody: Bool) throws {
        let argv = asNobody ? ["/usr/sbin/runuser", "-u", "nobody", "--", "/bin/sh", "-c", command + " >/dev/null 2>&1"]
                            : ["/bin/sh", "-c", command + " >/dev/null 2>&1"]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard spawned == 0 else { throw BenchError.setup("posix_spawn failed (\(spawned)): \(command)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0, code = (status >> 8) & 0xff
        guard exited && code == 0 else { throw BenchError.setup("exited \(exited ? code : -(status & 0x7f)): \(command)") }
    }
}
