import FlipSyncCore
import Synchronization

/// A run ledger in memory: the scheduler's own cost without SQLite's, so the lateness figure
/// can be split between the two. Keeps only what the scheduler reads back.
final class MemoryLedger: RunLedger {
    private struct State {
        var nextID: Int64 = 0
        var fires: Set<String> = []
        var states: [String: ScheduleState] = [:]
    }

    private let state = Mutex(State())

    func recordFire(job: String, kind: String, trigger: RunTrigger, requestedBy: UInt32?, scheduledAt: Int64?,
                    status: RunStatus, skipReason: SkipReason?, summary: String?, at: Int64, resumes: Int64?) throws -> RunInfo? {
        state.withLock { s in
            if let scheduledAt {
                guard s.fires.insert("\(job)@\(scheduledAt)").inserted else { return nil }
            }
            s.nextID += 1
            return RunInfo(id: s.nextID, job: job, kind: kind, trigger: trigger, requestedBy: requestedBy, scheduledAt: scheduledAt,
                           createdAt: at, status: status, skipReason: skipReason, summary: summary, resumes: resumes)
        }
    }

    func markRunning(runID: Int64, at: Int64) throws {}
    func finishRun(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64, at: Int64) throws {}
    func interruptLeftovers(at: Int64, reason: String) throws -> [RunInfo] { [] }
    func run(id: Int64) throws -> RunInfo? { nil }
    func tasks(runID: Int64) throws -> [TaskInfo] { [] }
    func saveTask(_ task: TaskInfo) throws {}
    func scheduleStates() throws -> [String: ScheduleState] { state.withLock { $0.states } }
    func saveScheduleState(_ scheduleState: ScheduleState) throws {
        state.withLock { s in
            var saved = scheduleState
            if let old = s.states[scheduleState.job] { saved.paused = old.paused }
            s.states[scheduleState.job] = saved
        }
    }
    func setPaused(_ paused: Bool, job: String) throws {
        state.withLock { $0.states[job, default: ScheduleState(job: job)].paused = paused }
    }
    func pruneRuns(createdBefore before: Int64, limit: Int) throws -> Int { 0 }
    func pruneSweepRows(limit: Int) throws -> Int { 0 }
    func recentRuns(job: String?, limit: Int) throws -> [RunInfo] { [] }
}
