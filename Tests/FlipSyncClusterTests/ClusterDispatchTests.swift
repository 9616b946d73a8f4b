import FlipSyncCluster
import FlipSyncCore
import FlipSyncPostgres
import FlipSyncRuntime
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

/// One node of a test cluster on a shared PostgreSQL ledger: its runtime, its client of the
/// cluster's tables, its task worker (running) and its dispatcher.
private final class DispatchNode: Sendable {
    let name: String
    let runtime: Runtime
    let client: PostgresClient
    let queue: ClusterTaskQueue
    let worker: ClusterTaskWorker
    let dispatcher: ClusterTaskDispatcher
    let job: JobDefinition
    private let tasks = Mutex<[Task<Void, Never>]>([])

    /// `config`: the node's flipsync.toml (default: the sandbox's channels at generous rates);
    /// `sharedRates`: its channels' rate limits kept in the database with the other nodes'
    /// (`ClusterRateGate`, as flipsyncd does on a cluster).
    init(name: String, space: Workspace, endpoint: ClusterEndpoint, server: TestPostgres, sandbox: SandboxServer, jobText: String,
         jobName: String = "nightly-repricing",
         timing: ClusterTaskWorker.Timing, pool: PermitPool, config: String? = nil, sharedRates: Bool = false,
         dispatchPollMilliseconds: Int64 = 50, listen: Bool = false,
         perform: (@Sendable (DispatchedTask, DispatchNode) async throws -> DispatchOutcome)? = nil) throws {
        self.name = name
        space.write("flipsync.toml", config ?? (PostgresRuntimeTests.config(endpoint: endpoint, baseURL: sandbox.baseURL,
                                                                              marketplaces: [.ebay, .amazon, .shopify], node: name)
                    + "\n[prices.ebay]\ncall = \"0.0025 USD\"\n"))
        space.write("jobs/\(jobName).toml", jobText)
        let loaded = space.load()
        guard loaded.errors.isEmpty, let job = loaded.catalog[jobName] else { throw LedgerError.notFound("\(loaded.errors)") }
        self.job = job
        let clock = SystemSchedulerClock()
        client = PostgresClient(configuration: endpoint.clientConfiguration(password: server.password), backgroundLogger: quietLogger)
        let gate: (any SharedRateGate)? = sharedRates
            ? ClusterRateGate(limiter: ClusterRateLimiter(client: client, node: name, logger: quietLogger), clock: clock, logger: quietLogger)
            : nil
        runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: quietLogger,
                                   secret: PostgresRuntimeTests.secrets(sandbox, loaded.config, password: server.password),
                                   sharedRates: gate, node: name)
        queue = ClusterTaskQueue(client: client, logger: quietLogger)
        let signals = ClusterTaskSignals()
        dispatcher = ClusterTaskDispatcher(queue: queue, node: name, clock: clock, logger: quietLogger,
                                           pollMilliseconds: dispatchPollMilliseconds, signals: signals)
        let here = runtime.coordinator(pool: pool, clock: clock, logger: quietLogger)
        let box = Mutex<DispatchNode?>(nil)
        worker = ClusterTaskWorker(queue: queue, node: name, pool: pool,
                                   perform: { task in
                                       if let perform, let node = box.withLock({ $0 }) { return try await perform(task, node) }
                                       return try await here.performDispatched(task, job: job)
                                   },
                                   clock: clock, logger: quietLogger, timing: timing, signals: signals)
        box.withLock { $0 = self }
        let client = self.client
        tasks.withLock { $0.append(Task { await client.run() }) }
        if listen {
            let listener = try ClusterTaskListener(endpoint: endpoint, password: server.password, node: name, signals: signals,
                                                   clock: clock, logger: quietLogger)
            tasks.withLock { $0.append(Task { await listener.listen() }) }
        }
    }

    func startWorker() {
        let worker = self.worker
        tasks.withLock { $0.append(Task { try? await worker.run() }) }
    }

    /// Stops the worker by cancelling it (its tasks handed back), then the client.
    func stop() async {
        let all = tasks.withLock { $0 }
        for task in all.reversed() {
            task.cancel()
            await task.value
        }
        await runtime.shutdown()
    }
}

/// A value several tasks of a test share.
private final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}

/// Runs `body` with a loopback sandbox of `seed` and `listings`, stopped afterwards whatever happens.
private func withSandbox(seed: UInt64, listings: Int, _ body: (SandboxServer) async throws -> Void) async throws {
    let sandbox = try await SandboxServer.start(SandboxConfiguration(port: 0, seed: seed, listings: listings), logger: quietLogger)
    do {
        try await body(sandbox)
    } catch {
        await sandbox.stop()
        throw error
    }
    await sandbox.stop()
}

/// A node whose tasks never end by themselves: each waits until stopped, and the count of
/// those stopped is kept.
private func stallingNode(_ name: String, space: Workspace, endpoint: ClusterEndpoint, server: TestPostgres, sandbox: SandboxServer,
                          permits: Int) throws -> (node: DispatchNode, stopped: Shared<Int>) {
    let stopped = Shared(0)
    let node = try DispatchNode(name: name, space: space, endpoint: endpoint, server: server, sandbox: sandbox,
                                jobText: repricingJob(dryRun: true), timing: ClusterDispatchTests.fast, pool: PermitPool(permits: permits),
                                perform: { _, _ in
                                    do { try await Task.sleep(for: .seconds(120)) } catch {
                                        stopped.withLock { $0 += 1 }
                                        throw error
                                    }
                                    return .finished
                                })
    return (node, stopped)
}

private func repricingJob(dryRun: Bool) -> String {
    """
    name = "nightly-repricing"
    kind = "repricing-sweep"
    schedule = "daily"
    timeout = "4m"
    concurrency = 8

    [params]
    marketplaces = ["ebay", "amazon"]
    strategy = "beat-lowest"
    undercut = "1%"
    min_margin = "15%"
    max_change = "10%"
    rounding = ".99"
    cost_source = "shopify"
    shipping_cost = "4.50 USD"
    dry_run = \(dryRun)
    """
}

/// What a decision decided, for comparing two sweeps.
private struct Decided: Hashable, CustomStringConvertible {
    var marketplace: MarketplaceName, sku: String, state: PricingDecision.State, reason: String, newMicros: Int64?
    init(_ d: PricingDecision) {
        (marketplace, sku, state, reason, newMicros) = (d.marketplace, d.sku, d.state, "\(d.reason)", d.newPrice?.micros)
    }
    var description: String { "\(marketplace.rawValue)/\(sku) \(state.rawValue) \(reason) \(newMicros.map(String.init) ?? "-")" }
}

@Suite("ClusterDispatchTests: a run's tasks claimed from the queue by any node, on a shared PostgreSQL ledger",
       .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(5)))
struct ClusterDispatchTests {
    static let fast: ClusterTaskWorker.Timing = {
        var t = ClusterTaskWorker.Timing()
        t.pollMilliseconds = 50
        t.renewMilliseconds = 300
        t.leaseMilliseconds = 1_500
        t.fenceMilliseconds = 1_000
        t.handBackMilliseconds = 2_000
        return t
    }()

    /// Node a (pool 4, its worker not started) and a stalling node b (two permits) on a fresh database.
    fileprivate static func dispatcherAndStaller(server: TestPostgres, spaces: (Workspace, Workspace), sandbox: SandboxServer) async throws
        -> (a: DispatchNode, poolA: PermitPool, b: DispatchNode, stopped: Shared<Int>) {
        let shared = try await database(server)
        let poolA = PermitPool(permits: 4)
        let a = try DispatchNode(name: "node-a", space: spaces.0, endpoint: shared, server: server, sandbox: sandbox,
                                 jobText: repricingJob(dryRun: true), timing: fast, pool: poolA)
        let (b, stopped) = try stallingNode("node-b", space: spaces.1, endpoint: shared, server: server, sandbox: sandbox, permits: 2)
        return (a, poolA, b, stopped)
    }

    /// A fresh database with the cluster's tables.
    static func database(_ server: TestPostgres) async throws -> ClusterEndpoint {
        let endpoint = try await server.freshDatabase()
        _ = try await TestPostgres.withClient(endpoint, password: server.password) { client in
            try await ClusterDatabase.migrate(client, logger: quietLogger)
        }
        return endpoint
    }

    /// The repricing sweep's agents whose tasks go through the queue (all but `plan`).
    static let sweepDistributed: Set<String> = ["listings", "costs", "decide", "apply", "apply-bulk"]

    @Test("a sweep on node a with nodes a and b claiming: every task but the plan record goes through the queue and runs once (listings, costs, decide, apply), both nodes run some, the run succeeds, the queue's rows say which node ran each, each price is sent once, and its decisions are exactly those of the same sweep run on one node against a sandbox of the same seed")
    func decideTasksShared() async throws {
        let server = try server()
        let sandboxes = (try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 23, listings: 60), logger: quietLogger),
                         try await SandboxServer.start(SandboxConfiguration(port: 0, seed: 23, listings: 60), logger: quietLogger))
        let spaces = (Workspace(), Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove(); spaces.2.remove() }
        do {
            // The cluster: two nodes on one database, both claiming, a's run dispatching. a's
            // pool is under the job's concurrency (8), so what a has no room for overflows to b
            // whatever the timing (a's worker, woken in-process, could otherwise take them all).
            let shared = try await Self.database(server)
            let poolA = PermitPool(permits: 3), poolB = PermitPool(permits: 8)
            let a = try DispatchNode(name: "node-a", space: spaces.0, endpoint: shared, server: server, sandbox: sandboxes.0,
                                     jobText: repricingJob(dryRun: false), timing: Self.fast, pool: poolA)
            let b = try DispatchNode(name: "node-b", space: spaces.1, endpoint: shared, server: server, sandbox: sandboxes.0,
                                     jobText: repricingJob(dryRun: false), timing: Self.fast, pool: poolB)
            a.startWorker()
            b.startWorker()
            let (run, status) = try await a.runtime.runOnce(job: a.job, requestedBy: nil, pool: poolA, clock: SystemSchedulerClock(),
                                                            logger: quietLogger, dispatch: a.dispatcher)
            let tasks = try a.runtime.ledger.runs.tasks(runID: run.id)
            let decided = try a.runtime.ledger.repricing.decisions(sweep: run.id)
            let left = try await a.queue.tasks(run: String(run.id))
            let (countA, countB) = (a.worker.counts, b.worker.counts)
            let updates = sandboxes.0.state.updates
            await a.stop()
            await b.stop()

            // The same sweep on one node, no queue, against a sandbox of the same seed.
            let solo = try await Self.database(server)
            let c = try DispatchNode(name: "node-solo", space: spaces.2, endpoint: solo, server: server, sandbox: sandboxes.1,
                                     jobText: repricingJob(dryRun: false), timing: Self.fast, pool: PermitPool(permits: 8))
            let (soloRun, soloStatus) = try await c.runtime.runOnce(job: c.job, requestedBy: nil, pool: PermitPool(permits: 8),
                                                                    clock: SystemSchedulerClock(), logger: quietLogger)
            let soloDecided = try c.runtime.ledger.repricing.decisions(sweep: soloRun.id)
            await c.stop()

            #expect(status == .succeeded && soloStatus == .succeeded, "\(run.error ?? "") \(soloRun.error ?? "")")
            let decide = tasks.filter { $0.agent == "decide" }
            let distributed = tasks.filter { Self.sweepDistributed.contains($0.agent) }
            #expect(decide.count >= 10, "enough decide tasks to share (eBay's take 8 GTINs each): \(decide.count)")
            #expect(Set(distributed.map(\.agent)).isSuperset(of: ["listings", "costs", "decide"])
                    && distributed.contains { $0.agent.hasPrefix("apply") }, "\(Set(distributed.map(\.agent)))")
            #expect(tasks.allSatisfy { $0.status == .succeeded }, "\(tasks.filter { $0.status != .succeeded })")
            #expect(countA.claimed + countB.claimed == distributed.count,
                    "each distributed task claimed once: a \(countA) b \(countB), \(distributed.count) tasks")
            #expect(countA.finished + countB.finished == distributed.count)
            #expect(countB.finished > 0, "node b ran some of a's tasks: \(countB)")
            // The queue's rows (kept an hour): one per distributed task, each claimed once, run by a or b, finished.
            #expect(left.count == distributed.count && Set(left.map(\.key)) == Set(distributed.map(\.key)), "\(left.count) rows")
            #expect(left.allSatisfy { $0.state == .done && $0.outcome == "finished" && $0.attempts == 1 && $0.origin == "node-a" }, "\(left)")
            #expect(left.filter { $0.holder == "node-b" }.count == countB.finished && left.filter { $0.holder == "node-a" }.count == countA.finished)
            #expect(!decided.isEmpty)
            #expect(Set(decided.map(Decided.init)) == Set(soloDecided.map(Decided.init)),
                    "distributed \(decided.count) vs one node \(soloDecided.count)")
            // Applied from whichever node claimed each batch: every applied decision sent once.
            let applied = decided.filter { $0.state == .applied }
            #expect(!applied.isEmpty && updates.count == applied.count, "\(updates.count) updates for \(applied.count) applied decisions")
            #expect(Set(updates.map { "\($0.marketplace.rawValue)/\($0.sku)" }) == Set(applied.map { "\($0.marketplace.rawValue)/\($0.sku)" }),
                    "each applied listing updated once")
            let byAgent = Dictionary(grouping: distributed, by: \.agent).mapValues(\.count).sorted { $0.key < $1.key }
            print("dispatch: \(distributed.count) tasks queued (\(byAgent.map { "\($0.key) \($0.value)" }.joined(separator: ", "))), "
                  + "run by a \(countA.finished), by b \(countB.finished); \(decided.count) decisions, \(updates.count) price updates")
        } catch {
            await sandboxes.0.stop()
            await sandboxes.1.stop()
            throw error
        }
        await sandboxes.0.stop()
        await sandboxes.1.stop()
    }

    @Test("at production limits (eBay Browse's daily quota shrunk to 30, Amazon's getListingOffersBatch at 0.5/s), a sweep shared by two nodes with shared rate limits: it succeeds, both nodes decide, the quota is counted once across nodes for every search sent and eBay is never sent a search over it")
    func dispatchedSweepAtProductionLimits() async throws {
        let server = try server()
        let spaces = (Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove() }
        var configuration = SandboxConfiguration(port: 0, seed: 31, listings: 60)
        var limits = SandboxLimits.production
        limits.routes[.search]?.dailyQuota = 30
        configuration.limits = limits
        let sandbox = try await SandboxServer.start(configuration, logger: quietLogger)
        do {
            let shared = try await Self.database(server)
            // production.example.toml's rates; Browse's daily quota as the sandbox's.
            func config(_ node: String) -> String {
                """
                [daemon]
                database = "\(shared)"
                node_name = "\(node)"
                jobs_directory = "jobs"
                control_socket = "control.sock"

                [prices.ebay]
                call = "0.0025 USD"

                [prices.amazon]
                call = "0.0013 USD"

                [marketplaces.ebay]
                base_url = "\(sandbox.baseURL)/ebay"
                credentials = { client_id = "ebay-client-id", client_secret = "ebay-client-secret", refresh_token = "ebay-refresh-token" }
                rate_limit = "5/s"
                burst = 10
                daily_quota = { browse = 30 }
                fee_percent = "13.25%"
                fee_fixed = "0.30 USD"

                """ + SandboxConfigText.marketplaces(baseURL: sandbox.baseURL, rates: [.amazon: .init("1/2s", burst: 1), .shopify: .init("2/s", burst: 2)])
            }
            // Node a's pool under the job's concurrency (8): what it has no room for, b claims.
            let poolA = PermitPool(permits: 3), poolB = PermitPool(permits: 8)
            let a = try DispatchNode(name: "node-a", space: spaces.0, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: repricingJob(dryRun: false), timing: Self.fast, pool: poolA, config: config("node-a"), sharedRates: true)
            let b = try DispatchNode(name: "node-b", space: spaces.1, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: repricingJob(dryRun: false), timing: Self.fast, pool: poolB, config: config("node-b"), sharedRates: true)
            a.startWorker()
            b.startWorker()
            let (run, status) = try await a.runtime.runOnce(job: a.job, requestedBy: nil, pool: poolA, clock: SystemSchedulerClock(),
                                                            logger: quietLogger, dispatch: a.dispatcher)
            let tasks = try a.runtime.ledger.runs.tasks(runID: run.id)
            let (countA, countB) = (a.worker.counts, b.worker.counts)
            var counted: Int64 = -1
            for try await used in try await a.client.query(
                "SELECT COALESCE(SUM(used), 0)::BIGINT FROM quota WHERE provider = 'ebay' AND api = 'browse'", logger: quietLogger
            ).decode(Int64.self) { counted = used }
            await a.stop()
            await b.stop()

            #expect(status == .succeeded, "\(run.error ?? "")")
            let decide = tasks.filter { $0.agent == "decide" }
            #expect(decide.allSatisfy { $0.status == .succeeded }, "\(decide.filter { $0.status != .succeeded })")
            #expect(countA.finished > 0 && countB.finished > 0, "both nodes decided: a \(countA), b \(countB)")
            let searches = sandbox.state.requestCounts[SandboxRoute.search.rawValue] ?? 0
            #expect(searches > 0 && searches <= 30, "\(searches) searches")
            #expect(counted == Int64(searches), "the shared quota counted \(counted) for \(searches) searches sent")
            #expect((sandbox.state.limitRefusals[.search]?.daily ?? 0) == 0, "no search was sent over eBay's day")
            let plan = tasks.first { $0.key == "plan:ebay" }
            #expect(plan?.result?.contains("browse quota") == true, "the plan says the quota bounded it: \(plan?.result ?? "")")
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    /// Runs `jobName` once on node a of a fresh database, a's worker not started, so every task
    /// that goes through the queue is claimed and run by node b; returns the run, its tasks, the
    /// queue's rows for it and what `read` read from the shared ledger after the run.
    fileprivate static func runClaimedByB<Read: Sendable>(server: TestPostgres, sandbox: SandboxServer, spaces: (Workspace, Workspace),
                                                          jobName: String, jobText: String, extraDaemon: String = "",
                                                          read: (LedgerStores, RunInfo) throws -> Read)
        async throws -> (run: RunInfo, status: RunStatus, tasks: [TaskInfo], rows: [ClusterTaskRow], b: (claimed: Int, finished: Int),
                         read: Read) {
        let shared = try await database(server)
        func config(_ node: String) -> String {
            (PostgresRuntimeTests.config(endpoint: shared, baseURL: sandbox.baseURL, marketplaces: [.ebay, .amazon, .shopify], node: node)
                + "\n[prices.ebay]\ncall = \"0.0025 USD\"\n")
                .replacingOccurrences(of: "[daemon]\n", with: "[daemon]\n" + extraDaemon)
        }
        let poolA = PermitPool(permits: 8)
        let a = try DispatchNode(name: "node-a", space: spaces.0, endpoint: shared, server: server, sandbox: sandbox, jobText: jobText,
                                 jobName: jobName, timing: fast, pool: poolA, config: config("node-a"))
        let b = try DispatchNode(name: "node-b", space: spaces.1, endpoint: shared, server: server, sandbox: sandbox, jobText: jobText,
                                 jobName: jobName, timing: fast, pool: PermitPool(permits: 8), config: config("node-b"))
        b.startWorker()
        let (run, status) = try await a.runtime.runOnce(job: a.job, requestedBy: nil, pool: poolA, clock: SystemSchedulerClock(),
                                                        logger: quietLogger, dispatch: a.dispatcher)
        let tasks = try a.runtime.ledger.runs.tasks(runID: run.id)
        let rows = try await a.queue.tasks(run: String(run.id))
        let counts = b.worker.counts
        let read = Result { try read(a.runtime.ledger, run) }
        await b.stop()
        await a.stop()
        return (run, status, tasks, rows, counts, try read.get())
    }

    @Test("marketplace-sync and shipping-arbitrage with only node b claiming: every sync task, and every shipping task but reading the packaging file, is run by b from the queue; both runs succeed with what they wrote in the shared ledger (sync: on-hand, pushes, no quantity sent that changes nothing; shipping: a recommendation for every quoted line)")
    func otherKindsRunOnAnyNode() async throws {
        let server = try server()
        let spaces = (Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove() }
        try await withSandbox(seed: 1, listings: 200) { sandbox in
            let sync = try await Self.runClaimedByB(server: server, sandbox: sandbox, spaces: spaces, jobName: "sync", jobText: """
                name = "sync"
                kind = "marketplace-sync"
                schedule = "hourly"
                timeout = "3m"
                concurrency = 8

                [params]
                marketplaces = ["ebay", "amazon", "shopify"]
                push_price = false
                safety_stock = 1
                correct_drift = true
                """) { ledger, run in
                (onHand: try ledger.sync.onHand(), pushes: try (ledger.sync as? PostgresSyncLedger)?.pushes(runID: run.id).count ?? -1)
            }
            let (onHand, pushes) = sync.read
            let updates = sandbox.state.updates
            #expect(sync.status == .succeeded, "\(sync.run.error ?? "")")
            #expect(sync.tasks.count >= 9 && sync.tasks.allSatisfy { $0.status == .succeeded }, "\(sync.tasks.map { "\($0.key) \($0.status)" })")
            #expect(Set(sync.rows.map(\.key)) == Set(sync.tasks.map(\.key)) && sync.rows.count == sync.tasks.count, "every sync task queued")
            #expect(sync.rows.allSatisfy { $0.holder == "node-b" && $0.state == .done && $0.origin == "node-a" }, "\(sync.rows)")
            #expect(sync.b.finished == sync.tasks.count, "\(sync.b)")
            #expect(!onHand.isEmpty && pushes > 0, "\(onHand.count) SKUs on hand, \(pushes) pushes")
            #expect(!updates.isEmpty && !updates.contains { $0.quantitySent && $0.oldQuantity == $0.newQuantity },
                    "\(updates.count) stock updates, none resending a quantity the listing had")

            // Open orders for the shipping run, on every channel, to named destinations.
            let to = SandboxAddress.destinations
            var placed = 0
            for (index, marketplace) in [MarketplaceName.ebay, .amazon, .shopify].enumerated() {
                let listed = sandbox.state.products.filter { (sandbox.state.listedQuantities(sku: $0.sku)[marketplace] ?? 0) >= 2 }
                for (offset, product) in listed.prefix(2).enumerated() {
                    _ = try sandbox.state.placeOrder(marketplace, sku: product.sku, quantity: 1, shipTo: to[(index * 2 + offset) % to.count])
                    placed += 1
                }
            }
            let rateCards = ["usps-ground-advantage", "ups-ground"].map { "\"\(packageRoot)/config/rate-cards/\($0).toml\"" }
            let ship = try await Self.runClaimedByB(server: server, sandbox: sandbox, spaces: spaces, jobName: "ship", jobText: """
                name = "ship"
                kind = "shipping-arbitrage"
                schedule = "hourly"
                timeout = "3m"
                concurrency = 8

                [params]
                marketplaces = ["ebay", "amazon", "shopify"]
                rate_sources = ["rate-cards"]
                handling_days = 1
                default_promise_days = 5
                origin_postal_code = "\(SandboxAddress.warehouse.postalCode)"
                default_service = "usps-ground-advantage"
                packaging = "\(packageRoot)/config/packaging.csv"
                buy_labels = false
                """, extraDaemon: "rate_cards = [\(rateCards.joined(separator: ", "))]\n") { ledger, run in
                try ledger.shipping.shippingRecommendations(runID: run.id)
            }
            let recommendations = ship.read
            #expect(ship.status == .succeeded, "\(ship.run.error ?? "")")
            #expect(ship.tasks.allSatisfy { $0.status == .succeeded }, "\(ship.tasks.filter { $0.status != .succeeded }.map { "\($0.key) \($0.error ?? "")" })")
            let quotes = ship.tasks.filter { $0.agent == "quote" }
            #expect(placed >= 5 && quotes.count == placed, "\(quotes.count) lines quoted of \(placed) placed")
            #expect(Set(ship.rows.map(\.key)) == Set(ship.tasks.filter { $0.agent != "packaging" }.map(\.key)), "every task but packaging queued")
            #expect(!ship.rows.contains { $0.key == "packaging" })
            #expect(ship.rows.allSatisfy { $0.holder == "node-b" && $0.state == .done }, "\(ship.rows)")
            #expect(recommendations.count == quotes.count, "\(recommendations.count) recommendations for \(quotes.count) quoted lines")
            print("dispatch: sync \(sync.rows.count) tasks queued, all run by b; shipping \(ship.rows.count) of \(ship.tasks.count) tasks queued, "
                  + "all run by b, \(recommendations.count) recommendations; \(updates.count) stock updates")
            #expect(!recommendations.contains { $0.status == .skipped || $0.status == .noRate },
                    "every line quoted from the rate cards: \(recommendations.filter { $0.status == .skipped || $0.status == .noRate }.map(\.reason))")
        }
    }

    @Test("nodes hear of the queue at once (LISTEN/NOTIFY): with every poll 10 minutes apart, node b claims each task a's run enqueues and a's run learns of each ending, and the run succeeds within its 60 s timeout")
    func listenersWakeWithoutPolls() async throws {
        let server = try server()
        let spaces = (Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove() }
        try await withSandbox(seed: 37, listings: 40) { sandbox in
            let shared = try await Self.database(server)
            var slow = Self.fast
            slow.pollMilliseconds = 600_000
            let job = repricingJob(dryRun: true).replacingOccurrences(of: #"timeout = "4m""#, with: #"timeout = "60s""#)
            // a's worker never runs: every queued task is b's, claimed on a `pending`, and a's run
            // hears of each ending by an `ended node-a`. Neither polls again within the run.
            let poolA = PermitPool(permits: 4)
            let a = try DispatchNode(name: "node-a", space: spaces.0, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: job, timing: slow, pool: poolA, dispatchPollMilliseconds: 600_000, listen: true)
            let b = try DispatchNode(name: "node-b", space: spaces.1, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: job, timing: slow, pool: PermitPool(permits: 8), listen: true)
            // b's first claim, at its start, comes before the run has enqueued a task; from then
            // on only a notification wakes it.
            b.startWorker()
            let (run, status) = try await a.runtime.runOnce(job: a.job, requestedBy: nil, pool: poolA, clock: SystemSchedulerClock(),
                                                            logger: quietLogger, dispatch: a.dispatcher)
            let tasks = try a.runtime.ledger.runs.tasks(runID: run.id)
            let counts = b.worker.counts
            await a.stop()
            await b.stop()
            #expect(status == .succeeded, "\(run.error ?? "")")
            let decide = tasks.filter { $0.agent == "decide" }
            let distributed = tasks.filter { Self.sweepDistributed.contains($0.agent) }
            #expect(decide.count >= 5 && distributed.allSatisfy { $0.status == .succeeded }, "\(decide.count) decide tasks")
            #expect(counts.finished == distributed.count, "b ran every listings, costs and decide task: \(counts), \(distributed.count) tasks")
        }
    }

    @Test("a node that claims a sweep's first wave (its costs and listings reads) and dies (its worker never renews again): its leases expire and the other node runs those tasks; the run succeeds with every task succeeded")
    func deadNodesTasksReclaimed() async throws {
        let server = try server()
        let spaces = (Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove() }
        try await withSandbox(seed: 29, listings: 30) { sandbox in
            let shared = try await Self.database(server)
            let poolA = PermitPool(permits: 4)
            let a = try DispatchNode(name: "node-a", space: spaces.0, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: repricingJob(dryRun: true), timing: Self.fast, pool: poolA)
            // "node-dead" claims straight from the queue, as a node's worker would, then never
            // renews nor ends what it claimed: a SIGKILL after the claim. It takes the run's
            // first wave, all there is to claim then: the costs read and both listings reads.
            let dead = ClusterTaskQueue(client: a.client, logger: quietLogger)
            let grabbed = Shared<[ClaimedTask]>([])
            let grabber = Task {
                while !Task.isCancelled && grabbed.withLock({ $0.count }) < 3 {
                    let got = (try? await dead.claim(node: "node-dead", limit: 3 - grabbed.withLock({ $0.count }), leaseMilliseconds: 3_000)) ?? []
                    grabbed.withLock { $0 += got }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            // a's worker starts once the dead node holds the three.
            let starter = Task {
                while !Task.isCancelled && grabbed.withLock({ $0.count }) < 3 { try? await Task.sleep(for: .milliseconds(10)) }
                a.startWorker()
            }
            let (run, status) = try await a.runtime.runOnce(job: a.job, requestedBy: nil, pool: poolA, clock: SystemSchedulerClock(),
                                                            logger: quietLogger, dispatch: a.dispatcher)
            grabber.cancel()
            starter.cancel()
            await starter.value
            let tasks = try a.runtime.ledger.runs.tasks(runID: run.id)
            let counts = a.worker.counts

            let stolen = grabbed.withLock { $0 }
            #expect(stolen.map(\.key).sorted() == ["costs", "listings:amazon", "listings:ebay"], "the dead node held the first wave: \(stolen.map(\.key))")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let distributed = tasks.filter { Self.sweepDistributed.contains($0.agent) }
            #expect(distributed.allSatisfy { $0.status == .succeeded }, "\(distributed.filter { $0.status != .succeeded })")
            #expect(counts.finished == distributed.count, "node a ran every queued task, the dead node's three after their leases expired: \(counts)")
            let rows = try await a.queue.tasks(run: String(run.id))
            #expect(rows.filter { $0.attempts == 2 }.map(\.key).sorted() == stolen.map(\.key).sorted(), "the three were claimed twice, the rest once")
            #expect(rows.allSatisfy { $0.holder == "node-a" && $0.state == .done })
            #expect(Set(stolen.map(\.key)).isSubset(of: Set(distributed.map(\.key))))
            await a.stop()
        }
    }

    @Test("a node's new process frees the tasks its dead predecessor (same node name) still held: pending again at once, not kept alive by the new process's renewals")
    func restartFreesPredecessorsTasks() async throws {
        let server = try server()
        let space = Workspace()
        defer { space.remove() }
        try await withSandbox(seed: 37, listings: 5) { sandbox in
            let shared = try await Self.database(server)
            // A worker with no room (its one permit taken): it claims nothing, so what it does to
            // the old claims shows.
            let full = PermitPool(permits: 1)
            try await full.acquire()
            let b = try DispatchNode(name: "node-b", space: space, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: repricingJob(dryRun: true), timing: Self.fast, pool: full,
                                     perform: { _, _ in .finished })
            #expect(try await b.queue.enqueue(run: "7", tasks: [(key: "k1", payload: "{}"), (key: "k2", payload: "{}")]) == 2)
            let held = try await b.queue.claim(node: "node-b", limit: 2, leaseMilliseconds: 600_000)
            #expect(held.count == 2)
            let other = try await b.queue.enqueue(run: "7", key: "k3", payload: "{}", origin: "node-c")
            #expect(try await b.queue.claim(node: "node-c", limit: 5, leaseMilliseconds: 600_000).map(\.id) == [other])
            b.startWorker()
            let deadline = ContinuousClock.now + .seconds(10)
            var rows = try await b.queue.tasks(run: "7")
            while rows.contains(where: { $0.holder == "node-b" }) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                rows = try await b.queue.tasks(run: "7")
            }
            await b.stop()
            full.release()
            #expect(rows.filter { $0.state == .pending }.map(\.key).sorted() == ["k1", "k2"], "\(rows)")
            #expect(rows.first { $0.key == "k3" }?.holder == "node-c", "another node's claim is left alone")
        }
    }

    @Test("systemctl stop on a node: draining, it claims no other node's task; stopping, it waits up to its hand-back time for the tasks it runs, then gives them back and another node runs them; the run succeeds")
    func stopDrainsAndHandsBack() async throws {
        let server = try server()
        let spaces = (Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove() }
        try await withSandbox(seed: 41, listings: 30) { sandbox in
            // a dispatches (its worker not started); b's two tasks take two minutes unless stopped.
            let (a, poolA, b, stopped) = try await Self.dispatcherAndStaller(server: server, spaces: spaces, sandbox: sandbox)
            // b's worker in a service group, as in flipsyncd, so its stop is a graceful shutdown.
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [b.worker], logger: quietLogger))
            let groupRun = Task { try await group.run() }
            let runTask = Task {
                try await a.runtime.runOnce(job: a.job, requestedBy: nil, pool: poolA, clock: SystemSchedulerClock(),
                                            logger: quietLogger, dispatch: a.dispatcher)
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while b.worker.running < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(b.worker.running == 2, "node b holds two tasks")
            b.worker.beginDrain()
            a.startWorker()
            // Draining: b claims nothing more while a runs the rest (b's two still wait).
            let quiet = ContinuousClock.now + .seconds(1)
            while ContinuousClock.now < quiet { try await Task.sleep(for: .milliseconds(50)) }
            let claimedWhileDraining = b.worker.counts.claimed
            let began = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await groupRun.value
            let stoppedAfter = ContinuousClock.now - began
            let (run, status) = try await runTask.value
            let tasks = try a.runtime.ledger.runs.tasks(runID: run.id)
            let rows = try await a.queue.tasks(run: String(run.id))
            await a.stop()
            await b.stop()

            #expect(claimedWhileDraining == 2, "draining, b claimed nothing more: \(claimedWhileDraining)")
            #expect(stopped.withLock { $0 } == 2, "b stopped its two tasks at the end of its hand-back time")
            #expect(stoppedAfter >= .milliseconds(1_900) && stoppedAfter < .seconds(10), "b waited its 2 s hand-back time: \(stoppedAfter)")
            #expect(status == .succeeded, "\(run.error ?? "")")
            #expect(tasks.filter { $0.agent == "decide" }.allSatisfy { $0.status == .succeeded })
            #expect(rows.allSatisfy { $0.holder == "node-a" && $0.state == .done && $0.attempts == 1 },
                    "b's two given back (not counted as attempts) and run by a: \(rows.filter { $0.holder != "node-a" || $0.attempts != 1 })")
        }
    }

    @Test("a resume first stops what its interrupted predecessor still has in the queue: the predecessor's unclaimed task is never claimed, the two another node runs are stopped there, and only then does the resume start its own tasks; it succeeds")
    func resumeSettlesPredecessorsTasks() async throws {
        let server = try server()
        let spaces = (Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove() }
        try await withSandbox(seed: 43, listings: 20) { sandbox in
            let shared = try await Self.database(server)
            let poolA = PermitPool(permits: 4)
            let a = try DispatchNode(name: "node-a", space: spaces.0, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: repricingJob(dryRun: true), timing: Self.fast, pool: poolA)
            // The predecessor: a run of node a's that its node's death left interrupted, with
            // three decide tasks still in the queue.
            let runs = a.runtime.ledger.runs
            let first = try #require(try runs.recordFire(job: a.job.name, kind: a.job.kind.rawValue, trigger: .manual, requestedBy: nil,
                                                         scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                         at: SystemSchedulerClock().wallMilliseconds(), resumes: nil))
            #expect(try runs.interruptLeftovers(at: SystemSchedulerClock().wallMilliseconds(), reason: "test").map(\.id) == [first.id])
            let stale = (1...3).map { DispatchedTask(job: a.job.name, runID: first.id, task: PlannedTask(key: "decide:ebay:stale-\($0)", agent: "decide")) }
            #expect(try await a.queue.enqueue(run: String(first.id), tasks: stale.map { (key: $0.key, payload: $0.json) }) == 3)
            // Node b (two permits) holds two of them until it is told to stop; its other tasks it runs.
            let stoppedAt = Shared<[Int64]>([])
            let b = try DispatchNode(name: "node-b", space: spaces.1, endpoint: shared, server: server, sandbox: sandbox,
                                     jobText: repricingJob(dryRun: true), timing: Self.fast, pool: PermitPool(permits: 2),
                                     perform: { task, node in
                                         guard task.runID == first.id else {
                                             return try await node.runtime.coordinator(pool: PermitPool(permits: 2), clock: SystemSchedulerClock(),
                                                                                       logger: quietLogger).performDispatched(task, job: node.job)
                                         }
                                         do { try await Task.sleep(for: .seconds(120)) } catch {
                                             stoppedAt.withLock { $0.append(SystemSchedulerClock().wallMilliseconds()) }
                                             throw error
                                         }
                                         return .finished
                                     })
            b.startWorker()
            let deadline = ContinuousClock.now + .seconds(30)
            while b.worker.running < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(b.worker.running == 2, "node b holds two of the predecessor's tasks")
            // a's worker stays off: b alone claims, so the third of them is claimed by nobody.

            let second = try #require(try runs.recordFire(job: a.job.name, kind: a.job.kind.rawValue, trigger: .manual, requestedBy: nil,
                                                          scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                          at: SystemSchedulerClock().wallMilliseconds(), resumes: first.id))
            let status = await a.runtime.coordinator(pool: poolA, clock: SystemSchedulerClock(), logger: quietLogger, dispatch: a.dispatcher)
                .execute(run: second, job: a.job)
            let tasks = try runs.tasks(runID: second.id)
            let staleRows = try await a.queue.tasks(run: String(first.id))
            await a.stop()
            await b.stop()

            #expect(status == .succeeded)
            let stopped = stoppedAt.withLock { $0 }
            #expect(stopped.count == 2, "b stopped both of the predecessor's tasks it held: \(stopped)")
            #expect(staleRows.count == 3 && !staleRows.contains { $0.state == .pending || $0.state == .claimed }, "\(staleRows)")
            let unclaimed = staleRows.filter { $0.holder == nil }
            #expect(unclaimed.count == 1 && unclaimed.first?.outcome == "cancelled" && unclaimed.first?.attempts == 0,
                    "the third was never claimed: \(unclaimed)")
            let firstStart = tasks.compactMap(\.startedAt).min() ?? 0
            #expect(!tasks.isEmpty && firstStart >= (stopped.max() ?? .max),
                    "the resume started its first task at \(firstStart), after b stopped the predecessor's at \(stopped)")
        }
    }

    @Test("a run that ends while its tasks wait: cancelled, its unclaimed tasks are never claimed and a task another node runs is stopped there at its next renewal")
    func cancelReachesTheHolder() async throws {
        let server = try server()
        let spaces = (Workspace(), Workspace())
        defer { spaces.0.remove(); spaces.1.remove() }
        try await withSandbox(seed: 31, listings: 30) { sandbox in
            // a dispatches (its worker not started); b's two tasks never end by themselves: they wait until stopped.
            let (a, poolA, b, stopped) = try await Self.dispatcherAndStaller(server: server, spaces: spaces, sandbox: sandbox)
            b.startWorker()
            let runTask = Task {
                try await a.runtime.runOnce(job: a.job, requestedBy: nil, pool: poolA, clock: SystemSchedulerClock(),
                                            logger: quietLogger, dispatch: a.dispatcher)
            }
            // Wait (bounded) until b holds its two.
            let deadline = ContinuousClock.now + .seconds(60)
            while b.worker.running < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(b.worker.running == 2, "node b holds two tasks")
            runTask.cancel()
            let (run, status) = try await runTask.value
            // b sees the requests at its next renewal (300 ms here).
            // (The ending is written just after the task stops: wait for both.)
            let stopDeadline = ContinuousClock.now + .seconds(10)
            var rows = try await a.queue.tasks(run: String(run.id))
            while (stopped.withLock({ $0 }) < 2 || rows.contains { $0.state == .pending || $0.state == .claimed })
                    && ContinuousClock.now < stopDeadline {
                try await Task.sleep(for: .milliseconds(20))
                rows = try await a.queue.tasks(run: String(run.id))
            }
            await a.stop()
            await b.stop()

            #expect(status == .cancelled)
            #expect(stopped.withLock { $0 } == 2, "both of b's tasks stopped at their run's request")
            #expect(!rows.contains { $0.state == .pending || $0.state == .claimed }, "nothing of the run is left to claim: \(rows)")
        }
    }
}

/// The repository root, from this file's path (Tests/FlipSyncClusterTests/…).
