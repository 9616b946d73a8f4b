import FlipSyncCore
import GRDB

/// One row of the `schedule_state` table: per job, the last handled fire, the last run, the
/// next due time, paused. A row that does not decode is an error naming the job.
struct ScheduleStateRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "schedule_state"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    var job: String
    var lastScheduledAt: Int64?
    var lastRunId: Int64?
    var nextDueAt: Int64?
    var paused: Bool

    var state: ScheduleState {
        ScheduleState(job: job, lastScheduledAt: lastScheduledAt, lastRunID: lastRunId, nextDueAt: nextDueAt, paused: paused)
    }
}
