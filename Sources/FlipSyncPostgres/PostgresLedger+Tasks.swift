import FlipSyncCore
import FlipSyncStore

/// Tasks: each run's task rows, written one at a time, in a batch, or group-committed.
extension PostgresLedger {
    public func tasks(runID: Int64) throws(LedgerError) -> [TaskInfo] {
        try session.rows(
            """
            SELECT run_id, key, agent, status, attempts, started_at, finished_at, result, error, input
            FROM tasks WHERE run_id = $1 ORDER BY seq
            """, [.integer(runID)]).map(Self.taskInfo)
    }

    public func task(runID: Int64, key: String) throws(LedgerError) -> TaskInfo? {
        try session.rows(
            """
            SELECT run_id, key, agent, status, attempts, started_at, finished_at, result, error, input
            FROM tasks WHERE run_id = $1 AND key = $2
            """, [.integer(runID), .text(key)]).first.map(Self.taskInfo)
    }

    private static func taskInfo(_ row: PostgresColumns) throws(LedgerError) -> TaskInfo {
        let statusText = try row.get("status", as: String.self)
        guard let status = TaskStatus(rawValue: statusText) else { throw .storage("a task with status \(statusText)") }
        return TaskInfo(runID: try row.get("run_id"), key: try row.get("key"), agent: try row.get("agent"), status: status,
                        attempts: Int(try row.get("attempts", as: Int64.self)), startedAt: try row.get("started_at"),
                        finishedAt: try row.get("finished_at"), result: try row.get("result"), error: try row.get("error"),
                        input: try row.get("input"))
    }

    public func saveTask(_ task: TaskInfo) throws(LedgerError) {
        try session.write(Self.upsertTaskSQL, Self.upsertValues(task))
    }

    /// Through the session's pool, the task waiting without holding a thread; rows committed by
    /// several tasks at once share one statement (`PostgresTaskCommits`). Inside the calling
    /// thread's transaction (a `batch`), written there.
    public func commitTask(_ task: TaskInfo) async throws(LedgerError) {
        if session.inTransaction { return try saveTask(task) }
        try await taskCommits.commit(task)
    }

    public func saveTasks(_ tasks: [TaskInfo]) throws(LedgerError) {
        try write { () throws(LedgerError) in
            for task in tasks { try upsert(task) }
        }
    }

    private func upsert(_ task: TaskInfo) throws(LedgerError) {
        try session.query(Self.upsertTaskSQL, Self.upsertValues(task))
    }

    static let taskColumns = ["run_id", "key", "agent", "status", "attempts", "started_at", "finished_at", "result", "error", "input"]

    /// What a task's row written again keeps: its `input` when the new one has none.
    static let taskUpsert = """
        ON CONFLICT (run_id, key) DO UPDATE SET
            agent = excluded.agent, status = excluded.status, attempts = excluded.attempts,
            started_at = excluded.started_at, finished_at = excluded.finished_at,
            result = excluded.result, error = excluded.error, input = coalesce(excluded.input, tasks.input)
        """

    static let upsertTaskSQL = """
        INSERT INTO tasks (\(taskColumns.joined(separator: ", ")))
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        \(taskUpsert)
        """

    static func upsertValues(_ task: TaskInfo) -> [LedgerValue] {
        [.integer(task.runID), .text(task.key), .text(task.agent), .text(task.status.rawValue), .integer(Int64(task.attempts)),
         optional(task.startedAt), optional(task.finishedAt), optional(task.result), optional(task.error), optional(task.input)]
    }

    public func batch(_ body: () -> Void) throws(LedgerError) {
        try session.transaction { body() }
    }
}
