import FlipSyncCore
import Logging
import PostgresNIO

/// Each job's cluster-wide run lease (`flipsync_cluster_job_runs`, one row per job), so two
/// nodes never run one job at once — the scheduler lease alone does not ensure it: a node
/// SIGKILLed mid-run and restarted resumes its run while the new scheduler node fires the job.
///
/// A run takes the lease before it starts (``acquire(job:run:)``) and gives it back when it ends.
/// The lease is free when released, or when the process holding it is no longer its node's live
/// one: the node's heartbeat is older than ``Timing/leaseMilliseconds``, the node stopped, or
/// another process now heartbeats under its name (a restart). The taking is one `INSERT … ON
/// CONFLICT DO UPDATE … WHERE free`, so two nodes racing for a job cannot both win. A node whose
/// own heartbeat has not been written for `leaseMilliseconds - acquireMilliseconds` (5 s) stops
/// its runs (``stillHeld(_:)``, checked every half second), before any other node can see the
/// lease as free.
extension ClusterCoordinator: JobRunGate {
    public nonisolated var retryMilliseconds: Int64 { timing.acquireMilliseconds }

    /// Says that run ids are one sequence cluster-wide (a PostgreSQL run ledger every node
    /// shares): a resume is then superseded only by a run with a higher id, on any node. With
    /// per-node SQLite ledgers, ids of different nodes cannot be compared, and a resume is
    /// superseded once another node's run has taken the lease since.
    public func shareRunIDs(_ shared: Bool) {
        sharedRunIDs = shared
    }

    /// SQL: whether the lease row `r` is free: released, or its holder is no longer its node's
    /// live process (heartbeat older than the lease, stopped, or replaced by a restart). Reads
    /// `now` from the statement's `clock` (``acquire(job:run:)``).
    private var freeCondition: String {
        """
        (r.released OR NOT EXISTS (
            SELECT 1 FROM flipsync_cluster_nodes n
            WHERE n.node_id = r.node_id AND n.instance_id = r.instance_id
              AND n.stopped_at_ms IS NULL AND n.heartbeat_at_ms > (SELECT ms FROM clock) - \(timing.leaseMilliseconds)))
        """
    }

    public func acquire(job: String, run: RunInfo) async throws -> JobRunVerdict {
        for _ in 0..<3 {
            // One statement takes the lease where it is free, on the database's clock.
            let now = time.parameter
            let resumes = run.resumes
            let rows = try await client.query("""
                WITH clock AS (SELECT \(now: now) AS ms)
                INSERT INTO flipsync_cluster_job_runs AS r (job, node_id, instance_id, run_id, generation, acquired_at_ms)
                VALUES (\(job), \(nodeID), \(instanceID), \(run.id), 1, (SELECT ms FROM clock))
                ON CONFLICT (job) DO UPDATE SET node_id = EXCLUDED.node_id, instance_id = EXCLUDED.instance_id,
                    run_id = EXCLUDED.run_id, generation = r.generation + 1, acquired_at_ms = EXCLUDED.acquired_at_ms,
                    released = false, cancel_requested = false
                WHERE \(unescaped: freeCondition)
                  AND (\(resumes)::bigint IS NULL
                       OR (r.run_id <= \(resumes)::bigint AND (r.node_id = \(nodeID) OR \(sharedRunIDs))))
                RETURNING generation
                """, logger: logger)
            for try await generation in rows.decode(Int64.self) {
                return .acquired(JobRunLease(job: job, generation: generation))
            }
            // Refused: held by a live run, or (a resume) a newer run took it since.
            let holder = try await client.query("""
                WITH clock AS (SELECT \(now: now) AS ms)
                SELECT r.node_id, r.run_id, r.generation, \(unescaped: freeCondition) AS free
                FROM flipsync_cluster_job_runs r WHERE r.job = \(job)
                """, logger: logger)
            for try await (node, runID, generation, free) in holder.decode((String, Int64, Int64, Bool).self) {
                let other = JobRunHolder(job: job, node: node, runID: runID, generation: generation)
                if !free { return .held(by: other) }
                if run.resumes != nil { return .superseded(by: other) }
            }
            // Freed or changed in between: ask again.
        }
        throw ClusterError.noRow("the run lease of \(job) (it changed three times while asked)")
    }

    public func release(_ lease: JobRunLease) async {
        // In a task of its own: the run's task may be cancelled (the daemon stopping), and a
        // cancelled task's queries are cancelled too.
        let released = await Task { await self.writeRelease(lease) }.value
        if !released {
            pendingReleases.insert(lease)
        }
    }

    public func stillHeld(_ lease: JobRunLease) async -> Bool {
        if cancelRequested.contains(lease) { return false }
        guard let lastHeartbeat else { return false }
        return monotonicNow() - lastHeartbeat < timing.leaseMilliseconds - timing.acquireMilliseconds
    }

    public func requestCancel(_ holder: JobRunHolder) async throws {
        try await client.query("""
            UPDATE flipsync_cluster_job_runs SET cancel_requested = true
            WHERE job = \(holder.job) AND generation = \(holder.generation) AND NOT released
            """, logger: logger)
    }

    /// The job run leases this process holds now (for tests and `nodes`).
    public func heldJobRuns() async throws -> [JobRunLease] {
        let rows = try await client.query("""
            SELECT job, generation FROM flipsync_cluster_job_runs
            WHERE node_id = \(nodeID) AND instance_id = \(instanceID) AND NOT released ORDER BY job
            """, logger: logger)
        var out: [JobRunLease] = []
        for try await (job, generation) in rows.decode((String, Int64).self) { out.append(JobRunLease(job: job, generation: generation)) }
        return out
    }

    /// At each heartbeat: writes the releases that failed before, and reads which of this
    /// process's leases another node asked to cancel (`overlap = "replace"`).
    func tendJobRunLeases() async throws {
        for lease in pendingReleases {
            if await writeRelease(lease) { pendingReleases.remove(lease) }
        }
        let rows = try await client.query("""
            SELECT job, generation FROM flipsync_cluster_job_runs
            WHERE node_id = \(nodeID) AND instance_id = \(instanceID) AND NOT released AND cancel_requested
            """, logger: logger)
        var asked = Set<JobRunLease>()
        for try await (job, generation) in rows.decode((String, Int64).self) { asked.insert(JobRunLease(job: job, generation: generation)) }
        for lease in asked.subtracting(cancelRequested) {
            logger.notice("another node asked to cancel this node's run of \(lease.job) (overlap = replace)",
                          metadata: ["event": "run-replaced", "job": "\(lease.job)"])
        }
        cancelRequested = asked
    }

    private func writeRelease(_ lease: JobRunLease) async -> Bool {
        do {
            try await client.query("""
                UPDATE flipsync_cluster_job_runs SET released = true
                WHERE job = \(lease.job) AND generation = \(lease.generation) AND instance_id = \(instanceID)
                """, logger: logger)
            cancelRequested.remove(lease)
            return true
        } catch {
            logger.error("cannot release the run lease of \(lease.job) (retried at the next heartbeat): \(String(reflecting: error))",
                         metadata: ["event": "run-lease-release-failed", "job": "\(lease.job)"])
            return false
        }
    }

    func monotonicNow() -> Int64 {
        switch time {
        case .database: return SystemSchedulerClock().monotonicMilliseconds()
        case .injected(let clock): return clock.monotonicMilliseconds()
        }
    }
}
