import FlipSyncCluster
import GRDB
@testable import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A scratch directory with real files, removed when the value goes away.
final class Scratch: Sendable {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("flipsync-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        return file
    }
}

/// The scheduled runs started, by node, across the cluster.
final class StartedRuns: Sendable {
    private let list = Mutex<[(node: String, fire: FireKey)]>([])
    func append(_ node: String, _ fire: FireKey) { list.withLock { $0.append((node, fire)) } }
    var all: [(node: String, fire: FireKey)] { list.withLock { $0 } }
}

/// Runs that end at once, written to the node's own ledger as the run coordinator does; every
/// scheduled run started is noted (node, fire) so a test can count them across nodes.
final class CountingExecutor: RunExecutor {
    let node: String
    let ledger: RunStore
    let clock: ManualClock
    let started: StartedRuns

    init(node: String, ledger: RunStore, clock: ManualClock, started: StartedRuns) {
        self.node = node
        self.ledger = ledger
        self.clock = clock
        self.started = started
    }

    func execute(run: RunInfo, job: JobDefinition) async -> RunStatus {
        if let at = run.scheduledAt { started.append(node, FireKey(job: run.job, scheduledAt: at)) }
        try? ledger.markRunning(runID: run.id, at: clock.wallMilliseconds())
        try? ledger.finishRun(runID: run.id, status: .succeeded, summary: nil, error: nil, spendMicros: 0, at: clock.wallMilliseconds())
        return .succeeded
    }
}

/// One in-process flipsyncd node: its own SQLite ledger and scheduler, its own PostgreSQL client
/// and cluster coordinator, on the test's one virtual clock (which also stands for the database's
/// clock in every lease decision).
final class TestNode: Sendable {
    let name: String
    let store: RunStore
    let client: PostgresClient
    let coordinator: ClusterCoordinator
    let scheduler: Scheduler
    private let tasks = Mutex<[Task<Void, Never>]>([])

    /// `shared`: one ledger the nodes share (as on PostgreSQL), else the node's own SQLite file.
    init(name: String, endpoint: ClusterEndpoint, password: String, catalog: JobCatalog, clock: ManualClock, scratch: Scratch,
         started: StartedRuns, shared: RunStore? = nil) throws {
        self.name = name
        store = try shared ?? RunStore(path: scratch.path + "/\(name).sqlite")
        client = PostgresClient(configuration: endpoint.clientConfiguration(password: password), backgroundLogger: quietLogger)
        coordinator = ClusterCoordinator(client: client, nodeID: name, host: "test-host", pid: 1, time: .injected(clock), logger: quietLogger)
        scheduler = Scheduler(catalog: catalog, ledger: store, clock: clock,
                              executor: CountingExecutor(node: name, ledger: store, clock: clock, started: started),
                              logger: quietLogger, gate: coordinator)
        let client = self.client
        tasks.withLock { $0.append(Task { await client.run() }) }
    }

    func start() async {
        let scheduler = self.scheduler
        await coordinator.observe(inFlight: { Int64(await scheduler.jobs().filter { $0.running != nil }.count) },
                                  onLeadership: { _ in await scheduler.leadershipChanged() })
        tasks.withLock { $0.append(Task { await scheduler.run(drain: .seconds(10)) }) }
    }

    /// The node dies: its scheduler is cancelled (no drain) and it heartbeats no more.
    func kill() async {
        let running = tasks.withLock { $0 }
        running.dropFirst().forEach { $0.cancel() }
        for task in running.dropFirst() { await task.value }
    }

    /// Ends the client (after `kill` or `stop`).
    func close() async {
        let running = tasks.withLock { $0 }
        running.forEach { $0.cancel() }
        for task in running { await task.value }
    }

    /// The scheduled fires this node recorded in its own ledger (run or skipped).
    func recordedFires(_ job: String) throws -> [Int64] {
        try store.recentRuns(job: job, limit: 100_000).compactMap(\.scheduledAt).sorted()
    }
}

/// Nodes on one fresh database of the suite's server, sharing one virtual clock.
final class TestCluster: Sendable {
    let scratch = Scratch()
    let clock: ManualClock
    let endpoint: ClusterEndpoint
    let password: String
    let nodes: [TestNode]
    let started = StartedRuns()

    init(nodes names: [String], jobs: [String], at start: Timestamp, sharedLedger: Bool = false) async throws {
        let server = try server()
        endpoint = try await server.freshDatabase()
        password = server.password
        clock = ManualClock(start)
        var files: [String] = []
        for (i, text) in jobs.enumerated() { files.append(scratch.write("job\(i).toml", text)) }
        let (catalog, diagnostics) = JobCatalog.load(paths: files, defaults: JobDefaults(timezone: .utc, currency: .usd,
                                                                                          configuredMarketplaces: [], configFile: "test"),
                                                     now: start)
        precondition(diagnostics.isEmpty, "\(diagnostics)")
        var nodes: [TestNode] = []
        let shared = sharedLedger ? try RunStore(path: scratch.path + "/shared.sqlite") : nil
        for name in names {
            nodes.append(try TestNode(name: name, endpoint: endpoint, password: password, catalog: catalog, clock: clock,
                                      scratch: scratch, started: started, shared: shared))
        }
        self.nodes = nodes
        try await nodes[0].coordinator.migrate()
    }

    subscript(_ name: String) -> TestNode { nodes.first { $0.name == name }! }

    /// Moves the virtual clock on by one second and waits until `live` schedulers sleep again.
    func second(live: Int) async {
        clock.advance(bySeconds: 1)
        await clock.waitForSleepers(live)
    }

    /// Every fire in the cluster's table: (job, scheduled_at, node, token).
    func fires() async throws -> [(job: String, at: Int64, node: String, token: Int64, claimedAt: Int64)] {
        try await TestPostgres.withClient(endpoint, password: password) { client in
            var out: [(job: String, at: Int64, node: String, token: Int64, claimedAt: Int64)] = []
            let rows = try await client.query("SELECT job, scheduled_at, node_id, token, claimed_at_ms FROM flipsync_cluster_fires ORDER BY scheduled_at")
            for try await (job, at, node, token, claimed) in rows.decode((String, Int64, String, Int64, Int64).self) {
                out.append((job, at, node, token, claimed))
            }
            return out
        }
    }

    func shutdown() async {
        for node in nodes { await node.close() }
    }
}

func everySecondJob(_ name: String, _ extra: String = "") -> String {
    """
    name = "\(name)"
    kind = "readiness-scan"
    schedule = "*-*-* *:*:*"
    timezone = "UTC"
    overlap = "queue"
    \(extra)
    """
}

