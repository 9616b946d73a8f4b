import FlipSyncCore
import GRDB

/// A run's tasks: read back, and written one or many at a time (upserts keyed by run and key).
extension RunStore {
    public func tasks(runID: Int64) throws(LedgerError) -> [TaskInfo] {
        try read { db in
            try TaskRow.fetchAllNamed(db, TaskRow.filter(sql: "run_id = ?", arguments: [runID]).order(sql: "rowid"), key: ["run_id", "key"]).map(\.info)
        }
    }

    public func task(runID: Int64, key: String) throws(LedgerError) -> TaskInfo? {
        try read { db in try TaskRow.fetchAllNamed(db, TaskRow.filter(sql: "run_id = ? AND key = ?", arguments: [runID, key]), key: ["run_id", "key"]).first?.info }
    }

    public func saveTask(_ task: TaskInfo) throws(LedgerError) {
        try writeStatement { db in try Self.upsert(task, db) }
    }

    public func saveTasks(_ tasks: [TaskInfo]) throws(LedgerError) {
        try write { db in try Self.upsert(tasks, db) }
    }

    public func commitTask(_ task: TaskInfo) async throws(LedgerError) {
        do { try await group.commitTask(task) } catch { throw .storage("\(path): \(error)") }
    }

    static func upsert(_ task: TaskInfo, _ db: Database) throws {
        try db.cachedStatement(sql: upsertSQL[0]).execute(arguments: arguments(task))
    }

    /// `upsert` for each of `tasks` in turn, in statements of up to `upsertRows` rows: the same
    /// rows as one statement each (a key given twice is inserted, then updated, in that order),
    /// and the same row ids, but one statement fails for all of its rows.
    static func upsert(_ tasks: [TaskInfo], _ db: Database) throws {
        var start = 0
        while start < tasks.count {
            let end = min(tasks.count, start + upsertRows)
            var arguments = StatementArguments()
            for task in tasks[start..<end] { arguments += Self.arguments(task) }
            try db.cachedStatement(sql: upsertSQL[end - start - 1]).execute(arguments: arguments)
            start = end
        }
    }

    private static func arguments(_ task: TaskInfo) -> StatementArguments {
        [task.runID, task.key, task.agent, task.status.rawValue, task.attempts, task.startedAt, task.finishedAt, task.result,
         task.error, task.input]
    }

    /// The most task rows one upsert statement takes (10 parameters each).
    static let upsertRows = 64

    /// The task upsert for 1 to `upsertRows` rows.
    private static let upsertSQL: [String] = (1...upsertRows).map { rows in
        """
        INSERT INTO tasks (run_id, key, agent, status, attempts, started_at, finished_at, result, error, input)
        VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", "))
        ON CONFLICT (run_id, key) DO UPDATE SET
            agent = excluded.agent, status = excluded.status, attempts = excluded.attempts,
            started_at = excluded.started_at, finished_at = excluded.finished_at,
            result = excluded.result, error = excluded.error, input = coalesce(excluded.input, tasks.input)
        """
    }
}
