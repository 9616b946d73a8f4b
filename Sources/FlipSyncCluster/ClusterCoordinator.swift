import FlipSyncCore
import Foundation
import Logging
import PostgresNIO

/// Where the lease's time comes from. In production every lease decision is made on the
/// database server's clock (`clock_timestamp()`), so the nodes' own clocks may disagree without
/// harm; tests inject one virtual clock that stands for the database's.
public enum ClusterTime: Sendable {
    case database
    case injected(any SchedulerClock)

    /// The value bound for `now` in SQL: `nil` means "the database's clock".
    var parameter: Int64? {
        switch self {
        case .database: return nil
        case .injected(let clock): return clock.wallMilliseconds()
        }
    }
}

/// One node's part in a cluster of flipsyncd nodes on one PostgreSQL database: it registers the
/// node and heartbeats, acquires and renews the scheduler lease, and — as the scheduler's
/// ``FireGate`` — claims each fire once, cluster-wide, under its fencing token.
///
/// The lease: a row (`flipsync_cluster_leases`, name `scheduler`) with a holder, a fencing token
/// and an expiry on the database's clock. The holder renews it every ``Timing/renewMilliseconds``
/// for ``Timing/leaseMilliseconds``; a node without it tries to take it every
/// ``Timing/acquireMilliseconds`` and succeeds once it has expired, raising the token by one.
/// A claim of fires checks, in the same transaction that inserts them, that this node still holds
/// the lease under its token and that the lease has not expired (locking the lease row
/// `FOR SHARE`, so no takeover commits in between): a leader that was paused and wakes after a
/// takeover inserts nothing. When the holder dies, another node fires within
/// `leaseMilliseconds + acquireMilliseconds` (7 s with the defaults) of its last renewal.
public actor ClusterCoordinator: FireGate {
    public struct Timing: Sendable, Hashable {
        public var leaseMilliseconds: Int64
        public var renewMilliseconds: Int64
        public var acquireMilliseconds: Int64

        public init(leaseMilliseconds: Int64 = 6000, renewMilliseconds: Int64 = 2000, acquireMilliseconds: Int64 = 1000) {
            self.leaseMilliseconds = leaseMilliseconds
            self.renewMilliseconds = renewMilliseconds
            self.acquireMilliseconds = acquireMilliseconds
        }

        /// The longest a cluster goes without a scheduler after its holder dies (ms).
        public var failoverBoundMilliseconds: Int64 { leaseMilliseconds + acquireMilliseconds }
    }

    public static let schedulerLease = "scheduler"

    public nonisolated let nodeID: String
    /// This process's random id: which of two processes started with one `node_name` heartbeats.
    public nonisolated let instanceID: String
    public nonisolated let timing: Timing
    private let host: String
    private let pid: Int64
    let client: PostgresClient
    let time: ClusterTime
    let logger: Logger
    private var inFlight: @Sendable () async -> Int64 = { 0 }
    private var onLeadership: @Sendable (Bool) async -> Void = { _ in }
    private var registered = false
    /// The fencing token of the lease this node holds, as far as it knows; `nil` without it.
    public private(set) var token: Int64?
    /// Job run leases (``JobRunGate``): when this node last heartbeated (monotonic ms), the
    /// releases still to be written, and the leases another node asked to cancel.
    var lastHeartbeat: Int64?
    var pendingReleases: Set<JobRunLease> = []
    var cancelRequested: Set<JobRunLease> = []
    /// Whether run ids are one sequence cluster-wide (a shared PostgreSQL ledger), so a resume can
    /// tell whether another node's run started after the run it resumes (``acquire(job:run:)``).
    var sharedRunIDs = false

    public init(client: PostgresClient, nodeID: String, host: String, pid: Int64, timing: Timing = Timing(),
                time: ClusterTime = .database, instanceID: String = ClusterCoordinator.newInstanceID(), logger: Logger) {
        self.client = client
        self.nodeID = nodeID
        self.instanceID = instanceID
        self.host = host
        self.pid = pid
        self.timing = timing
        self.time = time
        self.logger = logger
    }

    /// `inFlight`: the runs this node has going (reported with each heartbeat).
    /// `onLeadership`: called with `true` when this node gains the lease, `false` when it loses it.
    public func observe(inFlight: @escaping @Sendable () async -> Int64, onLeadership: @escaping @Sendable (Bool) async -> Void) {
        self.inFlight = inFlight
        self.onLeadership = onLeadership
    }

    public nonisolated var standbyRetryMilliseconds: Int64 { timing.acquireMilliseconds }

    /// Creates or updates the cluster's tables.
    public func migrate() async throws {
        let ran = try await ClusterSchema.migrate(client, logger: logger)
        if ran > 0 { logger.notice("cluster database migrated to schema \(ClusterSchema.latestVersion)", metadata: ["event": "cluster-migrated"]) }
    }

    /// The database's time now (ms since the epoch), or the injected clock's.
    func now() async throws -> Int64 {
        if let injected = time.parameter { return injected }
        let rows = try await client.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", logger: logger)
        for try await ms in rows.decode(Int64.self) { return ms }
        throw ClusterError.noRow("clock_timestamp()")
    }

    // MARK: - Heartbeat and lease

    /// A random id for one process (128 bits, hex).
    public static func newInstanceID() -> String {
        (0..<4).map { _ in String(UInt32.random(in: .min ... .max), radix: 16) }.joined(separator: "-")
    }

    /// One heartbeat: records this node as alive, then acquires or renews the scheduler lease.
    /// Returns whether this node holds the lease afterwards.
    ///
    /// The node's name is this process's only while no other process heartbeats under it: the
    /// row is taken only when it is this instance's, or its last heartbeat is older than the lease
    /// (``Timing/leaseMilliseconds``), or that node stopped cleanly, or (on the same host) its
    /// process no longer exists. Otherwise it throws ``ClusterError/nodeNameInUse`` — at the first
    /// heartbeat (or ``join()``, which flipsyncd calls before READY=1), so a second process
    /// started with the same `node_name` refuses to start; later,
    /// when another process took the name while this one was paused past the lease, and then this
    /// node drops the scheduler lease at once (the other holds it under this name now).
    @discardableResult
    public func tick() async throws -> Bool {
        let sent = monotonicNow()
        let now = try await now()
        try await registerOrRefuse(now: now, sent: sent)
        let expires = now + timing.leaseMilliseconds
        let rows = try await client.query("""
            INSERT INTO flipsync_cluster_leases (name, holder, token, expires_at_ms)
            VALUES (\(Self.schedulerLease), \(nodeID), 1, \(expires))
            ON CONFLICT (name) DO UPDATE SET
                token = CASE WHEN flipsync_cluster_leases.holder = EXCLUDED.holder AND flipsync_cluster_leases.expires_at_ms > \(now)
                             THEN flipsync_cluster_leases.token ELSE flipsync_cluster_leases.token + 1 END,
                holder = EXCLUDED.holder,
                expires_at_ms = EXCLUDED.expires_at_ms
            WHERE flipsync_cluster_leases.holder = EXCLUDED.holder OR flipsync_cluster_leases.expires_at_ms <= \(now)
            RETURNING token
            """, logger: logger)
        var held: Int64?
        for try await token in rows.decode(Int64.self) { held = token }
        await settle(held)
        try await tendJobRunLeases()
        return held != nil
    }

    /// Registers this node (its first heartbeat, without the scheduler lease) or throws
    /// ``ClusterError/nodeNameInUse``: what flipsyncd does at start, before it says READY=1 and
    /// before its scheduler starts, so a refused process never says it is ready. The same rule as
    /// ``tick()``'s (a dead process on this host gives its name up).
    public func join() async throws {
        let sent = monotonicNow()
        try await registerOrRefuse(now: try await now(), sent: sent)
    }

    /// `sent`: the monotonic time before `now` was read, so the heartbeat written is no older.
    private func registerOrRefuse(now: Int64, sent: Int64) async throws {
        let tasks = await inFlight()
        if !(try await register(now: now, tasks: tasks, takingOver: nil)) {
            try await refusedName(now: now, tasks: tasks)
        }
        registered = true
        lastHeartbeat = sent
    }

    /// The node row's upsert, refused (false) while another live process heartbeats under the name.
    private func register(now: Int64, tasks: Int64, takingOver other: String?) async throws -> Bool {
        let first = !registered
        let stale = now - timing.leaseMilliseconds
        let rows = try await client.query("""
            INSERT INTO flipsync_cluster_nodes (node_id, host, pid, instance_id, started_at_ms, heartbeat_at_ms, tasks_in_flight, stopped_at_ms)
            VALUES (\(nodeID), \(host), \(pid), \(instanceID), \(now), \(now), \(tasks), NULL)
            ON CONFLICT (node_id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, instance_id = EXCLUDED.instance_id,
                started_at_ms = CASE WHEN \(first) THEN EXCLUDED.started_at_ms ELSE flipsync_cluster_nodes.started_at_ms END,
                heartbeat_at_ms = EXCLUDED.heartbeat_at_ms, tasks_in_flight = EXCLUDED.tasks_in_flight, stopped_at_ms = NULL
            WHERE flipsync_cluster_nodes.instance_id = EXCLUDED.instance_id
               OR flipsync_cluster_nodes.instance_id = ''
               OR flipsync_cluster_nodes.instance_id = \(other ?? "")
               OR flipsync_cluster_nodes.stopped_at_ms IS NOT NULL
               OR flipsync_cluster_nodes.heartbeat_at_ms <= \(stale)
            RETURNING node_id
            """, logger: logger)
        var taken = false
        for try await _ in rows.decode(String.self) { taken = true }
        return taken
    }

    /// Another process heartbeats under this name. At start, on this host, a process that no
    /// longer exists (SIGKILLed and restarted under the same name) gives its name up; else refused.
    private func refusedName(now: Int64, tasks: Int64) async throws {
        let rows = try await client.query("""
            SELECT host, pid, instance_id, heartbeat_at_ms FROM flipsync_cluster_nodes WHERE node_id = \(nodeID)
            """, logger: logger)
        var holder: (host: String, pid: Int64, instance: String, heartbeat: Int64)?
        for try await row in rows.decode((String, Int64, String, Int64).self) { holder = row }
        if let holder {
            if !registered, holder.host == host, !ProcessProbe.exists(pid: holder.pid),
               try await register(now: now, tasks: tasks, takingOver: holder.instance) {
                logger.notice("node name \(nodeID) was held by process \(holder.pid) on this host, which no longer exists: taken over",
                              metadata: ["event": "node-name-taken-over"])
                return
            }
        } else if try await register(now: now, tasks: tasks, takingOver: nil) {
            return  // the row went away in between
        }
        let problem = ClusterError.nodeNameInUse(node: nodeID, host: holder?.host ?? "?", pid: holder?.pid ?? 0,
                                                 heartbeatAgeMilliseconds: max(0, now - (holder?.heartbeat ?? now)),
                                                 staleAfterMilliseconds: timing.leaseMilliseconds)
        if registered {
            logger.critical("\(problem)", metadata: ["event": "node-name-in-use"])
            await settle(nil)
        }
        throw problem
    }

    private func settle(_ held: Int64?) async {
        let before = token
        token = held
        if before == nil, let held {
            logger.notice("node \(nodeID) holds the scheduler lease (fencing token \(held))", metadata: ["event": "lease-acquired"])
            await onLeadership(true)
        } else if before != nil, held == nil {
            logger.warning("node \(nodeID) lost the scheduler lease", metadata: ["event": "lease-lost"])
            await onLeadership(false)
        } else if let before, let held, before != held {
            // Expired and re-acquired: claims under the old token are refused from now on.
            logger.notice("node \(nodeID) re-acquired the scheduler lease (fencing token \(held))", metadata: ["event": "lease-acquired"])
        }
    }

    /// A clean stop: gives the lease up at once (another node takes it at its next try, without
    /// waiting for the expiry) and marks this node stopped.
    public func release() async {
        do {
            let now = try await now()
            if let token {
                try await client.query("""
                    UPDATE flipsync_cluster_leases SET expires_at_ms = \(now)
                    WHERE name = \(Self.schedulerLease) AND holder = \(nodeID) AND token = \(token)
                    """, logger: logger)
            }
            try await client.query("""
                UPDATE flipsync_cluster_nodes SET stopped_at_ms = \(now), tasks_in_flight = 0
                WHERE node_id = \(nodeID) AND instance_id = \(instanceID)
                """, logger: logger)
            await settle(nil)
        } catch {
            logger.error("cannot release the scheduler lease (it expires by itself): \(String(reflecting: error))")
        }
    }

    /// Heartbeats and keeps the lease (renewing every `renewMilliseconds` while held, trying every
    /// `acquireMilliseconds` otherwise) until cancelled, then releases it. `sleep` is the
    /// scheduler's clock.
    public func run(sleepingOn clock: any SchedulerClock) async throws {
        var lostName: ClusterError?
        while !Task.isCancelled {
            do {
                try await tick()
            } catch let error as ClusterError where error.isNodeNameInUse {
                // Another process heartbeats under this name: this node stops (the daemon with it).
                lostName = error
                break
            } catch {
                logger.error("cluster heartbeat failed: \(String(reflecting: error))", metadata: ["event": "cluster-unreachable"])
            }
            do {
                try await clock.sleep(milliseconds: token != nil ? timing.renewMilliseconds : timing.acquireMilliseconds)
            } catch {
                break
            }
        }
        // In a task of its own: this one is cancelled (that is how it stops), and a cancelled
        // task's queries are cancelled too.
        if let lostName { throw lostName }
        let releasing = Task { await self.release() }
        // Bounded: with the database unreachable, the release's queries would wait for a
        // connection for as long as the pool retries. The lease expires by itself.
        let bound = Task {
            try? await Task.sleep(for: .milliseconds(Self.releaseBoundMilliseconds))
            releasing.cancel()
        }
        await releasing.value
        bound.cancel()
    }

    /// How long a stopping node tries to give its lease up before leaving it to expire.
    static let releaseBoundMilliseconds: Int64 = 3000

    // MARK: - FireGate

    public func claim(_ fires: [FireKey]) async throws -> Set<FireKey>? {
        guard let token else { return nil }
        let jobs = fires.map(\.job), times = fires.map(\.scheduledAt)
        let now = time.parameter
        let nodeID = self.nodeID, logger = self.logger
        let claimed: Set<FireKey>? = try await client.withTransaction(logger: logger) { connection in
            var held = false
            let lease = try await connection.query("""
                SELECT token FROM flipsync_cluster_leases
                WHERE name = \(Self.schedulerLease) AND holder = \(nodeID) AND token = \(token)
                  AND expires_at_ms > COALESCE(\(now)::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                FOR SHARE
                """, logger: logger)
            for try await _ in lease.decode(Int64.self) { held = true }
            guard held else { return nil }
            try await connection.query("""
                INSERT INTO flipsync_cluster_fires (job, scheduled_at, node_id, token, claimed_at_ms)
                SELECT f.job, f.at, \(nodeID), \(token), COALESCE(\(now)::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                FROM unnest(\(jobs)::text[], \(times)::bigint[]) AS f(job, at)
                ON CONFLICT (job, scheduled_at) DO NOTHING
                """, logger: logger)
            // Those claimed now, and those this node claimed under this token before (a retry
            // after its own ledger failed to record them).
            let rows = try await connection.query("""
                SELECT job, scheduled_at FROM flipsync_cluster_fires
                WHERE node_id = \(nodeID) AND token = \(token)
                  AND (job, scheduled_at) IN (SELECT * FROM unnest(\(jobs)::text[], \(times)::bigint[]))
                """, logger: logger)
            var mine = Set<FireKey>()
            for try await (job, at) in rows.decode((String, Int64).self) { mine.insert(FireKey(job: job, scheduledAt: at)) }
            return mine
        }
        if claimed == nil, self.token == token { await settle(nil) }
        return claimed
    }

    public func lastFires(jobs: [String]) async throws -> [String: Int64] {
        let rows = try await client.query("""
            SELECT job, max(scheduled_at) FROM flipsync_cluster_fires WHERE job = ANY(\(jobs)::text[]) GROUP BY job
            """, logger: logger)
        var out: [String: Int64] = [:]
        for try await (job, at) in rows.decode((String, Int64).self) { out[job] = at }
        return out
    }

    /// Nodes other than this one heard from in the last `horizonMilliseconds` that are no
    /// longer live: stopped, or no heartbeat for longer than the lease (on the database's clock).
    /// Their job run leases are free by then (``freeCondition``), and a node cut off from the
    /// database has stopped its runs (``stillHeld(_:)``) before it looks lost here.
    public func lostNodes(horizonMilliseconds: Int64 = 7 * 86_400_000) async throws -> [String] {
        let now = try await now()
        let rows = try await client.query("""
            SELECT node_id FROM flipsync_cluster_nodes
            WHERE node_id <> \(nodeID) AND heartbeat_at_ms > \(now - horizonMilliseconds)
              AND (stopped_at_ms IS NOT NULL OR heartbeat_at_ms <= \(now - timing.leaseMilliseconds))
            ORDER BY node_id
            """, logger: logger)
        var out: [String] = []
        for try await node in rows.decode(String.self) { out.append(node) }
        return out
    }

    // MARK: - What operators see

    /// Every node the cluster has heard from in the last `horizonMilliseconds`, oldest first, with
    /// the tasks of the task queue each holds claimed (``ClusterTaskQueue/claimedByNode()``).
    public func nodes(horizonMilliseconds: Int64 = 7 * 86_400_000) async throws -> [ClusterNodeStatus] {
        let now = try await now()
        let rows = try await client.query("""
            SELECT n.node_id, n.host, n.pid, n.started_at_ms, n.heartbeat_at_ms, n.tasks_in_flight, n.stopped_at_ms,
                   (l.holder = n.node_id AND l.expires_at_ms > \(now)) AS holds
            FROM flipsync_cluster_nodes n LEFT JOIN flipsync_cluster_leases l ON l.name = \(Self.schedulerLease)
            WHERE n.heartbeat_at_ms > \(now - horizonMilliseconds)
            ORDER BY n.started_at_ms, n.node_id
            """, logger: logger)
        let claimed = try await ClusterTaskQueue(client: client, time: time, logger: logger).claimedByNode()
        var out: [ClusterNodeStatus] = []
        for try await (node, host, pid, started, heartbeat, tasks, stopped, holds)
            in rows.decode((String, String, Int64, Int64, Int64, Int64, Int64?, Bool?).self) {
            let age = max(0, now - heartbeat)
            let role: ClusterNodeStatus.Role = stopped != nil ? .stopped
                : holds == true ? .scheduler
                : age > timing.leaseMilliseconds ? .lost : .standby
            out.append(ClusterNodeStatus(node: node, host: host, pid: pid, startedAt: started, heartbeatAgeMilliseconds: age,
                                         role: role, tasksInFlight: tasks, tasksClaimed: Int64(claimed[node] ?? 0)))
        }
        return out
    }
}

public enum ClusterError: Error, CustomStringConvertible, Equatable {
    case noRow(String)
    case badURL(String)
    /// Another live process heartbeats under this `node_name`.
    case nodeNameInUse(node: String, host: String, pid: Int64, heartbeatAgeMilliseconds: Int64, staleAfterMilliseconds: Int64)

    public var isNodeNameInUse: Bool {
        if case .nodeNameInUse = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .noRow(let what): return "the cluster database returned no row for \(what)"
        case .badURL(let why): return why
        case let .nodeNameInUse(node, host, pid, age, stale):
            return """
                node_name "\(node)" is in use by another flipsyncd (host \(host), pid \(pid), last heartbeat \(age) ms ago): \
                give each node its own [daemon] node_name, or stop the other one (its name is free once it stops cleanly \
                or has not heartbeated for \(stale) ms)
                """
        }
    }
}

/// Whether a process exists on this host (a zombie, or no /proc entry, counts as gone).
enum ProcessProbe {
    static func exists(pid: Int64) -> Bool {
        guard pid > 0, pid <= Int64(Int32.max) else { return false }
        #if os(Linux)
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // "pid (comm) S ...": the state follows the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state != "Z" && state != "X"
        #else
        return kill(pid_t(pid), 0) == 0 || errno == EPERM
        #endif
    }
}
