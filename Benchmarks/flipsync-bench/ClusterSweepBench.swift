import FlipSyncCluster
import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncRuntime
import FlipSyncSandbox
import FlipSyncTestKit
import Foundation
import Logging
import PostgresNIO

/// Issue 16's benchmark item on the sweep's own workload: one repricing sweep (eBay, costs from
/// Shopify, `dry_run` so every configuration sees the same sandbox) of N listings — one decide
/// task per listing — run by flipsyncd's own pieces (`Runtime`, `RunCoordinator`, and on
/// PostgreSQL `ClusterTaskDispatcher` and one `ClusterTaskWorker` per node), against one
/// in-process loopback sandbox. Configurations, each on a fresh database: SQLite on one node;
/// PostgreSQL on one node without the queue; PostgreSQL with the queue and 1, 2, 3 nodes (each
/// node its own runtime, HTTP client, database client and worker; all in this process, on this
/// machine's cores). Claim latency is a decide task's wait on the queue: from its enqueueing to
/// its claim by a node (the queue's `enqueued_at_ms` and `started_at_ms`, set by the claim).
enum ClusterSweepBench {
    static let concurrency = 16
    static let poolSize = 16

    static func run(quick: Bool, table: ResultTable) async throws {
        let listings = quick ? 300 : 2_000
        guard let bin = BenchPostgres.binDirectory() else {
            table.notes.append("cluster-sweep: skipped, PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
            return
        }
        let scratch = try ScratchDirectory("cluster-sweep")
        defer { scratch.remove() }
        let server = try BenchPostgres(bin: bin, scratch: scratch)
        defer { server.stop() }
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 16, listings: listings), logger: quiet)
        do {
            let label = "\(formatCount(Double(listings))) listings"
            let sqlite = try await sweep(store: .sqlite, nodes: 1, listings: listings, scratch: scratch, server: server, sandbox: sandbox)
            let pgLocal = try await sweep(store: .postgres(queue: false), nodes: 1, listings: listings, scratch: scratch,
                                          server: server, sandbox: sandbox)
            var results: [(nodes: Int, outcome: Outcome)] = []
            for nodes in 1...3 {
                results.append((nodes, try await sweep(store: .postgres(queue: true), nodes: nodes, listings: listings,
                                                      scratch: scratch, server: server, sandbox: sandbox)))
            }
            func rate(_ o: Outcome) -> Double { Double(o.decideTasks) / max(o.decideSeconds, 0.001) }
            table.add(ResultRow(benchmark: "cluster-sweep", metric: "sweep of \(label), SQLite, 1 node: decide tasks/s (run)",
                                value: "\(formatCount(rate(sqlite))) (\(format(sqlite.runSeconds, digits: 1)) s)", goal: "reference"))
            table.add(ResultRow(benchmark: "cluster-sweep", metric: "sweep of \(label), PostgreSQL, 1 node, no queue: decide tasks/s (run)",
                                value: "\(formatCount(rate(pgLocal))) (\(format(pgLocal.runSeconds, digits: 1)) s)",
                                reference: "SQLite \(formatCount(rate(sqlite)))", ratio: ratioText(rate(pgLocal), rate(sqlite))))
            table.add(ResultRow(benchmark: "cluster-sweep", metric: "… no queue: PostgreSQL statements per listing",
                                value: pgLocal.perListing(listings)))
            for (nodes, outcome) in results {
                table.add(ResultRow(benchmark: "cluster-sweep",
                                    metric: "sweep of \(label), PostgreSQL + queue, \(nodes) node\(nodes == 1 ? "" : "s"): decide tasks/s (run)",
                                    value: "\(formatCount(rate(outcome))) (\(format(outcome.runSeconds, digits: 1)) s)",
                                    reference: "SQLite \(formatCount(rate(sqlite)))", ratio: ratioText(rate(outcome), rate(sqlite)),
                                    goal: nodes == 1 ? "" : "more nodes, more tasks/s",
                                    verdict: nodes == 1 ? "" : (rate(outcome) > rate(results[0].outcome) ? "yes" : "no: one machine's cores")))
                table.add(ResultRow(benchmark: "cluster-sweep",
                                    metric: "… \(nodes) node\(nodes == 1 ? "" : "s"): claim latency p50 / p99; tasks per node; statements per listing",
                                    value: "\(outcome.claimP50) / \(outcome.claimP99) ms; \(outcome.perNode.map(String.init).joined(separator: " / ")); "
                                        + outcome.perListing(listings)))
            }
            table.notes.append("""
                cluster-sweep: one eBay sweep (dry run) of \(label), one decide task per listing, concurrency \(concurrency), \
                pool_size \(poolSize) per node; every node, the sandbox and PostgreSQL share this machine's \
                \(ProcessInfo.processInfo.activeProcessorCount) cores
                """)
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    enum Store {
        case sqlite
        case postgres(queue: Bool)
    }

    struct Outcome {
        var runSeconds: Double
        var decideTasks: Int
        var decideSeconds: Double
        var claimP50: Int64 = 0
        var claimP99: Int64 = 0
        var perNode: [Int] = []
        /// Statements PostgreSQL ran in the configuration's database, the whole sweep (nil: not counted).
        var statements: Int64? = nil

        /// Statements per listing, as the table shows them.
        func perListing(_ listings: Int) -> String {
            statements.map { format(Double($0) / Double(max(listings, 1)), digits: 1) } ?? "not counted"
        }
    }

    /// One sweep in one configuration, on a fresh database.
    static func sweep(store: Store, nodes: Int, listings: Int, scratch: ScratchDirectory, server: BenchPostgres,
                      sandbox: SandboxServer) async throws -> Outcome {
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let tag: String
        let database: String
        switch store {
        case .sqlite:
            tag = "sqlite"
            database = scratch.file("sweep-sqlite.sqlite")
        case .postgres(let queue):
            tag = "pg\(queue ? "q" : "")\(nodes)"
            try server.psql("CREATE DATABASE sweep_\(tag)")
            database = "postgres://bench@127.0.0.1:\(server.port)/sweep_\(tag)?sslmode=disable"
        }
        var queueOn = false
        if case .postgres(true) = store { queueOn = true }
        let clock = SystemSchedulerClock()
        var runtimes: [Runtime] = [], jobs: [JobDefinition] = []
        for index in 1...nodes {
            let directory = scratch.file("\(tag)-node\(index)")
            try FileManager.default.createDirectory(atPath: directory + "/jobs", withIntermediateDirectories: true)
            try scratch.write("\(tag)-node\(index)/flipsync.toml", """
                [daemon]
                database = "\(database)"
                node_name = "node-\(index)"
                jobs_directory = "\(directory)/jobs"
                pool_size = \(poolSize)
                timezone = "UTC"
                currency = "USD"

                \(SandboxConfigText.marketplaces(baseURL: sandbox.baseURL, rates: [.ebay: .init("100000/s", burst: 100000), .shopify: .generous]))
                """)
            try scratch.write("\(tag)-node\(index)/jobs/sweep.toml", """
                name = "sweep"
                kind = "repricing-sweep"
                schedule = "daily"
                timeout = "2h"
                concurrency = \(concurrency)

                [params]
                marketplaces = ["ebay"]
                cost_source = "shopify"
                shipping_cost = "4.50 USD"
                strategy = "beat-lowest"
                undercut = "1%"
                min_margin = "15%"
                max_change = "10%"
                rounding = ".99"
                dry_run = true
                """)
            let loaded = try Fixtures.load(configPath: directory + "/flipsync.toml")
            guard let job = loaded.catalog["sweep"] else { throw BenchError.setup("the sweep job did not load") }
            var values = sandbox.developmentCredentials(for: loaded.config)
            values[ClusterEndpoint.passwordCredential] = ""
            let secrets = values
            runtimes.append(try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: quiet,
                                             secret: { name in
                                                 guard let value = secrets[name] else { throw BenchError.setup("no credential \(name)") }
                                                 return SecretText(value)
                                             }, node: "node-\(index)"))
            jobs.append(job)
        }
        defer { for runtime in runtimes { Task { await runtime.shutdown() } } }
        let pools = runtimes.map { _ in PermitPool(permits: poolSize) }

        guard queueOn else {
            log("  cluster-sweep \(tag): sweeping \(listings) listings")
            let began = nowNanoseconds()
            let (run, status) = try await runtimes[0].runOnce(job: jobs[0], requestedBy: nil, pool: pools[0], clock: clock, logger: quiet)
            let seconds = Double(nowNanoseconds() - began) / 1e9
            guard status == .succeeded else { throw BenchError.setup("\(tag): the sweep ended \(status.rawValue): \(run.error ?? "")") }
            let (count, span) = try decideSpan(runtimes[0], run.id)
            var outcome = Outcome(runSeconds: seconds, decideTasks: count, decideSeconds: span)
            if case .postgres = store { outcome.statements = try await server.statementsRun(database: "sweep_\(tag)") }
            return outcome
        }

        // The queue: a client per node, migrated once, a worker per node.
        let clients = (0..<nodes).map { _ in
            PostgresClient(configuration: server.configuration(database: "sweep_\(tag)"), backgroundLogger: quiet)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.run() } }
            defer { group.cancelAll() }
            try await ClusterDatabase.migrate(clients[0], logger: quiet)
            let queues = clients.map { ClusterTaskQueue(client: $0, logger: quiet) }
            var timing = ClusterTaskWorker.Timing()
            timing.pollMilliseconds = 100
            var workers: [ClusterTaskWorker] = []
            let signals = ClusterTaskSignals()  // node 1's dispatcher and worker
            for index in 0..<nodes {
                let here = runtimes[index].coordinator(pool: pools[index], clock: clock, logger: quiet)
                let job = jobs[index], pool = pools[index]
                let worker = ClusterTaskWorker(queue: queues[index], node: "node-\(index + 1)",
                                               pool: pool,
                                               perform: { task in try await here.performDispatched(task, job: job) },
                                               clock: clock, logger: quiet, timing: timing,
                                               signals: index == 0 ? signals : ClusterTaskSignals())
                workers.append(worker)
                group.addTask { try await worker.run() }
            }
            let dispatcher = ClusterTaskDispatcher(queue: queues[0], node: "node-1", clock: clock, logger: quiet, pollMilliseconds: 50,
                                                   signals: signals)
            log("  cluster-sweep \(tag): sweeping \(listings) listings with \(nodes) node(s) claiming")
            let began = nowNanoseconds()
            let (run, status) = try await runtimes[0].runOnce(job: jobs[0], requestedBy: nil, pool: pools[0], clock: clock, logger: quiet,
                                                              dispatch: dispatcher)
            let seconds = Double(nowNanoseconds() - began) / 1e9
            guard status == .succeeded else { throw BenchError.setup("\(tag): the sweep ended \(status.rawValue): \(run.error ?? "")") }
            let (count, span) = try decideSpan(runtimes[0], run.id)
            // The sweep's other distributed tasks (its listings read) go through the queue too;
            // the figures are the decide wave's.
            let rows = try await queues[0].tasks(run: String(run.id)).filter { $0.key.hasPrefix("decide:") }
            let latencies = try await claimLatencies(clients[0], run: String(run.id)).sorted()
            let perNode = (1...nodes).map { node in rows.filter { $0.holder == "node-\(node)" }.count }
            guard rows.count == count, rows.allSatisfy({ $0.state == .done && $0.attempts == 1 }) else {
                throw BenchError.setup("\(tag): \(rows.count) queue rows for \(count) decide tasks, or one claimed twice")
            }
            log("  cluster-sweep \(tag): \(format(seconds, digits: 1)) s, per node \(perNode)")
            return Outcome(runSeconds: seconds, decideTasks: count, decideSeconds: span,
                           claimP50: percentile(latencies, 0.5), claimP99: percentile(latencies, 0.99), perNode: perNode,
                           statements: try await server.statementsRun(database: "sweep_\(tag)"))
        }
    }

    /// The decide tasks and their wave's span (first start to last end), in seconds.
    static func decideSpan(_ runtime: Runtime, _ runID: Int64) throws -> (Int, Double) {
        let decide = try runtime.ledger.runs.tasks(runID: runID).filter { $0.agent == "decide" }
        guard decide.allSatisfy({ $0.status == .succeeded }), let first = decide.compactMap(\.startedAt).min(),
              let last = decide.compactMap(\.finishedAt).max() else {
            throw BenchError.setup("the decide tasks did not all succeed")
        }
        return (decide.count, Double(last - first) / 1000)
    }

    /// Each queued task's wait, enqueued to started, in milliseconds.
    static func claimLatencies(_ client: PostgresClient, run: String) async throws -> [Int64] {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let rows = try await client.query("""
            SELECT started_at_ms - enqueued_at_ms FROM flipsync_cluster_tasks
            WHERE run_id = \(run) AND started_at_ms IS NOT NULL AND task_key LIKE 'decide:%'
            """, logger: logger)
        var out: [Int64] = []
        for try await wait in rows.decode(Int64.self) { out.append(wait) }
        return out
    }
}
