import FlipSyncCore
import GRDB

/// One row of the `runs` table. Every read of runs goes through it (`fetchAllNamed`): an unknown
/// trigger, status or skip reason is an error naming the run, never a default.
struct RunRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "runs"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    var id: Int64
    var job: String
    var kind: String
    var trigger: RunTrigger
    var requestedBy: Int64?
    var scheduledAt: Int64?
    var createdAt: Int64
    var startedAt: Int64?
    var finishedAt: Int64?
    var status: RunStatus
    var skipReason: SkipReason?
    var summary: String?
    var error: String?
    var spendMicros: Int64
    var resumes: Int64?

    var info: RunInfo {
        RunInfo(id: id, job: job, kind: kind, trigger: trigger, requestedBy: requestedBy.map { UInt32(truncatingIfNeeded: $0) },
                scheduledAt: scheduledAt, createdAt: createdAt, startedAt: startedAt, finishedAt: finishedAt, status: status,
                skipReason: skipReason, summary: summary, error: error, spendMicros: spendMicros, resumes: resumes)
    }
}

extension RunRow {
    /// Reads go through here, column by column (see `Row.rawEnum`), never through `Codable`.
    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        job = try row.decode(forColumn: "job")
        kind = try row.decode(forColumn: "kind")
        trigger = try row.rawEnum("trigger")
        requestedBy = try row.decode(forColumn: "requested_by")
        scheduledAt = try row.decode(forColumn: "scheduled_at")
        createdAt = try row.decode(forColumn: "created_at")
        startedAt = try row.decode(forColumn: "started_at")
        finishedAt = try row.decode(forColumn: "finished_at")
        status = try row.rawEnum("status")
        skipReason = try row.rawEnum("skip_reason")
        summary = try row.decode(forColumn: "summary")
        error = try row.decode(forColumn: "error")
        spendMicros = try row.decode(forColumn: "spend_micros")
        resumes = try row.decode(forColumn: "resumes")
    }
}
