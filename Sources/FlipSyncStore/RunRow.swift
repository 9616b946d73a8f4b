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
