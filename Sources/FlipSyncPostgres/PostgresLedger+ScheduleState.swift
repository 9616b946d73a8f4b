import FlipSyncCore
import FlipSyncStore

/// Schedule state: each job's last and next fire, and whether it is paused.
extension PostgresLedger {
    public func scheduleStates() throws(LedgerError) -> [String: ScheduleState] {
        var states: [String: ScheduleState] = [:]
        for row in try session.rows("SELECT job, last_scheduled_at, last_run_id, next_due_at, paused FROM schedule_state") {
            let job = try row.get("job", as: String.self)
            states[job] = ScheduleState(job: job, lastScheduledAt: try row.get("last_scheduled_at"), lastRunID: try row.get("last_run_id"),
                                        nextDueAt: try row.get("next_due_at"), paused: try row.get("paused", as: Int64.self) != 0)
        }
        return states
    }

    public func saveScheduleState(_ state: ScheduleState) throws(LedgerError) {
        try session.write(
            """
            INSERT INTO schedule_state (job, last_scheduled_at, last_run_id, next_due_at, paused) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (job) DO UPDATE SET last_scheduled_at = excluded.last_scheduled_at,
                last_run_id = excluded.last_run_id, next_due_at = excluded.next_due_at
            """,
            [.text(state.job), Self.optional(state.lastScheduledAt), Self.optional(state.lastRunID), Self.optional(state.nextDueAt),
             .integer(state.paused ? 1 : 0)])
    }

    public func setPaused(_ paused: Bool, job: String) throws(LedgerError) {
        try session.write(
            """
            INSERT INTO schedule_state (job, paused) VALUES ($1, $2)
            ON CONFLICT (job) DO UPDATE SET paused = excluded.paused
            """,
            [.text(job), .integer(paused ? 1 : 0)])
    }
}
