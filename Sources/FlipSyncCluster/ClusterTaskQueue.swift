import FlipSyncCore
import Logging
import PostgresNIO

/// One task as a node claimed it: what to do, and the lease it holds it under. `token` is the
/// lease's fencing token: ``ClusterTaskQueue/complete(_:node:)`` and the others accept a task only
/// from the node holding it under this very token.
public struct ClaimedTask: Sendable, Hashable {
    public var id: Int64
    public var run: String
    public var key: String
    public var payload: String
    public var token: Int64
    /// Claims of this task so far, this one included (releases unstarted do not count).
    public var attempts: Int32

    public init(id: Int64, run: String, key: String, payload: String, token: Int64, attempts: Int32) {
        (self.id, self.run, self.key, self.payload, self.token, self.attempts) = (id, run, key, payload, token, attempts)
    }
}

/// How a queued task ended (``ClusterTaskQueue/endings(_:)``).
public struct TaskEnding: Sendable, Hashable {
    /// `failed` in the queue: never run to its end (cancelled, or its payload unreadable).
    public var failed: Bool
    /// How it ended where it ran: `finished`, `budget_exhausted`, `abandoned`, `cancelled`.
    public var outcome: String?
    public var message: String?
}

public enum ClusterTaskQueueError: Error, CustomStringConvertible {
    case noRow
    case badState(Int64, String)
    public var description: String {
        switch self {
        case .noRow: return "the task queue returned no row"
        case .badState(let id, let state): return "task \(id) has an unknown state \"\(state)\""
        }
    }
}

/// A task's row as operators and tests see it.
public struct ClusterTaskRow: Sendable, Hashable {
    public enum State: String, Sendable { case pending, claimed, done, failed }
    public var id: Int64
    public var run: String
    public var key: String
    public var state: State
    public var holder: String?
    public var token: Int64
    public var attempts: Int32
    public var error: String?
    /// The node whose run enqueued it (nil: enqueued by `enqueue(run:tasks:)`).
    public var origin: String? = nil
    /// How it ended where it ran (see ``TaskEnding``).
    public var outcome: String? = nil
}

/// Tasks claimed, not assigned: every node with room in its pool claims pending tasks from one
/// PostgreSQL table with `FOR UPDATE SKIP LOCKED` (two nodes never claim the same task, and never
/// wait on each other's rows), each under a lease (holder, expiry) that the node extends with
/// ``renew(node:leaseMilliseconds:)``. A node that dies stops extending its leases; once they
/// have expired any node claims those tasks again, with a new fencing token, and the dead node's
/// late `complete`/`fail`/`finish` is refused. Every time is the database's clock (or the
/// injected one in tests), so the nodes' clocks may disagree.
///
/// A node stopping (`systemctl stop`) gives back what it will not finish with
/// ``release(_:node:)``; a node's new process frees what its dead predecessor held with
/// ``releaseHeld(node:)`` (both in ``ClusterTaskWorker``).
public actor ClusterTaskQueue {
    private let client: PostgresClient
    private let time: ClusterTime
    private let logger: Logger

    /// Enqueues and endings, several to a statement under load.
    private let writes: QueueWrites

    /// `statementMilliseconds`: how long a coalesced enqueue or ending statement may take.
    public init(client: PostgresClient, time: ClusterTime = .database, logger: Logger, statementMilliseconds: Int64 = 10_000) {
        self.client = client
        self.time = time
        self.logger = logger
        writes = QueueWrites(client: client, time: time, logger: logger, statementMilliseconds: statementMilliseconds)
    }

    /// Statements written for enqueues and endings so far (for tests and the bench).
    public nonisolated var coalescedStatements: (enqueues: Int, finishes: Int) {
        (writes.enqueues.batchesWritten, writes.finishes.batchesWritten)
    }

    /// Adds a run's tasks (key → payload), once: a (run, key) already enqueued is left as it is.
    /// Returns how many were new.
    @discardableResult
    public func enqueue(run: String, tasks: [(key: String, payload: String)]) async throws -> Int {
        guard !tasks.isEmpty else { return 0 }
        let keys = tasks.map(\.key), payloads = tasks.map(\.payload)
        let now = time.parameter
        let rows = try await client.query("""
            INSERT INTO flipsync_cluster_tasks (run_id, task_key, payload, enqueued_at_ms)
            SELECT \(run), t.key, t.payload, \(now: now)
            FROM unnest(\(keys)::text[], \(payloads)::text[]) AS t(key, payload)
            ON CONFLICT (run_id, task_key) DO NOTHING
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows.decode(Int64.self) { count += 1 }
        return count
    }

    /// Claims up to `limit` tasks for `node`, oldest first: pending ones, and claimed ones whose
    /// lease has expired (their holder is gone or cut off). Each gets a lease of
    /// `leaseMilliseconds` from now, a new fencing token, one more attempt and `started_at_ms`
    /// now (when this claim took it: enqueued to started is its wait on the queue). Rows another node is
    /// claiming at the same moment are skipped, not waited for. With `origin`, only tasks that node's runs enqueued (what a worker claims while its node
    /// drains: its own runs finish, others' work is left to the other nodes).
    public func claim(node: String, limit: Int, leaseMilliseconds: Int64, onlyFrom origin: String? = nil) async throws -> [ClaimedTask] {
        guard limit > 0 else { return [] }
        let now = time.parameter
        let rows = try await client.query("""
            WITH clock AS (SELECT \(now: now) AS ms)
            UPDATE flipsync_cluster_tasks t
            SET state = 'claimed', lease_holder = \(node), lease_expires_at_ms = (SELECT ms FROM clock) + \(leaseMilliseconds),
                token = t.token + 1, attempts = t.attempts + 1, started_at_ms = (SELECT ms FROM clock)
            WHERE t.id IN (
                SELECT id FROM flipsync_cluster_tasks
                WHERE (state = 'pending' OR (state = 'claimed' AND lease_expires_at_ms <= (SELECT ms FROM clock)))
                  AND (\(origin)::text IS NULL OR origin_node = \(origin)::text)
                ORDER BY id
                LIMIT \(Int64(limit))
                FOR UPDATE SKIP LOCKED)
            RETURNING t.id, t.run_id, t.task_key, t.payload, t.token, t.attempts
            """, logger: logger)
        var out: [ClaimedTask] = []
        for try await (id, run, key, payload, token, attempts) in rows.decode((Int64, String, String, String, Int64, Int32).self) {
            out.append(ClaimedTask(id: id, run: run, key: key, payload: payload, token: token, attempts: attempts))
        }
        return out.sorted { $0.id < $1.id }
    }

    /// Extends every lease `node` holds to `leaseMilliseconds` from now; returns how many. A lease
    /// that expired and was claimed by another node is no longer this node's: not extended.
    @discardableResult
    public func heartbeat(node: String, leaseMilliseconds: Int64) async throws -> Int {
        try await renew(node: node, leaseMilliseconds: leaseMilliseconds).held
    }

    /// Marks the tasks done, each only if `node` still holds it under the token it was claimed
    /// with; returns the ids accepted. A task re-claimed by another node after this node's lease
    /// expired is refused (it is the other node's now). A lease that expired without anyone
    /// claiming the task again is still this node's: accepted.
    @discardableResult
    public func complete(_ tasks: [ClaimedTask], node: String) async throws -> Set<Int64> {
        guard !tasks.isEmpty else { return [] }
        let ids = tasks.map(\.id), tokens = tasks.map(\.token)
        let now = time.parameter
        let rows = try await client.query("""
            UPDATE flipsync_cluster_tasks t SET state = 'done', finished_at_ms = \(now: now), lease_expires_at_ms = NULL
            FROM unnest(\(ids)::bigint[], \(tokens)::bigint[]) AS c(id, token)
            WHERE t.id = c.id AND t.token = c.token AND t.state = 'claimed' AND t.lease_holder = \(node)
            RETURNING t.id
            """, logger: logger)
        var accepted = Set<Int64>()
        for try await id in rows.decode(Int64.self) { accepted.insert(id) }
        return accepted
    }

    /// One task done; false when refused (see ``complete(_:node:)``).
    public func complete(_ task: ClaimedTask, node: String) async throws -> Bool {
        try await complete([task], node: node).contains(task.id)
    }

    /// A task that failed: back to pending for another claim when `retry`, else failed for good.
    /// Only from the node holding it under its token; false when refused.
    public func fail(_ task: ClaimedTask, node: String, error: String, retry: Bool) async throws -> Bool {
        let now = time.parameter
        return try await fenced("""
            UPDATE flipsync_cluster_tasks
            SET state = CASE WHEN \(retry) THEN 'pending' ELSE 'failed' END,
                lease_holder = CASE WHEN \(retry) THEN NULL ELSE lease_holder END,
                lease_expires_at_ms = NULL, error = \(error),
                finished_at_ms = CASE WHEN \(retry) THEN NULL ELSE \(now: now) END
            WHERE id = \(task.id) AND state = 'claimed' AND lease_holder = \(node) AND token = \(task.token)
            RETURNING id
            """)
    }

    // MARK: Runs' tasks (ClusterTaskDispatcher, ClusterTaskWorker)

    /// Adds one task of a run enqueued by `origin`'s coordinator and returns its id (the id it
    /// already has when this (run, key) was enqueued before). The tasks enqueued while one
    /// statement is on its way go together in the next (``QueueWrites``).
    public nonisolated func enqueue(run: String, key: String, payload: String, origin: String) async throws -> Int64 {
        try await writes.enqueues.submit(.init(run: run, key: key, payload: payload, origin: origin))
    }

    /// One statement for several tasks' enqueues: each (run, key) once (given twice, one row,
    /// the first payload); every caller gets its (run, key)'s id.
    static func enqueue(_ tasks: [PendingEnqueue], client: PostgresClient, time: ClusterTime, logger: Logger) async throws -> [Int64] {
        var seen = Set<TaskKey>()
        var runs: [String] = [], keys: [String] = [], payloads: [String] = [], origins: [String] = []
        for task in tasks where seen.insert(TaskKey(run: task.run, key: task.key)).inserted {
            runs.append(task.run)
            keys.append(task.key)
            payloads.append(task.payload)
            origins.append(task.origin)
        }
        let now = time.parameter
        let rows = try await client.query("""
            INSERT INTO flipsync_cluster_tasks (run_id, task_key, payload, enqueued_at_ms, origin_node)
            SELECT t.run, t.key, t.payload, \(now: now), t.origin
            FROM unnest(\(runs)::text[], \(keys)::text[], \(payloads)::text[], \(origins)::text[]) WITH ORDINALITY AS t(run, key, payload, origin, n)
            ORDER BY t.n
            ON CONFLICT (run_id, task_key) DO UPDATE SET task_key = EXCLUDED.task_key
            RETURNING id, run_id, task_key
            """, logger: logger)
        var ids: [TaskKey: Int64] = [:]
        for try await (id, run, key) in rows.decode((Int64, String, String).self) { ids[TaskKey(run: run, key: key)] = id }
        return try tasks.map { task in
            guard let id = ids[TaskKey(run: task.run, key: task.key)] else { throw ClusterTaskQueueError.noRow }
            return id
        }
    }

    /// Extends every lease `node` holds to `leaseMilliseconds` from now (a lease that expired and
    /// was claimed by another node is no longer this node's: not extended). Returns how many, and
    /// of them those whose run asked to stop them (``requestCancel(_:)``).
    public func renew(node: String, leaseMilliseconds: Int64) async throws -> (held: Int, cancel: Set<Int64>) {
        let now = time.parameter
        let rows = try await client.query("""
            UPDATE flipsync_cluster_tasks SET lease_expires_at_ms = \(now: now) + \(leaseMilliseconds)
            WHERE state = 'claimed' AND lease_holder = \(node)
            RETURNING id, cancel_requested
            """, logger: logger)
        var held = 0, cancel = Set<Int64>()
        for try await (id, requested) in rows.decode((Int64, Bool).self) {
            held += 1
            if requested { cancel.insert(id) }
        }
        return (held, cancel)
    }

    /// A node's process starting: the tasks its node name still holds are a dead process's
    /// (one live process per node name), so they go back to pending at once, for any node to
    /// claim without waiting for their leases to expire. Returns how many.
    @discardableResult
    public func releaseHeld(node: String) async throws -> Int {
        var count = 0
        for try await _ in try await client.query("""
            UPDATE flipsync_cluster_tasks
            SET state = 'pending', lease_holder = NULL, lease_expires_at_ms = NULL
            WHERE state = 'claimed' AND lease_holder = \(node)
            RETURNING id
            """, logger: logger).decode(Int64.self) { count += 1 }
        return count
    }

    /// Ends a task `node` ran: `done`, with how it ended there (`outcome`) and why. Fenced by
    /// the token like ``complete(_:node:)``; false when refused. The tasks ending while one
    /// statement is on its way go together in the next (``QueueWrites``).
    public nonisolated func finish(_ task: ClaimedTask, node: String, outcome: String, message: String?) async throws -> Bool {
        try await writes.finishes.submit(.init(id: task.id, token: task.token, node: node, outcome: outcome, message: message))
    }

    /// One statement for several tasks' endings, each fenced by its own token and node; whether
    /// each was accepted. (A task given twice: its first ending; the second is refused, as it
    /// would be after the first.)
    static func finish(_ endings: [PendingFinish], client: PostgresClient, time: ClusterTime, logger: Logger) async throws -> [Bool] {
        var seen = Set<Int64>()
        var ids: [Int64] = [], tokens: [Int64] = [], nodes: [String] = [], outcomes: [String] = [], messages: [String] = [], hasMessage: [Bool] = []
        // Per ending: whether it is its task's first in this batch (a later one is refused).
        let first = endings.map { seen.insert($0.id).inserted }
        for (ending, isFirst) in zip(endings, first) where isFirst {
            ids.append(ending.id)
            tokens.append(ending.token)
            nodes.append(ending.node)
            outcomes.append(ending.outcome)
            messages.append(ending.message ?? "")
            hasMessage.append(ending.message != nil)
        }
        let now = time.parameter
        let rows = try await client.query("""
            UPDATE flipsync_cluster_tasks t SET state = 'done', outcome = e.outcome,
                error = CASE WHEN e.has_message THEN e.message END,
                finished_at_ms = \(now: now), lease_expires_at_ms = NULL
            FROM unnest(\(ids)::bigint[], \(tokens)::bigint[], \(nodes)::text[], \(outcomes)::text[], \(messages)::text[],
                        \(hasMessage)::boolean[])
                AS e(id, token, node, outcome, message, has_message)
            WHERE t.id = e.id AND t.state = 'claimed' AND t.lease_holder = e.node AND t.token = e.token
            RETURNING t.id
            """, logger: logger)
        var accepted = Set<Int64>()
        for try await id in rows.decode(Int64.self) { accepted.insert(id) }
        return zip(endings, first).map { ending, isFirst in isFirst && accepted.contains(ending.id) }
    }

    /// Gives a claimed task back to the queue at once (the node is stopping, or it stopped the
    /// task before it ended), not counted as an attempt. Fenced by the token.
    public func release(_ task: ClaimedTask, node: String) async throws -> Bool {
        try await fenced("""
            UPDATE flipsync_cluster_tasks
            SET state = 'pending', lease_holder = NULL, lease_expires_at_ms = NULL,
                attempts = GREATEST(attempts - 1, 0)
            WHERE id = \(task.id) AND state = 'claimed' AND lease_holder = \(node) AND token = \(task.token)
            RETURNING id
            """)
    }

    /// A run no longer waits for this task: unclaimed, it ends `failed` (`cancelled`) at once and
    /// is never claimed; claimed, its holder is asked to stop it (seen at its next renewal).
    public func requestCancel(_ id: Int64) async throws {
        try await cancelOpen(id: id, runs: [])
    }

    /// Earlier runs of a chain of resumes no longer wait for their tasks (their node died or
    /// stopped): every unclaimed task of `runs` ends `failed` (`cancelled`) at once and is never
    /// claimed, and every holder of one is asked to stop it (seen at its next renewal). Returns
    /// how many tasks were still pending or claimed.
    @discardableResult
    public func cancelRuns(_ runs: [String]) async throws -> Int {
        guard !runs.isEmpty else { return 0 }
        return try await cancelOpen(id: nil, runs: runs)
    }

    /// The task `id` and every task of `runs`, where still pending or claimed: the pending ones
    /// end `failed` (`cancelled`), the claimed ones are marked for their holder to stop.
    @discardableResult
    private func cancelOpen(id: Int64?, runs: [String]) async throws -> Int {
        let now = time.parameter
        var count = 0
        for try await _ in try await client.query("""
            UPDATE flipsync_cluster_tasks
            SET cancel_requested = true,
                state = CASE WHEN state = 'pending' THEN 'failed' ELSE state END,
                outcome = CASE WHEN state = 'pending' THEN 'cancelled' ELSE outcome END,
                finished_at_ms = CASE WHEN state = 'pending' THEN \(now: now) ELSE finished_at_ms END
            WHERE (id = \(id) OR run_id = ANY(\(runs))) AND state IN ('pending', 'claimed')
            RETURNING id
            """, logger: logger).decode(Int64.self) { count += 1 }
        return count
    }

    /// Tasks of `runs` a node holds now: claimed, their lease not expired (a holder that died
    /// holds nothing once its lease has expired; one cut off stops its tasks before then).
    public func held(runs: [String]) async throws -> Int {
        guard !runs.isEmpty else { return 0 }
        let now = time.parameter
        for try await count in try await client.query("""
            SELECT count(*) FROM flipsync_cluster_tasks
            WHERE run_id = ANY(\(runs)) AND state = 'claimed' AND lease_expires_at_ms > \(now: now)
            """, logger: logger).decode(Int64.self) { return Int(count) }
        return 0
    }

    /// How each of these tasks ended, for those that have (`done` or `failed`): state, outcome
    /// and message. The rest are left out.
    public func endings(_ ids: [Int64]) async throws -> [Int64: TaskEnding] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await client.query("""
            SELECT id, state, outcome, error FROM flipsync_cluster_tasks
            WHERE id = ANY(\(ids)::bigint[]) AND state IN ('done', 'failed')
            """, logger: logger)
        var out: [Int64: TaskEnding] = [:]
        for try await (id, state, outcome, error) in rows.decode((Int64, String, String?, String?).self) {
            out[id] = TaskEnding(failed: state == "failed", outcome: outcome, message: error)
        }
        return out
    }

    /// Deletes ended tasks that ended more than `olderThanMilliseconds` ago. Returns how many.
    @discardableResult
    public func prune(olderThanMilliseconds age: Int64) async throws -> Int {
        let now = time.parameter
        var count = 0
        for try await _ in try await client.query("""
            DELETE FROM flipsync_cluster_tasks
            WHERE state IN ('done', 'failed') AND COALESCE(finished_at_ms, enqueued_at_ms) < \(now: now) - \(age)
            RETURNING id
            """, logger: logger).decode(Int64.self) { count += 1 }
        return count
    }

    /// Tasks claimed and not finished, by holder (what `flipsyncctl nodes` could show per node).
    public func claimedByNode() async throws -> [String: Int] {
        let rows = try await client.query("""
            SELECT lease_holder, count(*) FROM flipsync_cluster_tasks WHERE state = 'claimed' GROUP BY lease_holder
            """, logger: logger)
        var out: [String: Int] = [:]
        for try await (holder, count) in rows.decode((String, Int64).self) { out[holder] = Int(count) }
        return out
    }

    /// Every task of a run, by id (for tests and operators).
    public func tasks(run: String) async throws -> [ClusterTaskRow] {
        let rows = try await client.query("""
            SELECT id, run_id, task_key, state, lease_holder, token, attempts, error, origin_node, outcome
            FROM flipsync_cluster_tasks WHERE run_id = \(run) ORDER BY id
            """, logger: logger)
        var out: [ClusterTaskRow] = []
        for try await (id, run, key, state, holder, token, attempts, error, origin, outcome)
            in rows.decode((Int64, String, String, String, String?, Int64, Int32, String?, String?, String?).self) {
            guard let state = ClusterTaskRow.State(rawValue: state) else { throw ClusterTaskQueueError.badState(id, state) }
            out.append(ClusterTaskRow(id: id, run: run, key: key, state: state,
                                      holder: holder, token: token, attempts: attempts, error: error, origin: origin, outcome: outcome))
        }
        return out
    }

    private func fenced(_ query: PostgresQuery) async throws -> Bool {
        var hit = false
        for try await _ in try await client.query(query, logger: logger).decode(Int64.self) { hit = true }
        return hit
    }

}

struct TaskKey: Hashable {
    var run: String
    var key: String
}

struct PendingEnqueue: Sendable {
    var run: String
    var key: String
    var payload: String
    var origin: String
}

struct PendingFinish: Sendable {
    var id: Int64
    var token: Int64
    var node: String
    var outcome: String
    var message: String?
}

/// The queue's two writes every dispatched task makes, its enqueue and its ending, coalesced
/// (`WriteCoalescer`): those that arrive while one statement is on its way go together in the
/// next, one `unnest` statement. A batch that fails is written again one statement an item, so
/// a bad item (text PostgreSQL refuses) fails alone. Each statement is given up after
/// `statementMilliseconds` (10 s in the daemon; an error for its callers; the statement may still commit, as one a
/// caller stopped waiting for could), so a connection that stops answering cannot hold the
/// node's later enqueues and endings behind it.
final class QueueWrites: Sendable {
    let enqueues: WriteCoalescer<PendingEnqueue, Int64>
    let finishes: WriteCoalescer<PendingFinish, Bool>
    /// Items a statement takes at most.
    static let maxBatch = 500
    init(client: PostgresClient, time: ClusterTime, logger: Logger, statementMilliseconds: Int64) {
        let clock = SystemSchedulerClock()
        @Sendable func bounded<T: Sendable>(_ statement: @escaping @Sendable () async throws -> T) async throws -> T {
            try await ClusterRateGate.race(statementMilliseconds, clock: clock, statement)
        }
        enqueues = WriteCoalescer(maxBatch: Self.maxBatch) { tasks in
            await WriteCoalescer<PendingEnqueue, Int64>.allOrEach(tasks, all: { tasks in
                try await bounded { try await ClusterTaskQueue.enqueue(tasks, client: client, time: time, logger: logger) }
            }, one: { task in try await bounded { try await ClusterTaskQueue.enqueue([task], client: client, time: time, logger: logger)[0] } })
        }
        finishes = WriteCoalescer(maxBatch: Self.maxBatch) { endings in
            await WriteCoalescer<PendingFinish, Bool>.allOrEach(endings, all: { endings in
                try await bounded { try await ClusterTaskQueue.finish(endings, client: client, time: time, logger: logger) }
            }, one: { ending in try await bounded { try await ClusterTaskQueue.finish([ending], client: client, time: time, logger: logger)[0] } })
        }
    }
}

extension PostgresQuery.StringInterpolation {
    /// `now` in SQL (ms since the epoch): the injected time when there is one, else the
    /// database's own clock (`clock_timestamp()`), so the nodes' clocks never matter.
    mutating func appendInterpolation(now: Int64?) {
        appendInterpolation(unescaped: "COALESCE(")
        appendInterpolation(now)
        appendInterpolation(unescaped: "::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)")
    }
}
