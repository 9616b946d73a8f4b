import FlipSyncCore
import GRDB

/// One row of the `tasks` table, read through `fetchAllNamed`: an unknown status is an error
/// naming the run and task key, never a default. Writes stay the upsert in `RunStore.upsert`
/// (an input already recorded is kept when a later write has none).
struct TaskRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "tasks"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    var runId: Int64
    var key: String
    var agent: String
    var status: TaskStatus
    var attempts: Int
    var startedAt: Int64?
    var finishedAt: Int64?
    var result: String?
    var error: String?
    /// Absent (nil) in a ledger opened read-only before the `m14-tasks` step (formerly `v12-tasks`) ran.
    var input: String?

    var info: TaskInfo {
        TaskInfo(runID: runId, key: key, agent: agent, status: status, attempts: attempts, startedAt: startedAt,
                 finishedAt: finishedAt, result: result, error: error, input: input)
    }
}

extension TaskRow {
    /// Reads go through here, column by column (see `Row.rawEnum`), never through `Codable`.
    init(row: Row) throws {
        runId = try row.decode(forColumn: "run_id")
        key = try row.decode(forColumn: "key")
        agent = try row.decode(forColumn: "agent")
        status = try row.rawEnum("status")
        attempts = try row.decode(forColumn: "attempts")
        startedAt = try row.decode(forColumn: "started_at")
        finishedAt = try row.decode(forColumn: "finished_at")
        result = try row.decode(forColumn: "result")
        error = try row.decode(forColumn: "error")
        input = try row.decode(forColumn: "input")
    }
}
