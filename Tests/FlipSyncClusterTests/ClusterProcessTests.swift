import FlipSyncCluster
import FlipSyncCore
import FlipSyncPostgres
import FlipSyncSandbox
import FlipSyncStore
import Foundation
import GRDB
import PostgresNIO
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
import FlipSyncTestKit
#endif

private func wallMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

/// One real `flipsyncd` process, restartable, with its own config, SQLite ledger and control
/// socket. It runs under `timeout -s KILL 600` in a process group of its own: a SIGKILL goes to
/// the group (timeout and flipsyncd at once), and should the test process itself die, no daemon
/// outlives it by more than ten minutes.
final class DaemonNode: Sendable {
    let name: String
    let directory: String
    let config: String
    let log: String
    /// The pid of the `timeout` process leading the node's process group, while it runs.
    private let leader = Mutex<pid_t?>(nil)
    private let incarnations = Mutex(0)

    static let lifetimeSeconds = 600

    init(name: String, directory: String, config: String) {
        self.name = name
        self.directory = directory
        self.config = config
        log = directory + "/stderr.log"
    }

    var ledger: String { directory + "/ledger.sqlite" }
    var isRunning: Bool { leader.withLock { $0 } != nil }
    var starts: Int { incarnations.withLock { $0 } }

    func start(daemon: String) throws {
        precondition(!isRunning, "\(name) is running")
        let argv = ["/usr/bin/timeout", "-s", "KILL", "\(Self.lifetimeSeconds)", daemon, "--config", config]
        // No systemd around it: no notify socket, watchdog or credentials directory of the caller's.
        let environment = ProcessInfo.processInfo.environment
            .filter { !["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "LISTEN_FDS", "LISTEN_PID"].contains($0.key) }
            .map { "\($0.key)=\($0.value)" }
        let pid = try Self.spawn(argv, stderr: log, environment: environment)
        leader.withLock { $0 = pid }
        incarnations.withLock { $0 += 1 }
    }

    /// SIGKILL to the node's whole process group, and waits for it (bounded).
    func kill() {
        guard let pid = leader.withLock({ $0 }) else { return }
        Glibc.kill(-pid, SIGKILL)
        _ = Self.wait(pid, seconds: 10)
        leader.withLock { $0 = nil }
    }

    /// SIGTERM (`systemctl stop`), forwarded by `timeout` to flipsyncd; waits up to `seconds`
    /// for a clean exit, then kills. Returns the exit status, or nil if it had to be killed.
    func terminate(seconds: Double) -> Int32? {
        guard let pid = leader.withLock({ $0 }) else { return nil }
        Glibc.kill(pid, SIGTERM)
        let status = Self.wait(pid, seconds: seconds)
        if status == nil {
            Glibc.kill(-pid, SIGKILL)
            _ = Self.wait(pid, seconds: 10)
        }
        leader.withLock { $0 = nil }
        guard let status, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// Sends SIGTERM without waiting (to stop several nodes at once; `terminate` then waits).
    @discardableResult
    func signalTerminate() -> Bool {
        guard let pid = leader.withLock({ $0 }) else { return false }
        return Glibc.kill(pid, SIGTERM) == 0
    }

    /// The raw wait status once `pid` has exited, polled until `seconds` have passed (nil then).
    private static func wait(_ pid: pid_t, seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return status }
            if reaped == -1 && errno != EINTR { return status }  // not our child any more: gone
            if Date() >= deadline { return nil }
            usleep(20_000)
        }
    }

    private static func spawn(_ argv: [String], stderr: String, environment: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            for arg in cArgs { free(arg) }
            for variable in cEnvironment { free(variable) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, &cEnvironment)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        return pid
    }

    func logTail(_ characters: Int = 1500) -> String {
        String(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(characters))
    }
}

/// One kill of the plan: which node, whether it held the scheduler lease, when (ms, wall clock).
private struct Kill {
    var node: String
    var scheduler: Bool
    var at: Int64
}

/// One row of `flipsync_cluster_fires`.
private struct Fire {
    var scheduledAt: Int64
    var node: String
    var token: Int64
    var claimedAt: Int64
}

/// The issue's headline test, as far as the cluster is built: three real flipsyncd processes on
/// one PostgreSQL, a job every 2 s, the scheduler node and the other nodes SIGKILLed at seeded
/// random moments and restarted. It checks the scheduler's failover and fire uniqueness; runs are
/// executed on the node that fired them: in `threeNodesUnderKills` from its own SQLite ledger, in
/// `shippedJobsUnderKills` from the one PostgreSQL ledger the three share.
@Suite("Three flipsyncd processes on PostgreSQL", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(8)))
struct ClusterProcessTests {
    static let schedulerKills = 5
    static let otherKills = 5
    /// The bound asserted on the largest gap between two fires around a SIGKILL of the scheduler
    /// node (issue 16's goal): a fire at most 2 s before the kill, the lease renewed at most then,
    /// expiring 6 s later, taken at the next 1 s try and fired at once — 9 s, plus round trips.
    static let gapBoundMilliseconds: Int64 = 10_000

    @Test("three flipsyncd processes, a job every 2 s, the scheduler node SIGKILLed 5 times and the others 5 times at seeded random moments: no fire twice, every slot fired, the largest gap after a scheduler kill ≤ 10 s")
    func threeNodesUnderKills() async throws {
        let (daemon, seed) = try ClusterRig.daemonAndSeed()
        var random = SplitMix64(seed: seed)
        print("cluster processes: seed \(seed) (FLIPSYNC_CLUSTER_SEED=\(seed) replays the plan)")

        let server = try server()
        let endpoint = try await server.freshDatabase()
        let scratch = Scratch()
        let rig = ClusterRig(daemon: daemon, scratch: scratch, endpoint: endpoint, password: server.password,
                             nodes: try Self.makeNodes(["node-a", "node-b", "node-c"], scratch: scratch, endpoint: endpoint, password: server.password))
        // Every exit path, a failed #require included: no daemon is left running (and their
        // directory is removed only after that).
        defer { rig.stop() }
        let nodes = rig.nodes, db = rig.db
        func node(_ name: String) -> DaemonNode? { rig.node(name) }
        func logs() -> String { rig.logs() }
        do {
            let began = wallMilliseconds()
            try rig.startAll()

            // All three registered (heartbeating) and two fires claimed.
            try await db.waitFor("three nodes heartbeating and two fires", seconds: 60, logs: logs) {
                let live = try await db.liveNodes(since: began).count
                let fired = try await db.fireCount()
                return live == 3 && fired >= 2
            }

            var plan = Array(repeating: true, count: Self.schedulerKills) + Array(repeating: false, count: Self.otherKills)
            plan.shuffle(using: &random)
            var kills: [Kill] = []
            for killScheduler in plan {
                // A random moment, anywhere in the 2 s firing cycle.
                try await Task.sleep(for: .milliseconds(Int.random(in: 1000...4000, using: &random)))
                kills.append(try await rig.killAndRestart(scheduler: killScheduler, random: &random, afterKill: { target, at, random in
                    if killScheduler {
                        // Restarted only once another node fires: the gap is the failover's, not a restart's.
                        try await db.waitFor("a fire by another node after \(target.name) was killed", seconds: 25, logs: logs) {
                            try await db.fires().contains { $0.claimedAt >= at && $0.node != target.name }
                        }
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...2000, using: &random)))
                    } else {
                        try await Task.sleep(for: .milliseconds(Int.random(in: 200...3000, using: &random)))
                    }
                }))
            }

            // Two more fires after the last restart, then a clean stop of the scheduler node
            // (`systemctl stop`): it hands the lease over once drained.
            let settled = wallMilliseconds()
            try await db.waitFor("two fires after the last restart", seconds: 20, logs: logs) {
                try await db.fires().filter { $0.claimedAt >= settled }.count >= 2
            }
            let stopped = try #require(try await db.holder().flatMap(node))
            let stopAt = wallMilliseconds()
            let status = stopped.terminate(seconds: 30)
            #expect(status == 0, "SIGTERM: \(stopped.name) exited \(String(describing: status)): \(stopped.logTail())")
            try await db.waitFor("a fire by another node after \(stopped.name) stopped", seconds: 20, logs: logs) {
                try await db.fires().contains { $0.claimedAt >= stopAt && $0.node != stopped.name }
            }
            for node in nodes where node.isRunning {
                let code = node.terminate(seconds: 30)
                #expect(code == 0, "SIGTERM: \(node.name) exited \(String(describing: code)): \(node.logTail())")
            }
            let registry = try await db.registry()
            #expect(registry.count == 3 && registry.allSatisfy { $0.stopped }, "every node marked stopped after its clean stop: \(registry)")
            for entry in registry {
                let state = (try? String(contentsOfFile: "/proc/\(entry.pid)/stat", encoding: .utf8))
                    .flatMap { $0.split(separator: ")").last?.split(separator: " ").first }
                #expect(state == nil || state == "Z", "\(entry.node)'s flipsyncd (pid \(entry.pid)) still runs")
            }

            // What PostgreSQL recorded.
            let fires = try await db.fires()
            let duplicates = try await db.duplicateFires()
            #expect(duplicates == 0, "(job, scheduled_at) claimed twice: \(duplicates)")
            let slots = fires.map(\.scheduledAt)
            let first = try #require(slots.min()), last = try #require(slots.max())
            let expected = Set(stride(from: first, through: last, by: 2))
            #expect(Set(slots) == expected, "every 2 s slot from the first fire to the last claimed once; missing \(expected.subtracting(slots).sorted())")
            #expect(slots.count == expected.count)
            // Claimed less than a minute late: on time, so each ran (catch_up never applies).
            let latest = fires.map { $0.claimedAt - $0.scheduledAt * 1000 }.max() ?? 0
            #expect(latest < Scheduler.onTimeTolerance * 1000, "a slot was claimed \(latest) ms late: past the on-time tolerance")
            #expect(Set(fires.map(\.node)).count == 3, "every node fired at some point")

            // Gaps between consecutive claims (ms, the database's clock = this machine's).
            let claims = fires.map(\.claimedAt).sorted()
            let failovers = try Self.checkFailovers(claims: claims, kills: kills, count: Self.schedulerKills)
            let maxGap = failovers.map(\.gap).max() ?? 0, maxTakeover = failovers.map(\.takeover).max() ?? 0
            let overallGap = zip(claims, claims.dropFirst()).map { $1 - $0 }.max() ?? 0
            // The gaps that span neither a SIGKILL of the scheduler node nor its clean stop.
            let handovers = kills.filter(\.scheduler).map(\.at) + [stopAt]
            let quietGap = zip(claims, claims.dropFirst()).filter { pair in !handovers.contains { pair.0 < $0 && $0 <= pair.1 } }
                .map { $1 - $0 }.max() ?? 0
            let stopBefore = try #require(claims.last { $0 < stopAt }), stopAfter = try #require(claims.first { $0 >= stopAt })
            #expect(overallGap <= Self.gapBoundMilliseconds, "largest gap between two fires anywhere in the run: \(overallGap) ms")
            // Each scheduler SIGKILL and the clean stop hand the lease to another node: a new fencing token each.
            let tokens = Set(fires.map(\.token)).count
            #expect(tokens >= Self.schedulerKills + 2, "fires under \(tokens) fencing tokens")

            // What each node's own ledger recorded: no slot in two ledgers; each node recorded
            // only slots it claimed, and every slot it claimed unless it was SIGKILLed between the
            // claim and the ledger commit (the known gap, README "Several nodes").
            var recorded: [String: Set<Int64>] = [:]
            var statuses: [String: Int] = [:]
            for node in nodes {
                let store = try RunStore(path: node.ledger)
                let runs = try store.recentRuns(job: "tick", limit: 100_000)
                recorded[node.name] = Set(runs.compactMap(\.scheduledAt))
                for run in runs where run.scheduledAt != nil {
                    statuses[run.status.rawValue + (run.skipReason.map { " (\($0.rawValue))" } ?? ""), default: 0] += 1
                    #expect(run.skipReason != .missed, "\(node.name) recorded slot \(run.scheduledAt ?? 0) as missed: every slot was claimed on time")
                }
            }
            let names = nodes.map(\.name)
            for (i, a) in names.enumerated() {
                for b in names[(i + 1)...] {
                    let both = recorded[a, default: []].intersection(recorded[b, default: []])
                    #expect(both.isEmpty, "slots recorded (run) by both \(a) and \(b): \(both.sorted())")
                }
            }
            var lostToKill = 0
            for name in names {
                let claimed = Set(fires.filter { $0.node == name }.map(\.scheduledAt))
                #expect(recorded[name, default: []].isSubset(of: claimed), "\(name) recorded slots it did not claim: \(recorded[name, default: []].subtracting(claimed).sorted())")
                for fire in fires where fire.node == name && !recorded[name, default: []].contains(fire.scheduledAt) {
                    let killedRightAfter = kills.contains { $0.node == name && $0.at >= fire.claimedAt && $0.at - fire.claimedAt <= 2000 }
                    #expect(killedRightAfter, "\(name) claimed slot \(fire.scheduledAt) and did not record it, yet was not killed right after")
                    lostToKill += 1
                }
            }
            let took = Double(wallMilliseconds() - began) / 1000
            print("""
                cluster processes: \(kills.count) SIGKILLs (\(kills.filter(\.scheduler).count) of the scheduler node, \
                \(kills.filter { !$0.scheduler }.count) of others) and 1 SIGTERM of the scheduler node over \(String(format: "%.0f", took)) s; \
                \(fires.count) fires claimed (slots \(first)…\(last)), \(duplicates) claimed twice, \
                \(expected.count - Set(slots).count) slots missing, \(lostToKill) claimed but lost to a SIGKILL before the node's ledger recorded them; \
                runs by status \(statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); \
                fires per node \(names.map { n in "\(n) \(fires.filter { $0.node == n }.count)" }.joined(separator: ", ")); \
                fencing tokens \(tokens)
                cluster processes: after each scheduler SIGKILL, gap between fires (ms) \(failovers.map(\.gap)), first fire after the kill (ms) \(failovers.map(\.takeover)); \
                max gap \(maxGap) ms (bound \(Self.gapBoundMilliseconds)), max kill-to-fire \(maxTakeover) ms; \
                largest gap anywhere \(overallGap) ms, away from scheduler kills and the stop \(quietGap) ms; clean stop: gap \(stopAfter - stopBefore) ms, stop-to-fire \(stopAfter - stopAt) ms; \
                latest claim \(latest) ms after its slot
                """)
        }
    }

    static let marketSchedulerKills = 10
    static let marketOtherKills = 20
    static let resumableJobs: Set<String> = ["marketplace-sync", "nightly-repricing"]

    @Test("three flipsyncd processes on one PostgreSQL ledger and one sandbox running copies of the shipped jobs every 5 s plus a job every 2 s, the scheduler node SIGKILLed 10 times (mid-run where a run is going) and the others 20 times at seeded moments: no fire twice, no price or stock update applied twice, each order line once, no task lost, every fire run or skipped, the largest gap after a scheduler kill ≤ 10 s")
    func shippedJobsUnderKills() async throws {
        let (daemon, seed) = try ClusterRig.daemonAndSeed()
        var random = SplitMix64(seed: seed)
        print("cluster shipped jobs: seed \(seed) (FLIPSYNC_CLUSTER_SEED=\(seed) replays the plan)")

        let server = try server()
        let (endpoint, scratch, sandbox) = try await Self.marketWorld(server, seed: seed)
        let nodes: [DaemonNode]
        do {
            nodes = try Self.makeMarketNodes(["node-a", "node-b", "node-c"], scratch: scratch, endpoint: endpoint, baseURL: sandbox.baseURL)
        } catch {
            await sandbox.stop()
            throw error
        }
        let rig = ClusterRig(daemon: daemon, scratch: scratch, endpoint: endpoint, password: server.password, nodes: nodes)
        defer { rig.stop() }
        let db = rig.db
        func logs() -> String { rig.logs() }
        do {
            let began = wallMilliseconds()
            try rig.startAll()
            // A fire of the 2 s job too: the gap around each scheduler kill is measured from the
            // last one before it (a first kill right after a sweep's fire at second 5 could come
            // before the 2 s job's first fire at second 6).
            try await db.waitFor("three nodes heartbeating, a marketplace run's fires and the 2 s job's", seconds: 60, logs: logs) {
                let live = try await db.liveNodes(since: began).count
                let fired = try await db.fires(job: "nightly-repricing").count
                let ticked = try await db.fires().count
                return live == 3 && fired >= 1 && ticked >= 1
            }
            // The one run ledger the three nodes share (the nodes have migrated it by now).
            let ledger = try PostgresLedger(endpoint: endpoint, password: server.password)
            defer { ledger.close() }
            /// The marketplace runs `node` has `running` in the shared ledger.
            func runningMarketRuns(of node: String) throws -> [(id: Int64, job: String)] {
                try ledger.session.query("""
                    SELECT id, job FROM runs
                    WHERE node = $1 AND status = 'running' AND job IN ('marketplace-sync', 'nightly-repricing')
                    """, [.text(node)]).map { row in
                    let columns = row.makeRandomAccess()
                    return (try columns["id"].decode(Int64.self), try columns["job"].decode(String.self))
                }
            }

            // Buyers order while the nodes are killed: each line must be counted once.
            let skus = sandbox.state.listings.map(\.sku)
            var placed: [SandboxOrder] = []
            func placeOrder() {
                guard let sku = skus.randomElement(using: &random) else { return }
                if let order = try? sandbox.state.placeOrder(.ebay, sku: sku, quantity: 1) { placed.append(order) }
            }
            // Runs execute on the node that fired them, the scheduler node: its kills are the
            // mid-run ones (each waits up to 8 s for a marketplace run of that node in the shared
            // ledger, then a seeded delay; with none going by then it is killed anyway). After a
            // scheduler kill the node is restarted only once another node fires (the gap is the
            // failover's, not a restart's).
            var plan = Array(repeating: true, count: Self.marketSchedulerKills) + Array(repeating: false, count: Self.marketOtherKills)
            plan.shuffle(using: &random)
            var kills: [Kill] = []
            var inFlight: [(node: String, run: Int64, job: String)] = []
            var notMidRun = 0
            for killScheduler in plan {
                placeOrder()
                try await Task.sleep(for: .milliseconds(Int.random(in: 300...1500, using: &random)))
                kills.append(try await rig.killAndRestart(scheduler: killScheduler, random: &random, beforeKill: { target, random in
                    guard killScheduler else { return }
                    let deadline = Date().addingTimeInterval(8)
                    while (try? runningMarketRuns(of: target.name).isEmpty) != false {
                        guard Date() < deadline else { notMidRun += 1; return }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...600, using: &random)))
                }, afterKill: { target, at, random in
                    // Which of them the SIGKILL caught unfinished (still `running` in the ledger).
                    inFlight += try runningMarketRuns(of: target.name).map { (target.name, $0.id, $0.job) }
                    if killScheduler {
                        try await db.waitFor("a fire by another node after \(target.name) was killed", seconds: 25, logs: logs) {
                            try await db.fires().contains { $0.claimedAt >= at && $0.node != target.name }
                        }
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...1000, using: &random)))
                    } else {
                        try await Task.sleep(for: .milliseconds(Int.random(in: 200...1500, using: &random)))
                    }
                }))
            }
            let killedMidRun = Set(inFlight.map(\.run)).count
            placeOrder()
            let lastOrder = wallMilliseconds()
            // Two marketplace-sync fires after the last order, so some node pulls it.
            try await db.waitFor("two marketplace-sync fires after the last order", seconds: 30, logs: logs) {
                try await db.fires(job: "marketplace-sync").filter { $0.claimedAt >= lastOrder + 1000 }.count >= 2
            }
            // Stop all three at once (SIGTERM): no node takes the lease to fire more; each drains
            // its runs (drain_timeout 60 s) and exits. This is the bounded wait for every run.
            let stopAt = wallMilliseconds()
            for node in nodes where node.isRunning { _ = node.signalTerminate() }
            for node in nodes {
                let code = node.terminate(seconds: 90)
                #expect(code == 0, "SIGTERM: \(node.name) exited \(String(describing: code)): \(node.logTail())")
            }
            let drained = Double(wallMilliseconds() - stopAt) / 1000
            for node in nodes { #expect(!FileManager.default.fileExists(atPath: node.ledger), "\(node.name) made an SQLite ledger") }

            // The shared ledger's runs, each with the node that recorded it.
            var nodeOfRun: [Int64: String] = [:]
            for row in try ledger.session.query("SELECT id, node FROM runs") {
                let columns = row.makeRandomAccess()
                nodeOfRun[try columns["id"].decode(Int64.self)] = try columns["node"].decode(String?.self) ?? "(none)"
            }
            let all = try ledger.recentRuns(job: nil, limit: 1_000_000)
            var runs: [String: [RunInfo]] = [:]
            for run in all { runs[nodeOfRun[run.id] ?? "(none)", default: []].append(run) }
            #expect(Set(runs.keys).isSubset(of: Set(nodes.map(\.name))), "runs recorded under no node of the cluster: \(runs.keys.sorted())")

            // Fires: none twice; each recorded once in the ledger (the unique (job, scheduled_at)
            // index), under the node that claimed it, final: run or skipped by its policy (or lost
            // to a SIGKILL right after the claim, before the node recorded it: the known gap).
            let duplicates = try await db.duplicateFires()
            #expect(duplicates == 0, "(job, scheduled_at) claimed twice: \(duplicates)")
            let jobs = ["tick", "marketplace-sync", "nightly-repricing", "readiness-scan", "shipping-arbitrage"]
            var statuses: [String: Int] = [:]
            var firesByJob: [String: Int] = [:]
            var lostToKill = 0
            for job in jobs {
                let fires = try await db.fires(job: job)
                firesByJob[job] = fires.count
                let recorded = all.filter { $0.job == job && $0.scheduledAt != nil }
                #expect(Set(recorded.compactMap(\.scheduledAt)).count == recorded.count, "a \(job) slot recorded twice")
                let claimed = Set(fires.map(\.scheduledAt))
                let unclaimed = recorded.filter { !claimed.contains($0.scheduledAt ?? 0) }
                #expect(unclaimed.isEmpty, "\(job) runs of slots nobody claimed: \(unclaimed.map { "\($0.id) slot \($0.scheduledAt ?? 0)" })")
                for fire in fires {
                    let holders = recorded.filter { $0.scheduledAt == fire.scheduledAt }
                    #expect(holders.allSatisfy { nodeOfRun[$0.id] == fire.node }, "\(job) slot \(fire.scheduledAt) claimed by \(fire.node), recorded by \(holders.map { nodeOfRun[$0.id] ?? "?" })")
                    if let run = holders.first {
                        #expect(run.status.isFinal, "\(job) slot \(fire.scheduledAt) (run \(run.id), \(fire.node)) is \(run.status.rawValue), neither run to the end nor skipped")
                    } else {
                        let killedRightAfter = kills.contains { $0.node == fire.node && $0.at >= fire.claimedAt && $0.at - fire.claimedAt <= 2000 }
                        #expect(killedRightAfter, "\(fire.node) claimed \(job) slot \(fire.scheduledAt) and recorded no run, yet was not killed right after")
                        lostToKill += 1
                    }
                }
            }
            for run in all {
                statuses[run.job + " " + run.status.rawValue + (run.skipReason.map { " (\($0.rawValue))" } ?? ""), default: 0] += 1
                #expect(run.status.isFinal, "\(nodeOfRun[run.id] ?? "?")'s run \(run.id) (\(run.job)) is still \(run.status.rawValue) after every node drained")
            }

            // No task lost: every task of every run final, or (a run a SIGKILL interrupted, its
            // running tasks put back to pending) its key final in a run resuming it, finished.
            var taskRows: [(run: Int64, key: String, status: String)] = []
            for row in try ledger.session.query("SELECT run_id, key, status FROM tasks") {
                let columns = row.makeRandomAccess()
                taskRows.append((try columns["run_id"].decode(Int64.self), try columns["key"].decode(String.self), try columns["status"].decode(String.self)))
            }
            let finalTask: Set<String> = ["succeeded", "failed", "cancelled"]
            var finalKeys: [Int64: Set<String>] = [:]
            for task in taskRows where finalTask.contains(task.status) { finalKeys[task.run, default: []].insert(task.key) }
            let byID = Dictionary(all.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var resumers: [Int64: [Int64]] = [:]
            for run in all { if let resumed = run.resumes { resumers[resumed, default: []].append(run.id) } }
            var carried = 0, dropped = 0, replanned = 0
            var replannedJobs: [String: Int] = [:]
            /// Whether a run resuming `run` (or one resuming that, and so on) ended other than interrupted.
            func chainEnded(_ run: Int64) -> Bool {
                var frontier = resumers[run] ?? []
                while let next = frontier.popLast() {
                    if let info = byID[next], info.status.isFinal, info.status != .interrupted { return true }
                    frontier += resumers[next] ?? []
                }
                return false
            }
            var lostTasks: [String] = []
            for task in taskRows where !finalTask.contains(task.status) {
                var frontier = resumers[task.run] ?? [], taken = false
                while let next = frontier.popLast() {
                    if byID[next]?.status.isFinal == true && finalKeys[next]?.contains(task.key) == true { taken = true; break }
                    frontier += resumers[next] ?? []
                }
                if byID[task.run]?.status == .interrupted && taken { carried += 1 } else if byID[task.run]?.status == .interrupted,
                    let job = byID[task.run]?.job, Self.resumableJobs.contains(job), chainEnded(task.run) {
                    // Resumed, and the chain of resumes ended in a final run that did not plan the
                    // same key again (a resumed sweep re-plans its undecided listings by the
                    // capacity left, and groups them anew): counted and printed, not failed.
                    replanned += 1
                    replannedJobs[job, default: 0] += 1
                } else if byID[task.run]?.status == .interrupted,
                    let job = byID[task.run]?.job, !Self.resumableJobs.contains(job) {
                    // The job does not resume (`resume_interrupted = false`): its run is final as
                    // `interrupted` with the tasks it had not finished, by that policy.
                    dropped += 1
                } else {
                    lostTasks.append("run \(task.run) (\(byID[task.run]?.job ?? "?") \(byID[task.run]?.status.rawValue ?? "?"), \(nodeOfRun[task.run] ?? "?")) task \(task.key) \(task.status)")
                }
            }
            #expect(lostTasks.isEmpty, "\(lostTasks.count) tasks lost (not final, and not carried to the end by a resuming run): \(lostTasks.prefix(10))")

            let marketRuns = all.filter { Self.resumableJobs.contains($0.job) && $0.status != .skipped }
            #expect(!marketRuns.isEmpty, "no marketplace run ran")
            // Each marketplace run a SIGKILL caught is `interrupted` and resumed
            // (`resume_interrupted = true`) by the scheduler node, which took it over while its
            // node was down, or by its own node's restart; the resume finished before the drain
            // ended.
            #expect(killedMidRun >= 1, "no SIGKILL caught a marketplace run in flight")
            var resumedStatuses: [String] = []
            var takenOver = 0
            for caught in inFlight {
                let run = byID[caught.run]
                #expect(run?.status == .interrupted, "\(caught.node)'s \(caught.job) run \(caught.run), caught by a SIGKILL, is \(run?.status.rawValue ?? "gone")")
                let resumer = all.first { $0.resumes == caught.run }
                #expect(resumer?.status.isFinal == true, "\(caught.node)'s \(caught.job) run \(caught.run) not resumed to the end: \(resumer.map { "run \($0.id) \($0.status.rawValue)" } ?? "no run resumes it")")
                let adopted = run?.error?.contains("taken over by node") == true
                if adopted { takenOver += 1 }
                #expect(resumer.map { nodeOfRun[$0.id] == caught.node || adopted } != false,
                        "\(caught.node)'s run \(caught.run) resumed by another node's run (\(resumer.flatMap { nodeOfRun[$0.id] } ?? "?")) without being taken over: \(run?.error ?? "-")")
                resumedStatuses.append("\(caught.job) \(caught.run)→\(resumer.map { "\($0.id) \($0.status.rawValue)" } ?? "none")"
                                       + (adopted ? " on \(resumer.flatMap { nodeOfRun[$0.id] } ?? "?") (taken over)" : ""))
            }
            let durations = marketRuns.compactMap { run in run.finishedAt.flatMap { end in run.startedAt.map { end - $0 } } }

            // The largest gap in firing (the 2 s job) around each SIGKILL of the scheduler node.
            let tickClaims = try await db.fires().map(\.claimedAt)
            let failovers = try Self.checkFailovers(claims: tickClaims, kills: kills, count: Self.marketSchedulerKills)

            // The sandbox's update log (it carries no run id or idempotency key). "Applied twice"
            // is RepricingSweepTests' and reliability-test's notion: the same change reaching a
            // listing again, so the second update sets the values the listing's previous update
            // set (new -> new). Successive runs re-pricing a listing change something, and the
            // shipped sync (push_price from Shopify) and sweep legitimately move the same eBay
            // price back and forth, so equal transitions at different times are not duplicates.
            // An update changing nothing that is the listing's first (or follows an order's
            // quantity change, outside the log) is a redundant push of the current value, not a
            // second application: counted and printed, not failed.
            let updates = sandbox.state.updates
            let resent = updates.filter { $0.oldPriceMicros == $0.newPriceMicros && $0.oldQuantity == $0.newQuantity }
            let priceUpdates = updates.filter { $0.oldPriceMicros != $0.newPriceMicros }
            let stockUpdates = updates.filter { $0.oldQuantity != $0.newQuantity }
            var repeated: [AppliedUpdate] = []
            for (_, list) in Dictionary(grouping: updates, by: { "\($0.marketplace.rawValue)/\($0.sku)" }) {
                let ordered = list.sorted { $0.sequence < $1.sequence }
                for (a, b) in zip(ordered, ordered.dropFirst())
                where a.newPriceMicros == b.newPriceMicros && a.newQuantity == b.newQuantity { repeated.append(b) }
            }
            // For each such update: the listing's whole history, the kills and the runs around it.
            for update in resent + repeated {
                let history = updates.filter { $0.marketplace == update.marketplace && $0.sku == update.sku }
                    .map { "#\($0.sequence) \($0.oldPriceMicros)→\($0.newPriceMicros) qty \($0.oldQuantity)→\($0.newQuantity) at \($0.atMilliseconds - began) ms" }
                let around = all.filter { run in (run.startedAt ?? .max) <= update.atMilliseconds + 100 && (run.finishedAt ?? .max) >= update.atMilliseconds - 100 && run.job != "tick" }
                    .map { "\(nodeOfRun[$0.id] ?? "?") \($0.job) run \($0.id) (resumes \($0.resumes.map(String.init) ?? "-")) \($0.status.rawValue) \(($0.startedAt ?? 0) - began)…\(($0.finishedAt ?? 0) - began) ms" }
                let pushes = ((try? ledger.session.query("""
                    SELECT run_id, live_quantity, quantity, price_micros, status FROM sync_pushes WHERE marketplace = $1 AND sku = $2 ORDER BY id
                    """, [.text(update.marketplace.rawValue), .text(update.sku)])) ?? []).map { row in
                    let c = row.makeRandomAccess()
                    let run = (try? c["run_id"].decode(Int64.self)) ?? 0
                    return "\(nodeOfRun[run] ?? "?") run \(run) live qty \((try? c["live_quantity"].decode(Int64.self)) ?? -1) → qty \(((try? c["quantity"].decode(Int64?.self)) ?? nil).map(String.init) ?? "-") price \(((try? c["price_micros"].decode(Int64?.self)) ?? nil).map(String.init) ?? "-") \((try? c["status"].decode(String.self)) ?? "?")"
                }
                print("cluster shipped jobs: update #\(update.sequence) \(update.marketplace.rawValue) \(update.sku): sync pushes \(pushes); history \(history); kills \(kills.map { "\($0.node) at \($0.at - began) ms" }); runs then \(around)")
            }
            // Which sweeps decided each repeated price: a decision is one per (sweep, listing), so a
            // repeat that two sweeps both decided and applied (or a quantity two sync runs, by the
            // first runs of their chains, pushed) is two runs making the same change; otherwise it
            // is one run's (chain's) change applied twice.
            var sweepsSetting: [String: Set<Int64>] = [:]
            for row in try ledger.session.query("SELECT sweep_id, marketplace, sku, new_price_micros FROM decisions WHERE state = 'applied' AND new_price_micros IS NOT NULL") {
                let c = row.makeRandomAccess()
                let key = "\(try c["marketplace"].decode(String.self))/\(try c["sku"].decode(String.self))/\(try c["new_price_micros"].decode(Int64.self))"
                sweepsSetting[key, default: []].insert(try c["sweep_id"].decode(Int64.self))
            }
            // And which sync runs pushed each quantity (by the first run of their chain of resumes).
            func chainRoot(_ run: Int64) -> Int64 {
                var id = run
                for _ in 0..<1000 { guard let up = byID[id]?.resumes else { break }; id = up }
                return id
            }
            var syncsPushing: [String: Set<Int64>] = [:]
            for row in try ledger.session.query("SELECT run_id, marketplace, sku, quantity FROM sync_pushes WHERE status IN ('intent', 'applied') AND quantity IS NOT NULL") {
                let c = row.makeRandomAccess()
                let key = "\(try c["marketplace"].decode(String.self))/\(try c["sku"].decode(String.self))/\(try c["quantity"].decode(Int64.self))"
                syncsPushing[key, default: []].insert(chainRoot(try c["run_id"].decode(Int64.self)))
            }
            let (bySeveralSweeps, byOneRun) = repeated.reduce(into: ([AppliedUpdate](), [AppliedUpdate]())) { split, update in
                let sweeps = sweepsSetting["\(update.marketplace.rawValue)/\(update.sku)/\(update.newPriceMicros)", default: []]
                let syncs = syncsPushing["\(update.marketplace.rawValue)/\(update.sku)/\(update.newQuantity)", default: []]
                if sweeps.count >= 2 || syncs.count >= 2 {
                    split.0.append(update)
                } else {
                    split.1.append(update)
                }
            }
            // Every marketplace strict (README, Amazon price updates; the shipped sync pushes stock only).
            #expect(byOneRun.isEmpty, "a change applied twice by one run (its chain of resumes): a listing's update setting the price and quantity its previous update set: \(byOneRun.prefix(8).map { "\($0.marketplace.rawValue) \($0.sku) #\($0.sequence)" })")
            // Two runs of one job on different nodes made the same change (seed 66940014: 294
            // updates) before each run held its job's cluster-wide run lease (`ClusterJobRunTests`):
            // a SIGKILLed node, restarted, resumed its sweep or sync while the new scheduler node's
            // run of the job went, or after it had applied the same change.
            #expect(bySeveralSweeps.isEmpty, "\(bySeveralSweeps.count) updates repeating the listing's previous update, each price decided and applied by two or more sweeps or each quantity pushed by two or more sync runs: \(bySeveralSweeps.prefix(8).map { "\($0.marketplace.rawValue) \($0.sku) #\($0.sequence) sweeps \(sweepsSetting["\($0.marketplace.rawValue)/\($0.sku)/\($0.newPriceMicros)", default: []].sorted())" })")
            #expect(!priceUpdates.isEmpty, "no price update reached the sandbox: the marketplace runs did nothing")

            // Order lines: each placed order counted exactly once in the shared ledger (primary
            // key), by some node (a marketplace-sync ran after it).
            var linesPerOrder: [String: Int64] = [:]
            for row in try ledger.session.query("SELECT marketplace, order_id, count(*)::BIGINT AS n FROM sync_order_lines GROUP BY marketplace, order_id") {
                let columns = row.makeRandomAccess()
                linesPerOrder[try columns["marketplace"].decode(String.self) + "/" + columns["order_id"].decode(String.self)] = try columns["n"].decode(Int64.self)
            }
            for order in placed {
                let count = linesPerOrder["\(order.marketplace.rawValue)/\(order.orderID)"] ?? 0
                #expect(count == 1, "order \(order.orderID) (\(order.sku)) has \(count) lines in the ledger, not 1")
            }
            let oversells = sandbox.state.oversells.count

            let took = Double(wallMilliseconds() - began) / 1000
            // What the job run leases did, from the nodes' journals (stderr), and why runs were cancelled.
            let journals = nodes.map { (try? String(contentsOfFile: $0.log, encoding: .utf8)) ?? "" }
            let leaseEvents = ["run-superseded", "run-lease-waiting", "run-lease-lost", "run-lease-failed", "run-replaced"].map { event in
                "\(event) \(journals.map { $0.components(separatedBy: event).count - 1 }.reduce(0, +))"
            }
            let cancelled = all.filter { $0.status == .cancelled }.map { "\($0.job) run \($0.id): \($0.error ?? "-")" }
            // The runs' tasks went through the task queue (kept an hour): which node ran each,
            // whose run it was, how many were claimed again after their node died, by kind (the
            // key up to its first colon: decide, apply, orders, push, quote, …).
            var queued = 0, elsewhere = 0, reclaimed = 0, byHolder: [String: Int] = [:], byEnding: [String: Int] = [:]
            var byKind: [String: (queued: Int, elsewhere: Int)] = [:]
            for row in try ledger.session.query("""
                SELECT COALESCE(lease_holder, '') AS holder, COALESCE(origin_node, '') AS origin, attempts::BIGINT AS attempts,
                       state, COALESCE(outcome, '') AS outcome, task_key FROM flipsync_cluster_tasks
                """) {
                let columns = row.makeRandomAccess()
                let holder = try columns["holder"].decode(String.self), origin = try columns["origin"].decode(String.self)
                let kind = String(try columns["task_key"].decode(String.self).prefix { $0 != ":" })
                queued += 1
                byKind[kind, default: (0, 0)].queued += 1
                if !holder.isEmpty && holder != origin {
                    elsewhere += 1
                    byKind[kind, default: (0, 0)].elsewhere += 1
                }
                if try columns["attempts"].decode(Int64.self) > 1 { reclaimed += 1 }
                byHolder[holder.isEmpty ? "-" : holder, default: 0] += 1
                byEnding[try columns["state"].decode(String.self) + "/" + columns["outcome"].decode(String.self), default: 0] += 1
            }
            #expect(queued > 0 && elsewhere > 0, "the runs' tasks ran on other nodes than their run's: \(elsewhere) of \(queued)")
            // Every job kind but the readiness scan sends its tasks through the queue: the
            // sweep's reads, decisions and price changes, the sync's pulls and pushes, the
            // shipping run's orders and quotes.
            let kinds = Set(byKind.keys)
            #expect(kinds.isSuperset(of: ["listings", "decide", "apply", "orders", "push", "recheck"]), "queued kinds: \(kinds.sorted())")
            #expect(kinds.isDisjoint(with: ["packaging", "plan", "score", "database", "marketplace", "scheduler", "pool", "spend"]), "queued kinds: \(kinds.sorted())")
            print("""
                cluster shipped jobs: task queue \(queued) tasks (by kind, queued/run elsewhere: \(byKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.queued)/\($0.value.elsewhere)" }.joined(separator: ", "))), \(elsewhere) run on another node than their run's, \(reclaimed) claimed again after their node died; by node \(byHolder.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); by ending \(byEnding.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                """)
            print("""
                cluster shipped jobs: job run leases: \(leaseEvents.joined(separator: ", ")); runs skipped by another node's run \(all.filter { $0.status == .skipped && ($0.summary ?? "").hasPrefix("overlap: run ") }.count), resumes superseded \(all.filter { $0.status == .skipped && ($0.summary ?? "").hasPrefix("superseded: ") }.count); cancelled runs \(cancelled)
                cluster shipped jobs: \(kills.count) SIGKILLs (\(kills.filter(\.scheduler).count) of the scheduler node, \(notMidRun) of them with no marketplace run going within 8 s; \
                \(kills.filter { !$0.scheduler }.count) of others; \(killedMidRun) marketplace runs caught in flight) over \(String(format: "%.0f", took)) s, drain of all three \(String(format: "%.1f", drained)) s; \
                fires \(jobs.map { "\($0) \(firesByJob[$0] ?? 0)" }.joined(separator: ", ")); \(duplicates) claimed twice; \(lostToKill) claimed but lost to a SIGKILL; \
                runs \(all.count) in the shared ledger (by node \(runs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.count)" }.joined(separator: ", ")); \
                \(marketRuns.count) marketplace runs not skipped, longest \(durations.max() ?? 0) ms); \
                tasks \(taskRows.count), \(lostTasks.count) lost, \(carried) left pending in an interrupted run and finished by its resumer, \(dropped) left with an interrupted run of a job that does not resume, \(replanned) left in an interrupted run whose resumed chain finished without that key (\(replannedJobs.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))); \
                caught in flight and resumed: \(resumedStatuses) (\(takenOver) taken over by the scheduler node), by job and status \(statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                cluster shipped jobs: after each scheduler SIGKILL, gap between fires of the 2 s job (ms) \(failovers.map(\.gap)), first fire after the kill (ms) \(failovers.map(\.takeover)); \
                max gap \(failovers.map(\.gap).max() ?? 0) ms (bound \(Self.gapBoundMilliseconds)), max kill-to-fire \(failovers.map(\.takeover).max() ?? 0) ms
                cluster shipped jobs: sandbox update log \(updates.count) updates (\(priceUpdates.count) changing a price, \(stockUpdates.count) a quantity; \
                by marketplace \(Dictionary(grouping: updates, by: \.marketplace.rawValue).map { "\($0.key) \($0.value.count)" }.sorted().joined(separator: ", "))), \
                \(resent.count) changing nothing (redundant pushes: \(resent.map { "\($0.marketplace.rawValue) \($0.sku) #\($0.sequence)" })), \(repeated.count) repeating the listing's previous update (\(bySeveralSweeps.count) of them a change two or more runs made, \(byOneRun.count) one run's change applied twice); \(placed.count) orders placed, \
                \(placed.filter { linesPerOrder["\($0.marketplace.rawValue)/\($0.orderID)"] == 1 }.count) counted once in the ledger; sandbox oversells \(oversells)
                """)
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    @Test("two flipsyncd processes on one PostgreSQL ledger: a node SIGKILLed in the middle of a sweep and never restarted; the scheduler node takes its run over (interrupted, its node kept, the error naming both) and resumes it to the end, within 20 s of the kill")
    func deadNodesRunTakenOver() async throws {
        let (daemon, seed) = try ClusterRig.daemonAndSeed()
        let server = try server()
        let (endpoint, scratch, sandbox) = try await Self.marketWorld(server, seed: seed)
        do {
            let nodes = try Self.makeMarketNodes(["node-a", "node-b"], scratch: scratch, endpoint: endpoint, baseURL: sandbox.baseURL)
            // No fire of the shipped jobs during the test (1 January only): the one sweep is
            // started by hand, and no newer run of it supersedes the resume.
            for file in try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/jobs") where file != "tick.toml" {
                let path = scratch.path + "/jobs/" + file
                let text = try String(contentsOfFile: path, encoding: .utf8)
                try text.replacingOccurrences(of: "schedule = \"*-*-* *:*:0/5\"", with: "schedule = \"*-01-01 00:00:00\"")
                    .write(toFile: path, atomically: true, encoding: .utf8)
            }
            let rig = ClusterRig(daemon: daemon, scratch: scratch, endpoint: endpoint, password: server.password, nodes: nodes)
            defer { rig.stop() }
            let db = rig.db
            func logs() -> String { rig.logs() }
            let began = wallMilliseconds()
            try rig.startAll()
            try await db.waitFor("two nodes heartbeating and a scheduler", seconds: 60, logs: logs) {
                let live = try await db.liveNodes(since: began).count
                let holder = try await db.holder()
                return live == 2 && holder != nil
            }
            let ledger = try PostgresLedger(endpoint: endpoint, password: server.password)
            defer { ledger.close() }
            // The node that will die is the one that does not schedule: the scheduler node takes
            // its run over. (A dead scheduler node's runs are taken over the same way, once
            // another node holds the lease; `shippedJobsUnderKills` counts those.)
            let survivorName = try #require(try await db.holder())
            let survivor = try #require(nodes.first { $0.name == survivorName })
            let doomed = try #require(nodes.first { $0.name != survivorName })
            let asked = try flipsyncctl(["run", "nightly-repricing", "--config", doomed.config])
            #expect(asked.status == 0, "flipsyncctl run: \(asked.output) \(asked.error)")
            var caught: [Int64] = []
            try await db.waitFor("the sweep going on \(doomed.name)", seconds: 30, logs: logs) {
                caught = try ledger.session.query("""
                    SELECT id FROM runs WHERE node = $1 AND status = 'running' AND job = 'nightly-repricing'
                    """, [.text(doomed.name)]).map { try $0.makeRandomAccess()["id"].decode(Int64.self) }
                return !caught.isEmpty
            }
            // Into the sweep: its listings read, some decide tasks done.
            try await Task.sleep(for: .milliseconds(700))
            let killedAt = wallMilliseconds()
            doomed.kill()
            let stillRunning = try ledger.session.query("SELECT id FROM runs WHERE node = $1 AND status = 'running'", [.text(doomed.name)])
                .map { try $0.makeRandomAccess()["id"].decode(Int64.self) }
            let interrupted = Set(caught).intersection(stillRunning)
            try #require(!interrupted.isEmpty, "the kill came after the run ended; nothing to take over")
            // Each run the kill caught: resumed by the survivor, to the end.
            var resumers: [Int64: RunInfo] = [:]
            func takeoverLines() -> String {
                logs() + "\n--- \(survivor.name), lines about the takeover:\n"
                    + survivor.logTail(2_000_000).split(separator: "\n")
                    .filter { $0.contains("adopt") || $0.contains("resum") || $0.contains("superseded") || $0.contains("run-lease") }
                    .joined(separator: "\n")
            }
            try await db.waitFor("the dead node's runs resumed to the end by \(survivor.name)", seconds: 60, logs: takeoverLines) {
                for id in interrupted where resumers[id]?.status.isFinal != true {
                    if let resumer = try ledger.recentRuns(job: nil, limit: 10_000).first(where: { $0.resumes == id }) { resumers[id] = resumer }
                }
                return interrupted.allSatisfy { resumers[$0]?.status.isFinal == true }
            }
            #expect(survivor.terminate(seconds: 90) == 0, "SIGTERM: \(survivor.logTail())")
            var latencies: [Int64] = []
            for id in interrupted.sorted() {
                let run = try #require(try ledger.run(id: id))
                let resumer = try #require(resumers[id])
                let node = try ledger.node(ofRun: id)
                #expect(run.status == .interrupted && node == doomed.name, "run \(id): \(run.status.rawValue) on \(node ?? "-")")
                #expect(run.error == "node \(doomed.name) stopped heartbeating while the run was going; taken over by node \(survivor.name)",
                        "run \(id): \(run.error ?? "-")")
                #expect(try ledger.node(ofRun: resumer.id) == survivor.name)
                #expect(resumer.status == .succeeded, "the resume \(resumer.id): \(resumer.status.rawValue) \(resumer.error ?? "")")
                latencies.append(resumer.createdAt - killedAt)
            }
            #expect(latencies.allSatisfy { $0 <= 20_000 }, "kill to resume (ms): \(latencies)")
            #expect(survivor.logTail(200_000).contains("run-adopted"), "the survivor journaled the takeover")
            let carried = try interrupted.reduce(0) { $0 + (try ledger.tasks(runID: $1).filter { $0.status == .succeeded }.count) }
            print("cluster takeover: \(interrupted.count) run(s) of \(doomed.name) caught by the SIGKILL with \(carried) tasks succeeded, resumed by \(survivor.name) "
                  + "\(latencies.map { "\($0) ms" }) after the kill, each to the end")
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    /// A fresh database, a scratch directory holding the market credentials (the PostgreSQL
    /// password among them), and a loopback sandbox of 80 listings of `seed` using them.
    static func marketWorld(_ server: TestPostgres, seed: UInt64) async throws
        -> (endpoint: ClusterEndpoint, scratch: Scratch, sandbox: SandboxServer) {
        let endpoint = try await server.freshDatabase()
        let scratch = Scratch()
        let credentials = scratch.path + "/credentials"
        try Self.writeMarketCredentials(credentials, password: server.password)
        var sandboxConfiguration = SandboxConfiguration(port: 0, seed: seed, listings: 80)
        try SandboxCredentialFiles.load(directory: credentials, into: &sandboxConfiguration)
        return (endpoint, scratch, try await SandboxServer.start(sandboxConfiguration, logger: quietLogger))
    }

    /// The gap in firing around each SIGKILL of the scheduler node, from the claims of the 2 s job
    /// (ms, the database's clock = this machine's): from the last claim before the kill to the
    /// first at or after it, and from the kill to that first claim. Expects `count` of them and
    /// every gap within `gapBoundMilliseconds`.
    fileprivate static func checkFailovers(claims: [Int64], kills: [Kill], count: Int) throws -> [(gap: Int64, takeover: Int64)] {
        let claims = claims.sorted()
        var failovers: [(gap: Int64, takeover: Int64)] = []
        for kill in kills where kill.scheduler {
            let before = try #require(claims.last { $0 < kill.at }), after = try #require(claims.first { $0 >= kill.at })
            failovers.append((after - before, after - kill.at))
        }
        let maxGap = failovers.map(\.gap).max() ?? 0
        #expect(maxGap <= gapBoundMilliseconds, "largest gap in firing around a scheduler SIGKILL: \(maxGap) ms; bound \(gapBoundMilliseconds) ms")
        #expect(failovers.count == count)
        return failovers
    }

    static func writeMarketCredentials(_ directory: String, password: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var values = ["postgres-password": password]
        for name in SandboxCredentialFiles.groups.joined() { values[name] = "\(name)-\(UUID().uuidString)" }
        for (name, value) in values {
            _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data((value + "\n").utf8),
                                               attributes: [.posixPermissions: 0o600])
        }
    }

    /// A cheap job that needs no network, firing every 2 s: the readiness scan's database probe alone.
    static let tickJob = """
        name = "tick"
        kind = "readiness-scan"
        schedule = "*-*-* *:*:0/2"
        timezone = "UTC"
        overlap = "queue"
        catch_up = "all"
        catch_up_window = "1h"
        timeout = "1m"
        [params]
        probes = ["database"]
        database_operations = 10
        """

    /// Three nodes on `endpoint`, the cluster and the one run ledger they share (`[daemon]
    /// database` is `endpoint` too), with reliability-test's daemon config (every endpoint on the
    /// sandbox at `baseURL`), and a jobs directory holding copies of the shipped `jobs/*.toml`,
    /// each rewritten to fire every 5 s (no jitter), plus the 2 s job.
    static func makeMarketNodes(_ names: [String], scratch: Scratch, endpoint: ClusterEndpoint, baseURL: String) throws -> [DaemonNode] {
        let jobs = scratch.path + "/jobs", credentials = scratch.path + "/credentials"
        try FileManager.default.createDirectory(atPath: jobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path + "/config", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: packageRoot + "/config/packaging.csv", toPath: scratch.path + "/config/packaging.csv")
        for file in try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/jobs") where file.hasSuffix(".toml") {
            let text = try String(contentsOfFile: packageRoot + "/jobs/" + file, encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
                if line.hasPrefix("schedule ") || line.hasPrefix("schedule=") { return "schedule = \"*-*-* *:*:0/5\"" }
                if line.hasPrefix("jitter") { return nil }
                return String(line)
            }
            _ = scratch.write("jobs/" + file, lines.joined(separator: "\n"))
        }
        _ = scratch.write("jobs/tick.toml", Self.tickJob)
        let template = try String(contentsOfFile: packageRoot + "/scripts/reliability/flipsync.toml.in", encoding: .utf8)
        let rateCards = ["usps-ground-advantage", "ups-ground"].map { "\"\(packageRoot)/config/rate-cards/\($0).toml\"" }.joined(separator: ", ")
        return try names.map { name in
            let directory = scratch.path + "/" + name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let config = template
                .replacingOccurrences(of: "\"@STATE@/flipsync.sqlite\"", with: "\"\(endpoint)\"")
                .replacingOccurrences(of: "\"@STATE@/flipsyncd.sock\"", with: "\"\(directory)/control.sock\"")
                .replacingOccurrences(of: "@BASE@", with: baseURL)
                .replacingOccurrences(of: "@JOBS@", with: jobs)
                .replacingOccurrences(of: "@CREDENTIALS@", with: credentials)
                .replacingOccurrences(of: "@LOG_LEVEL@", with: "info")
                // A pool smaller than a sweep's concurrency (16): a node holds at most 6 tasks,
                // so a sweep's decide tasks overflow to the other nodes whatever the timing (with
                // 64, the run's own node, woken in-process, could take every one).
                .replacingOccurrences(of: "pool_size = 64", with: "pool_size = 6")
                .replacingOccurrences(of: "drain_timeout = \"5s\"", with: """
                    drain_timeout = "60s"
                    rate_cards = [\(rateCards)]
                    cluster = "postgres://\(endpoint.user)@\(endpoint.host):\(endpoint.port)/\(endpoint.database)?sslmode=disable"
                    node_name = "\(name)"
                    """)
            let path = scratch.write("\(name)/flipsync.toml", config)
            return DaemonNode(name: name, directory: directory, config: path)
        }
    }

    /// Three nodes' directories and configs, all on `endpoint`, with one job firing every 2 s
    /// and the credential `postgres-password`.
    static func makeNodes(_ names: [String], scratch: Scratch, endpoint: ClusterEndpoint, password: String) throws -> [DaemonNode] {
        let jobs = scratch.path + "/jobs", credentials = scratch.path + "/credentials"
        try FileManager.default.createDirectory(atPath: jobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = scratch.write("jobs/tick.toml", Self.tickJob)
        _ = FileManager.default.createFile(atPath: credentials + "/postgres-password", contents: Data((password + "\n").utf8),
                                           attributes: [.posixPermissions: 0o600])
        return try names.map { name in
            let directory = scratch.path + "/" + name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let config = scratch.write("\(name)/flipsync.toml", """
                [daemon]
                database = "\(directory)/ledger.sqlite"
                jobs_directory = "\(jobs)"
                control_socket = "\(directory)/control.sock"
                credentials_directory = "\(credentials)"
                drain_timeout = "5s"
                cluster = "postgres://\(endpoint.user)@\(endpoint.host):\(endpoint.port)/\(endpoint.database)?sslmode=disable"
                node_name = "\(name)"
                """)
            return DaemonNode(name: name, directory: directory, config: config)
        }
    }
}

/// One test's daemon nodes, the test's PostgreSQL client and its reads (`db`), set up the same
/// way by both tests; `stop()` on every exit path.
private final class ClusterRig {
    let daemon: String
    let nodes: [DaemonNode]
    let db: ClusterDB
    private let scratch: Scratch
    private let clientTask: Task<Void, Never>

    init(daemon: String, scratch: Scratch, endpoint: ClusterEndpoint, password: String, nodes: [DaemonNode]) {
        self.daemon = daemon
        self.scratch = scratch
        self.nodes = nodes
        let client = PostgresClient(configuration: endpoint.clientConfiguration(password: password), backgroundLogger: quietLogger)
        clientTask = Task { await client.run() }
        db = ClusterDB(client: client)
    }

    /// The built `flipsyncd` (required) and the kill plan's seed (`FLIPSYNC_CLUSTER_SEED`, else random).
    static func daemonAndSeed() throws -> (daemon: String, seed: UInt64) {
        let daemon = packageRoot + "/.build/debug/flipsyncd"
        try #require(access(daemon, X_OK) == 0, "build first: swift build --build-tests")
        let seed = ProcessInfo.processInfo.environment["FLIPSYNC_CLUSTER_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        return (daemon, seed)
    }

    func node(_ name: String) -> DaemonNode? { nodes.first { $0.name == name } }
    func logs() -> String { nodes.map { "--- \($0.name)\n\($0.logTail())" }.joined(separator: "\n") }
    func startAll() throws { for node in nodes { try node.start(daemon: daemon) } }

    /// No daemon left running, then the client stopped (the nodes' directory outlives them).
    func stop() {
        clientTask.cancel()
        for node in nodes { node.kill() }
        withExtendedLifetime(scratch) {}
    }

    /// One kill of the plan: waits for a scheduler among the live nodes, picks the target (that
    /// node, or else a seeded one of the other live nodes), runs `beforeKill`, SIGKILLs it, runs
    /// `afterKill` (the wait before the restart), restarts it and waits until it heartbeats again.
    func killAndRestart(scheduler killScheduler: Bool, random: inout SplitMix64,
                        beforeKill: (DaemonNode, inout SplitMix64) async throws -> Void = { _, _ in },
                        afterKill: (DaemonNode, Int64, inout SplitMix64) async throws -> Void) async throws -> Kill {
        var holder: String?
        try await db.waitFor("a scheduler among the live nodes", seconds: 20, logs: logs) {
            holder = try await db.holder()
            return holder.flatMap(node)?.isRunning == true
        }
        let others = nodes.filter { $0.name != holder && $0.isRunning }
        let target = try #require(killScheduler ? holder.flatMap(node) : others.randomElement(using: &random))
        try await beforeKill(target, &random)
        let at = wallMilliseconds()
        target.kill()
        try await afterKill(target, at, &random)
        let restarted = wallMilliseconds()
        try target.start(daemon: daemon)
        try await db.waitFor("\(target.name) heartbeating again", seconds: 30, logs: logs) {
            try await db.liveNodes(since: restarted).contains(target.name)
        }
        return Kill(node: target.name, scheduler: killScheduler, at: at)
    }
}

/// The test's own reads of the cluster's tables.
private struct ClusterDB {
    let client: PostgresClient

    /// Polls `condition` every 100 ms until it holds; fails after `seconds` (query errors count
    /// as "not yet": the first node may not have created the tables).
    func waitFor(_ what: String, seconds: Double, logs: () -> String, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("waited \(seconds) s for \(what); the nodes' logs:\n\(logs())")
        throw CancellationError()
    }

    /// The nodes that heartbeat since `since` (ms) and are not stopped.
    func liveNodes(since: Int64) async throws -> Set<String> {
        var out = Set<String>()
        let rows = try await client.query("SELECT node_id FROM flipsync_cluster_nodes WHERE heartbeat_at_ms >= \(since) AND stopped_at_ms IS NULL")
        for try await node in rows.decode(String.self) { out.insert(node) }
        return out
    }

    /// The holder of an unexpired scheduler lease, on the database's clock.
    func holder() async throws -> String? {
        let rows = try await client.query("""
            SELECT holder FROM flipsync_cluster_leases
            WHERE name = 'scheduler' AND expires_at_ms > (extract(epoch FROM clock_timestamp()) * 1000)::bigint
            """)
        for try await holder in rows.decode(String.self) { return holder }
        return nil
    }

    func fireCount() async throws -> Int64 {
        let rows = try await client.query("SELECT count(*) FROM flipsync_cluster_fires")
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }

    func fires(job: String = "tick") async throws -> [Fire] {
        var out: [Fire] = []
        let rows = try await client.query("SELECT scheduled_at, node_id, token, claimed_at_ms FROM flipsync_cluster_fires WHERE job = \(job) ORDER BY scheduled_at")
        for try await (at, node, token, claimed) in rows.decode((Int64, String, Int64, Int64).self) {
            out.append(Fire(scheduledAt: at, node: node, token: token, claimedAt: claimed))
        }
        return out
    }

    /// The marketplace jobs' fires (the sync and the sweep).
    func marketFires() async throws -> [Fire] {
        try await fires(job: "marketplace-sync") + fires(job: "nightly-repricing")
    }

    /// (job, scheduled_at) pairs with more than one row (the primary key should make it 0).
    func duplicateFires() async throws -> Int64 {
        let rows = try await client.query("SELECT count(*) FROM (SELECT job, scheduled_at FROM flipsync_cluster_fires GROUP BY job, scheduled_at HAVING count(*) > 1) d")
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }

    func registry() async throws -> [(node: String, pid: Int64, stopped: Bool)] {
        var out: [(node: String, pid: Int64, stopped: Bool)] = []
        let rows = try await client.query("SELECT node_id, pid, stopped_at_ms IS NOT NULL FROM flipsync_cluster_nodes ORDER BY node_id")
        for try await (node, pid, stopped) in rows.decode((String, Int64, Bool).self) { out.append((node, pid, stopped)) }
        return out
    }
}
