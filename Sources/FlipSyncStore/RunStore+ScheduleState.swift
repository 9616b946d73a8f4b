import FlipSyncCore
import GRDB

/// Each job's schedule state: its last fire, its next due time, whether it is paused.
extension RunStore {
    public func scheduleStates() throws(LedgerError) -> [String: ScheduleState] {
        try read { db in
            let rows = try ScheduleStateRow.fetchAllNamed(db, ScheduleStateRow.all(), key: ["job"])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0.job, $0.state) })
        }
    }

    public func saveScheduleState(_ state: ScheduleState) throws(LedgerError) {
        try writeStatement { db in
            try db.cachedStatement(sql: """
                INSERT INTO schedule_state (job, last_scheduled_at, last_run_id, next_due_at, paused) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (job) DO UPDATE SET last_scheduled_at = excluded.last_scheduled_at,
                    last_run_id = excluded.last_run_id, next_due_at = excluded.next_due_at
                """).execute(arguments: [state.job, state.lastScheduledAt, state.lastRunID, state.nextDueAt, state.paused])
        }
    }

    public func setPaused(_ paused: Bool, job: String) throws(LedgerError) {
        try writeStatement { db in
            try db.cachedStatement(sql: """
                INSERT INTO schedule_state (job, paused) VALUES (?, ?)
                ON CONFLICT (job) DO UPDATE SET paused = excluded.paused
                """).execute(arguments: [job, paused])
        }
    }
}
