import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncPostgres
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PostgresNIO
import Testing
@testable import FlipSyncRuntime

/// A fresh directory for a config, its jobs and (for SQLite) its ledger.
struct Workspace {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "flipsync-pgruntime-XXXXXX").utf8CString)
        path = String(cString: mkdtemp(&template)!)
        try? FileManager.default.createDirectory(atPath: path + "/jobs", withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        return file
    }

    func load() -> DaemonSetup.Loaded {
        DaemonSetup(configPath: path + "/flipsync.toml", environment: .init(workingDirectory: path)).load(now: SystemClock.now())
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("[daemon] database: a path is SQLite, postgres:// is PostgreSQL (no password in the URL)", .timeLimit(.minutes(2)))
struct LedgerDatabaseConfigTests {
    @Test("postgres:// and postgresql:// URLs are PostgreSQL ledgers (databasePath is the URL, for logs); a path stays SQLite")
    func postgresAccepted() throws {
        let space = Workspace()
        defer { space.remove() }
        space.write("flipsync.toml", """
            [daemon]
            database = "postgres://flipsync@db.internal:6543/ledger?sslmode=require"
            node_name = "node-1"
            """)
        let loaded = space.load()
        #expect(loaded.errors.isEmpty, "\(loaded.errors)")
        let endpoint = try #require(loaded.config.databaseEndpoint)
        #expect(endpoint == ClusterEndpoint(user: "flipsync", host: "db.internal", port: 6543, database: "ledger", tls: .require))
        #expect(loaded.config.databasePath == "postgres://flipsync@db.internal:6543/ledger?sslmode=require")

        space.write("flipsync.toml", "[daemon]\ndatabase = \"postgresql://u@127.0.0.1/db\"\n")
        #expect(space.load().config.databaseEndpoint == ClusterEndpoint(user: "u", host: "127.0.0.1", database: "db"))

        space.write("flipsync.toml", "[daemon]\ndatabase = \"var/ledger.sqlite\"\n")
        let sqlite = space.load()
        #expect(sqlite.config.databaseEndpoint == nil)
        #expect(sqlite.config.databasePath == space.path + "/var/ledger.sqlite")
    }

    @Test("a password in the URL is refused at the key's file:line:, without repeating the password; so is a bad URL")
    func passwordRefused() throws {
        let space = Workspace()
        defer { space.remove() }
        let file = space.write("flipsync.toml", """
            [daemon]
            log_level = "info"
            database = "postgres://flipsync:hunter2secret@db.internal:5432/ledger"
            """)
        let loaded = space.load()
        #expect(!loaded.configIsValid)
        let error = try #require(loaded.errors.first)
        #expect(loaded.errors.count == 1)
        #expect(error.file == file && error.line == 3)
        let text = "\(error)"
        #expect(text.hasPrefix("\(file):3: "))
        #expect(text.contains("\"daemon.database\" must not hold a password"))
        #expect(text.contains("postgres-password"))
        #expect(!text.contains("hunter2secret"))

        space.write("flipsync.toml", "[daemon]\ndatabase = \"postgres://flipsync@db.internal:99999/ledger\"\n")
        let bad = space.load()
        #expect(bad.errors.map(\.line) == [2])
        #expect(bad.errors.first?.message.contains("\"daemon.database\" has a bad port") == true)
    }

    @Test("a PostgreSQL ledger whose credential postgres-password cannot be read: Runtime.open fails naming the credential and the database")
    func missingCredential() throws {
        let space = Workspace()
        defer { space.remove() }
        try FileManager.default.createDirectory(atPath: space.path + "/credentials", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        space.write("flipsync.toml", """
            [daemon]
            database = "postgres://flipsync@127.0.0.1:1/ledger?sslmode=disable"
            credentials_directory = "credentials"
            """)
        let loaded = space.load()
        #expect(loaded.errors.isEmpty, "\(loaded.errors)")
        let error = #expect(throws: LedgerError.self) {
            try Runtime.open(config: loaded.config, jobs: [], clock: SystemSchedulerClock(), logger: quietLogger)
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("cannot read the password of postgres://flipsync@127.0.0.1:1/ledger?sslmode=disable"))
        #expect(text.contains("the credential \"postgres-password\""))
        // Nothing was created on disk for it: no SQLite file in its place.
        #expect(!FileManager.default.fileExists(atPath: space.path + "/var"))
    }
}

@Suite("PostgresRuntimeTests: flipsyncd's runtime on a PostgreSQL run ledger, against the loopback sandbox", .postgresInstalled, .postgres,
       .serialized, .timeLimit(.minutes(5)))
struct PostgresRuntimeTests {
    /// A config on the PostgreSQL `endpoint` with the sandbox's channels in `marketplaces`.
    static func config(endpoint: ClusterEndpoint, baseURL: String, marketplaces: [MarketplaceName], node: String) -> String {
        """
        [daemon]
        database = "\(endpoint)"
        node_name = "\(node)"
        jobs_directory = "jobs"
        control_socket = "control.sock"

        [prices.amazon]
        call = "0.0013 USD"

        [prices.shopify]
        call = "0.0007 USD"

        \(SandboxConfigText.marketplaces(baseURL: baseURL, rates: Dictionary(uniqueKeysWithValues: marketplaces.map { ($0, .generous) })))
        """
    }

    /// The sandbox's development credentials and the PostgreSQL password, by credential name.
    static func secrets(_ sandbox: SandboxServer, _ config: FlipSyncConfig, password: String) -> ChannelFactory.SecretLookup {
        var values = sandbox.developmentCredentials(for: config)
        values[ClusterEndpoint.passwordCredential] = password
        let all = values
        return { name in
            guard let value = all[name] else { throw LedgerError.notFound("credential \(name)") }
            return SecretText(value)
        }
    }

    @Test("Runtime.open on postgres:// then runOnce of marketplace-sync (Amazon and Shopify) against the sandbox: the run, its tasks and the sync ledger's rows are in PostgreSQL, recorded as this node's; no SQLite file, no SQLite-only pieces")
    func marketplaceSyncOnPostgres() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let space = Workspace()
        defer { space.remove() }
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 16, listings: 20), logger: quietLogger)
        do {
            space.write("flipsync.toml", Self.config(endpoint: endpoint, baseURL: sandbox.baseURL, marketplaces: [.amazon, .shopify],
                                                     node: "node-a"))
            space.write("jobs/sync.toml", """
                name = "sync"
                kind = "marketplace-sync"
                schedule = "hourly"
                timeout = "3m"
                concurrency = 8

                [params]
                marketplaces = ["amazon", "shopify"]
                push_price = false
                safety_stock = 1
                """)
            let loaded = space.load()
            #expect(loaded.errors.isEmpty, "\(loaded.errors)")
            let job = try #require(loaded.catalog["sync"])
            let clock = SystemSchedulerClock()
            let metrics = DaemonMetrics()
            let runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: quietLogger,
                                           secret: Self.secrets(sandbox, loaded.config, password: server.password), metrics: metrics.ledger)
            #expect(runtime.sqlite == nil)
            #expect(runtime.ledger.location == .postgres(endpoint))
            #expect(Set(runtime.services.marketplaces.keys) == [.amazon, .shopify])

            let (run, status) = try await runtime.runOnce(job: job, requestedBy: 1000, pool: PermitPool(permits: 8), clock: clock,
                                                          logger: quietLogger)
            let tasks = try runtime.ledger.runs.tasks(runID: run.id)
            await runtime.shutdown()
            #expect(status == .succeeded, "\(run.error ?? "")")
            #expect(!tasks.isEmpty && tasks.allSatisfy { $0.status == .succeeded })

            // Read back through a ledger of its own: everything is in PostgreSQL.
            let reader = try PostgresLedger(endpoint: endpoint, password: server.password)
            defer { reader.close() }
            let row = try #require(try reader.run(id: run.id))
            #expect(row.job == "sync" && row.trigger == .manual && row.requestedBy == 1000 && row.status == .succeeded)
            #expect(try reader.node(ofRun: run.id) == "node-a")
            #expect(try reader.tasks(runID: run.id).map(\.key) == tasks.map(\.key))
            let sync = PostgresSyncLedger(ledger: reader)
            let onHand = try sync.onHand()
            #expect(!onHand.isEmpty)
            #expect(try !sync.pushes(runID: run.id).isEmpty)
            let calls = try reader.session.query("SELECT COUNT(*)::BIGINT AS n FROM spend WHERE run_id = $1", [.integer(run.id)])
            let callCount = try calls[0].makeRandomAccess()["n"].decode(Int64.self)
            #expect(callCount > 0)
            // The ledger's facts as metrics, as on SQLite: the run started and ended once, each call counted.
            let scrape = metrics.scrape(pool: nil, quota: nil)
            func sum(_ name: String, _ label: String = "") -> Double {
                scrape.split(separator: "\n").filter { line in
                    (line.hasPrefix(name + "{") || line.hasPrefix(name + " ")) && (label.isEmpty || line.contains(label))
                }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
            }
            #expect(sum(LedgerMetrics.Name.runsStarted, "job=\"sync\"") == 1)
            #expect(sum(LedgerMetrics.Name.runs, "status=\"succeeded\"") == 1 && sum(LedgerMetrics.Name.runs) == 1, "\(scrape)")
            #expect(sum(LedgerMetrics.Name.apiCalls) == Double(callCount), "\(scrape)")
            // No SQLite ledger was made anywhere in the workspace.
            let files = FileManager.default.enumerator(atPath: space.path)?.allObjects as? [String] ?? []
            #expect(!files.contains { $0.hasSuffix(".sqlite") })
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    @Test("two nodes on one PostgreSQL ledger: a starting node interrupts and resumes only its own runs; the other node's running run, its running task and its earlier interruption are left alone until that node starts")
    func nodeOwnedInterruption() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let a = try PostgresLedger(endpoint: endpoint, password: server.password, node: "node-a")
        let b = try PostgresLedger(endpoint: endpoint, password: server.password, node: "node-b")
        defer { a.close(); b.close() }
        let now: Int64 = 1_780_000_000_000
        func record(_ ledger: PostgresLedger, _ job: String, at: Int64) throws -> RunInfo {
            try #require(try ledger.recordFire(job: job, kind: "marketplace-sync", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                               status: .queued, skipReason: nil, summary: nil, at: at, resumes: nil))
        }
        // node-b: one run interrupted an hour ago (no run resumes it), one running now with a running task.
        let bEarlier = try record(b, "b-earlier", at: now - 3_600_000)
        try b.markRunning(runID: bEarlier.id, at: now - 3_500_000)
        _ = try b.interruptLeftovers(at: now - 3_000_000, reason: "node-b stopped")
        let bRunning = try record(b, "b-running", at: now - 60_000)
        try b.markRunning(runID: bRunning.id, at: now - 50_000)
        try b.saveTask(TaskInfo(runID: bRunning.id, key: "push:amazon", agent: "push", status: .running, attempts: 1,
                                startedAt: now - 40_000, finishedAt: nil, result: nil, error: nil))
        // node-a: one running, one queued, both left by its previous process.
        let aRunning = try record(a, "a-running", at: now - 30_000)
        try a.markRunning(runID: aRunning.id, at: now - 20_000)
        let aQueued = try record(a, "a-queued", at: now - 10_000)
        #expect(try a.node(ofRun: aRunning.id) == "node-a" && a.node(ofRun: bRunning.id) == "node-b")

        // node-a starts.
        let (aLeftovers, aResume) = try Runtime.interruptedRuns(in: a, at: now)
        #expect(aLeftovers.map(\.id) == [aRunning.id, aQueued.id])
        #expect(aLeftovers.allSatisfy { $0.status == .interrupted })
        #expect(aResume.map(\.id) == [aRunning.id, aQueued.id])
        // node-b's runs are as they were.
        #expect(try a.run(id: bRunning.id)?.status == .running)
        #expect(try a.tasks(runID: bRunning.id).map(\.status) == [.running])
        #expect(try a.run(id: bEarlier.id)?.status == .interrupted)

        // node-b starts: its own leftovers, then its earlier interruption; none of node-a's.
        let (bLeftovers, bResume) = try Runtime.interruptedRuns(in: b, at: now)
        #expect(bLeftovers.map(\.id) == [bRunning.id])
        #expect(try b.tasks(runID: bRunning.id).map(\.status) == [.pending])
        #expect(bResume.map(\.id) == [bRunning.id, bEarlier.id])

        // A resume recorded by node-a is node-a's and takes its run out of node-a's list.
        let resumed = try #require(try a.recordFire(job: "a-running", kind: "marketplace-sync", trigger: .manual, requestedBy: nil,
                                                    scheduledAt: nil, status: .queued, skipReason: nil, summary: nil, at: now + 1,
                                                    resumes: aRunning.id))
        #expect(try a.node(ofRun: resumed.id) == "node-a")
        try a.finishRun(runID: resumed.id, status: .succeeded, summary: nil, error: nil, spendMicros: 0, at: now + 2)
        #expect(try a.unresumedInterruptions(createdSince: now - 86_400_000).map(\.id) == [aQueued.id])
        #expect(try b.unresumedInterruptions(createdSince: now - 86_400_000).map(\.id) == [bEarlier.id, bRunning.id])
    }

    @Test("flipsyncctl on a postgres:// ledger (from the config, or --database): runs and show read it, quota and readiness too; report writes a sweep's and a period's HTML and spend --llm-savings counts the model calls and cache hits; run --local records its run there as this host's, and is refused with [daemon] cluster unless --outside-cluster")
    func flipsyncctlReadCommands() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let ledger = try PostgresLedger(endpoint: endpoint, password: server.password, node: "node-a")
        defer { ledger.close() }
        let run = try #require(try ledger.recordFire(job: "sync", kind: "marketplace-sync", trigger: .manual, requestedBy: 7,
                                                     scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                     at: 1_780_000_000_000, resumes: nil))
        try ledger.markRunning(runID: run.id, at: 1_780_000_001_000)
        try ledger.saveTasks([TaskInfo(runID: run.id, key: "pull:amazon", agent: "pull", status: .succeeded, attempts: 1,
                                       startedAt: 1_780_000_001_000, finishedAt: 1_780_000_002_000, result: "{}", error: nil)])
        try ledger.finishRun(runID: run.id, status: .succeeded, summary: "3 pushed", error: nil, spendMicros: 0, at: 1_780_000_003_000)
        // A repricing sweep with one decision, and product matching's spend: one model call, one cache hit.
        let sweep = try #require(try ledger.recordFire(job: "nightly-sweep", kind: "repricing-sweep", trigger: .manual, requestedBy: nil,
                                                       scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                       at: 1_780_000_004_000, resumes: nil))
        let repricing = PostgresRepricingLedger(ledger: ledger)
        try repricing.saveSweepListings([MarketplaceListing(marketplace: .ebay, sku: "MUG-1", listingID: "L1", gtin: nil, asin: nil,
                                                            title: "Blue mug", condition: .new, price: Money(micros: 9_990_000, currency: .usd),
                                                            quantity: 2, shippingCharged: nil)], sweep: sweep.id, marketplace: .ebay)
        try await repricing.saveDecision(PricingDecision(sku: "MUG-1", marketplace: .ebay, listingID: "L1", oldPrice: Money(micros: 9_990_000, currency: .usd),
                                                         newPrice: Money(micros: 9_490_000, currency: .usd), floor: nil, ceiling: nil,
                                                         lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 1, offersExcluded: [:],
                                                         strategy: .beatLowest, reason: .followedCompetition, explanation: "", state: .applied),
                                         sweep: sweep.id)
        try ledger.finishRun(runID: sweep.id, status: .succeeded, summary: "1 changed", error: nil, spendMicros: 135, at: 1_780_000_005_000)
        let spend = try PostgresSpendLedger(ledger: ledger, budgets: SpendBudgets(currency: .usd, timezone: .utc),
                                            clock: ManualClock(Timestamp(milliseconds: 1_780_000_004_500)), onEvent: { _ in })
        await spend.record(MeteredCall(provider: "openai", operation: "chat.completions", cost: Money(micros: 135, currency: .usd), status: 200,
                                       inputTokens: 500, outputTokens: 100))
        await spend.record(MeteredCall(provider: "openai", operation: "product-match", cost: Money(micros: 0, currency: .usd), servedFromCache: true,
                                       status: 200, inputTokens: 300, outputTokens: 50))

        let space = Workspace()
        defer { space.remove() }
        try FileManager.default.createDirectory(atPath: space.path + "/credentials", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: space.path + "/credentials/postgres-password",
                                           contents: Data((server.password + "\n").utf8), attributes: [.posixPermissions: 0o600])
        let config = space.write("flipsync.toml", """
            [daemon]
            database = "\(endpoint)"
            jobs_directory = "jobs"
            [prices.openai]
            input_tokens_per_million = "0.15 USD"
            output_tokens_per_million = "0.60 USD"
            """)
        let environment = ["CREDENTIALS_DIRECTORY": space.path + "/credentials"]

        let runs = try flipsyncctl(["runs", "--config", config, "--json"], environment: environment)
        #expect(runs.status == 0, "\(runs.error)")
        #expect(runs.output.contains("\"summary\" : \"3 pushed\"") || runs.output.contains("\"summary\":\"3 pushed\""), "\(runs.output)")
        let byFlag = try flipsyncctl(["runs", "--database", "\(endpoint)"], environment: environment)
        #expect(byFlag.status == 0 && byFlag.output.contains("3 pushed") && byFlag.output.contains("succeeded"), "\(byFlag.error)")
        let show = try flipsyncctl(["show", "\(run.id)", "--config", config], environment: environment)
        #expect(show.status == 0 && show.output.contains("pull:amazon") && show.output.contains("by uid 7"), "\(show.error)")
        let quota = try flipsyncctl(["quota", "--config", config, "--json"], environment: environment)
        #expect(quota.status == 0, "\(quota.error)")
        let readiness = try flipsyncctl(["readiness", "--config", config], environment: environment)
        #expect(readiness.status == 1 && readiness.error.contains("no readiness report yet"), "\(readiness.error)")

        // `report` and `spend --llm-savings` read the PostgreSQL ledger as they read SQLite's.
        let html = space.path + "/report.html"
        let report = try flipsyncctl(["report", "\(sweep.id)", "--html", html, "--config", config], environment: environment)
        #expect(report.status == 0, "\(report.error)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("Repricing run \(sweep.id): nightly-sweep") && page.contains("1 decisions") && page.contains("class=\"point change\""))
        let period = try flipsyncctl(["report", "--since", "2026-05-01", "--html", html, "--config", config], environment: environment)
        #expect(period.status == 0, "\(period.error)")
        let periodPage = try String(contentsOfFile: html, encoding: .utf8)
        #expect(periodPage.contains("2 runs") && periodPage.contains("nightly-sweep") && periodPage.contains("data-checked=\"1\" data-listings=\"1\""))
        let savings = try flipsyncctl(["spend", "--llm-savings", "--since", "2026-05-01", "--config", config], environment: environment)
        #expect(savings.status == 0, "\(savings.error)")
        let lines = savings.output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.contains("model calls openai 1") && lines.contains("answered from the cache 1") && lines.contains("tokens in / out 800 / 150"),
                "\(savings.output)")
        // (800 × 0.15 + 150 × 0.60) / 1,000,000 USD uncached on the premium model, against 0.000135 USD measured.
        #expect(lines.contains("cost, measured 0.000135 USD") && lines.contains("premium model, uncached 0.00021 USD")
                && lines.contains("saved 0.000075 USD"), "\(savings.output)")

        // `run --local` on the same ledger: recorded in PostgreSQL as this host's (no node_name set).
        space.write("jobs/tick.toml", """
            name = "tick"
            kind = "readiness-scan"
            schedule = "daily"
            [params]
            probes = ["database"]
            database_operations = 10
            """)
        let local = try flipsyncctl(["run", "tick", "--local", "--config", config], environment: environment)
        #expect(local.status == 0, "\(local.output)\n\(local.error)")
        #expect(local.output.contains("of tick (readiness-scan), ledger \(endpoint)"), "\(local.output)")
        let tick = try #require(try ledger.recentRuns(job: "tick", limit: 5).first)
        #expect(tick.status == .succeeded && tick.trigger == .manual)
        #expect(try ledger.node(ofRun: tick.id) == LedgerStores.hostName())
        #expect(!FileManager.default.fileExists(atPath: space.path + "/var"))

        // With [daemon] cluster, --local is refused (no cluster-wide run lease), unless --outside-cluster.
        let clusterConfig = space.write("flipsync-cluster.toml", (try String(contentsOfFile: config, encoding: .utf8))
            .replacingOccurrences(of: "jobs_directory = \"jobs\"", with: "jobs_directory = \"jobs\"\ncluster = \"\(endpoint)\""))
        let refused = try flipsyncctl(["run", "tick", "--local", "--config", clusterConfig], environment: environment)
        #expect(refused.status == 1 && refused.error.contains("has [daemon] cluster: a --local run would not take tick's cluster-wide run lease")
                && refused.error.contains("--outside-cluster"), "\(refused.output)\n\(refused.error)")
        #expect(try ledger.recentRuns(job: "tick", limit: 5).count == 1, "nothing was run")
        let outside = try flipsyncctl(["run", "tick", "--local", "--outside-cluster", "--config", clusterConfig], environment: environment)
        #expect(outside.status == 0, "\(outside.output)\n\(outside.error)")
        #expect(try ledger.recentRuns(job: "tick", limit: 5).count == 2)

        // Without the credential: one clear line, exit 1.
        let noPassword = try flipsyncctl(["runs", "--config", config], environment: ["CREDENTIALS_DIRECTORY": space.path + "/jobs"])
        #expect(noPassword.status == 1 && noPassword.error.contains("postgres-password"), "\(noPassword.error)")
        #expect(!noPassword.error.contains(server.password))
    }

    @Test("two flipsyncd processes with [daemon] cluster and database on one PostgreSQL: every run of the 2 s job is recorded once in the shared ledger, under the name of a node, no SQLite file is made, and SIGTERM stops both with status 0")
    func twoDaemonsOnePostgresLedger() async throws {
        let daemon = packageRoot + "/.build/debug/flipsyncd"
        try #require(access(daemon, X_OK) == 0, "build first: swift build --build-tests")
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let scratch = Scratch()
        let nodes = try ClusterProcessTests.makeNodes(["pg-1", "pg-2"], scratch: scratch, endpoint: endpoint, password: server.password)
        for node in nodes {
            let text = try String(contentsOfFile: node.config, encoding: .utf8)
            let shared = text.replacingOccurrences(of: "database = \"\(node.directory)/ledger.sqlite\"", with: "database = \"\(endpoint)\"")
            #expect(shared != text)
            try shared.write(toFile: node.config, atomically: true, encoding: .utf8)
            try node.start(daemon: daemon)
        }
        defer { for node in nodes { node.kill() } }
        func logs() -> String {
            nodes.map { "--- \($0.name)\n" + ((try? String(contentsOfFile: $0.log, encoding: .utf8)) ?? "") }.joined(separator: "\n")
        }
        let reader = try PostgresLedger(endpoint: endpoint, password: server.password)
        defer { reader.close() }
        func runs() throws -> [(node: String?, status: String, scheduledAt: Int64?)] {
            try reader.session.query("SELECT node, status, scheduled_at FROM runs WHERE job = 'tick' ORDER BY id").map { row in
                let columns = row.makeRandomAccess()
                return (try columns["node"].decode(String?.self), try columns["status"].decode(String.self),
                        try columns["scheduled_at"].decode(Int64?.self))
            }
        }
        // Real processes on the real clock: poll the shared ledger until three runs have ended.
        let deadline = Date().addingTimeInterval(45)
        var seen = try runs()
        while seen.filter({ $0.status != "queued" && $0.status != "running" }).count < 3, Date() < deadline {
            usleep(200_000)
            seen = try runs()
        }
        let finished = seen.filter { $0.status != "queued" && $0.status != "running" }
        #expect(finished.count >= 3, "runs: \(seen)\n\(logs())")
        #expect(finished.allSatisfy { $0.status == "succeeded" }, "runs: \(seen)\n\(logs())")
        #expect(seen.allSatisfy { $0.node == "pg-1" || $0.node == "pg-2" }, "runs: \(seen)")
        let slots = seen.compactMap(\.scheduledAt)
        #expect(slots.count == seen.count && Set(slots).count == slots.count, "each slot recorded once: \(seen)")
        for node in nodes { #expect(!FileManager.default.fileExists(atPath: node.ledger), "no SQLite ledger for \(node.name)") }

        for node in nodes { node.signalTerminate() }
        for node in nodes { #expect(node.terminate(seconds: 30) == 0, "\(node.name) stops cleanly\n\(logs())") }
        #expect(!logs().contains("database-failed") && !logs().contains("cannot open the run ledger"), "\(logs())")
        // After the stop nothing of theirs is left running.
        let after = try runs()
        #expect(after.allSatisfy { $0.status != "queued" && $0.status != "running" }, "\(after)")
    }

    @Test("nightly-repricing (eBay and Amazon, costs from Shopify) on a PostgreSQL ledger: the run succeeds and its decisions and offer memory are in PostgreSQL")
    func nightlyRepricingOnPostgres() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let space = Workspace()
        defer { space.remove() }
        let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 17, listings: 20), logger: quietLogger)
        do {
            space.write("flipsync.toml", Self.config(endpoint: endpoint, baseURL: sandbox.baseURL,
                                                     marketplaces: [.ebay, .amazon, .shopify], node: "node-a")
                        + "\n[prices.ebay]\ncall = \"0.0025 USD\"\n")
            space.write("jobs/repricing.toml", """
                name = "nightly-repricing"
                kind = "repricing-sweep"
                schedule = "daily"
                timeout = "4m"
                concurrency = 16

                [params]
                marketplaces = ["ebay", "amazon"]
                strategy = "beat-lowest"
                undercut = "1%"
                min_margin = "15%"
                max_change = "10%"
                rounding = ".99"
                cost_source = "shopify"
                shipping_cost = "4.50 USD"
                """)
            let loaded = space.load()
            #expect(loaded.errors.isEmpty, "\(loaded.errors)")
            let job = try #require(loaded.catalog["nightly-repricing"])
            let clock = SystemSchedulerClock()
            let runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: quietLogger,
                                           secret: Self.secrets(sandbox, loaded.config, password: server.password))
            #expect(Set(runtime.services.marketplaces.keys) == [.ebay, .amazon, .shopify])
            let (run, status) = try await runtime.runOnce(job: job, requestedBy: nil, pool: PermitPool(permits: 16), clock: clock,
                                                          logger: quietLogger)
            let decisions = try runtime.ledger.repricing.decisions(sweep: run.id)
            let offers = try runtime.ledger.offers.rememberedOffers(marketplace: .ebay)
            await runtime.shutdown()
            #expect(status == .succeeded, "\(run.error ?? "")")
            #expect(Set(decisions.map(\.marketplace)) == [.ebay, .amazon])
            #expect(!offers.isEmpty)

            let reader = try PostgresLedger(endpoint: endpoint, password: server.password)
            defer { reader.close() }
            #expect(try reader.run(id: run.id)?.status == .succeeded)
            #expect(try reader.node(ofRun: run.id) == "node-a")
            let rows = try reader.session.query("SELECT COUNT(*)::BIGINT AS n FROM decisions WHERE sweep_id = $1", [.integer(run.id)])
            #expect(try rows[0].makeRandomAccess()["n"].decode(Int64.self) == Int64(decisions.count))
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }
}

/// The repository root, from this file's path (Tests/FlipSyncClusterTests/…).

