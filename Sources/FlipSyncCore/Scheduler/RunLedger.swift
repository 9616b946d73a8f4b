/// Why a run exists.
public enum RunTrigger: String, Sendable, Hashable, Codable, CaseIterable {
    case schedule
    case catchUp = "catch-up"
    case manual
}

/// Where a run is in its life. A run is a row before it starts and a row when it ends.
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled
    case timedOut = "timed_out"
    case interrupted, skipped
    case budgetExhausted = "budget_exhausted"

    public var isFinal: Bool { self != .queued && self != .running }
}

/// Why a fire did not run.
public enum SkipReason: String, Sendable, Hashable, Codable {
    /// The previous run was still going (`overlap = "skip"`, or the queue already held one).
    case overlap
    /// The fire passed while the daemon was down or the clock jumped, and catch-up did not run it.
    case missed
    /// The job was paused.
    case paused
}

/// A task's state.
public enum TaskStatus: String, Sendable, Hashable, Codable {
    case pending, running, succeeded, failed, cancelled
}

/// A run as the ledger keeps it.
public struct RunInfo: Sendable, Hashable, Codable {
    public var id: Int64
    public var job: String
    public var kind: String
    public var trigger: RunTrigger
    /// For manual runs: the uid of the caller.
    public var requestedBy: UInt32?
    /// The fire time this run is for (schedule and catch-up runs), seconds since the epoch.
    public var scheduledAt: Int64?
    /// Milliseconds since the epoch.
    public var createdAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var status: RunStatus
    public var skipReason: SkipReason?
    public var summary: String?
    public var error: String?
    public var spendMicros: Int64
    /// The interrupted run this one resumes.
    public var resumes: Int64?

    public init(id: Int64, job: String, kind: String, trigger: RunTrigger, requestedBy: UInt32? = nil,
                scheduledAt: Int64?, createdAt: Int64, startedAt: Int64? = nil, finishedAt: Int64? = nil,
                status: RunStatus, skipReason: SkipReason? = nil, summary: String? = nil, error: String? = nil,
                spendMicros: Int64 = 0, resumes: Int64? = nil) {
        self.id = id
        self.job = job
        self.kind = kind
        self.trigger = trigger
        self.requestedBy = requestedBy
        self.scheduledAt = scheduledAt
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.status = status
        self.skipReason = skipReason
        self.summary = summary
        self.error = error
        self.spendMicros = spendMicros
        self.resumes = resumes
    }
}

/// A task as the ledger keeps it. `key` is the idempotency key: unique within a run, the same
/// when a resumed run plans the same work again.
public struct TaskInfo: Sendable, Hashable, Codable {
    public var runID: Int64
    public var key: String
    public var agent: String
    public var status: TaskStatus
    public var attempts: Int
    public var startedAt: Int64?
    public var finishedAt: Int64?
    /// The result's JSON (`TaskPayload`), once the task succeeded; `result(as:)` decodes it.
    public var result: String?
    public var error: String?
    /// The input's JSON (`TaskPayload`), as planned. Nil in rows written before inputs were
    /// recorded (a resumed run plans its tasks again, so it never needs an old row's input).
    public var input: String?

    public init(runID: Int64, key: String, agent: String, status: TaskStatus, attempts: Int = 0,
                startedAt: Int64? = nil, finishedAt: Int64? = nil, result: String? = nil, error: String? = nil,
                input: String? = nil) {
        self.input = input
        self.runID = runID
        self.key = key
        self.agent = agent
        self.status = status
        self.attempts = attempts
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.error = error
    }
}

/// Per-job scheduling state that survives restarts.
public struct ScheduleState: Sendable, Hashable, Codable {
    public var job: String
    /// The last fire time handled (run, skipped or missed), seconds since the epoch.
    public var lastScheduledAt: Int64?
    public var lastRunID: Int64?
    public var nextDueAt: Int64?
    public var paused: Bool

    public init(job: String, lastScheduledAt: Int64? = nil, lastRunID: Int64? = nil, nextDueAt: Int64? = nil, paused: Bool = false) {
        self.job = job
        self.lastScheduledAt = lastScheduledAt
        self.lastRunID = lastRunID
        self.nextDueAt = nextDueAt
        self.paused = paused
    }
}

public enum LedgerError: Error, Sendable, CustomStringConvertible {
    case storage(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .storage(let message): return "run ledger: \(message)"
        case .notFound(let what): return "run ledger: no \(what)"
        }
    }

    /// `error` as a ledger error: a `LedgerError` as it is (wrapping it again would read "run
    /// ledger: run ledger: …", and turn a `notFound` into a storage error), anything else as
    /// `.storage` with its description.
    public static func wrapping(_ error: any Error) -> LedgerError {
        (error as? LedgerError) ?? .storage("\(error)")
    }
}

/// What the scheduler and the run coordinator record. One writer; every call is a transaction.
///
/// Contract: `recordFire` inserts a run for `(job, scheduledAt)` at most once — a second call for
/// the same fire returns `nil` and changes nothing — so a fire can never be recorded twice, even
/// across crashes and clock jumps.
public protocol RunLedger: Sendable {
    /// A new run row for a fire or a manual request, or `nil` if that fire is already recorded.
    func recordFire(job: String, kind: String, trigger: RunTrigger, requestedBy: UInt32?, scheduledAt: Int64?,
                    status: RunStatus, skipReason: SkipReason?, summary: String?, at: Int64,
                    resumes: Int64?) throws -> RunInfo?
    func markRunning(runID: Int64, at: Int64) throws
    func finishRun(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64, at: Int64) throws
    /// Runs left `queued` or `running` by a previous process become `interrupted`; returns them.
    func interruptLeftovers(at: Int64, reason: String) throws -> [RunInfo]
    func run(id: Int64) throws -> RunInfo?
    func tasks(runID: Int64) throws -> [TaskInfo]
    /// The task `(runID, key)`, or nil.
    func task(runID: Int64, key: String) throws -> TaskInfo?
    /// Inserts or updates the task `(runID, key)`.
    func saveTask(_ task: TaskInfo) throws
    /// `saveTask` for many tasks, in one transaction.
    func saveTasks(_ tasks: [TaskInfo]) throws
    /// `saveTask` for the run coordinator's tasks in flight: committed together with the other
    /// writes waiting at the same moment (group commit), returning once it is committed.
    func commitTask(_ task: TaskInfo) async throws
    /// Runs `body`, committing the writes it makes through this ledger in one transaction (one
    /// failing write fails alone: a write of one statement is undone by SQLite itself, a write of
    /// several has its own savepoint). Throws without running `body`
    /// when that transaction cannot begin (a lock held past the busy timeout), and after it when
    /// the transaction cannot commit, in which case none of its writes happened.
    func batch(_ body: () -> Void) throws
    /// `markRunning` and `finishRun` through the same group commit.
    func commitRunning(runID: Int64, at: Int64) async throws
    func commitFinish(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64, at: Int64) async throws
    func scheduleStates() throws -> [String: ScheduleState]
    /// Saves a job's schedule state. Its `paused` is written only for a job with no row yet: an
    /// existing row's flag changes only through `setPaused`, so a node saving what it fired never
    /// puts back a flag another node (sharing the ledger) has just changed.
    func saveScheduleState(_ state: ScheduleState) throws
    /// Pauses or resumes a job: its `paused` flag alone (a row made if it has none).
    func setPaused(_ paused: Bool, job: String) throws
    /// Deletes up to `limit` finished runs (and their tasks) created before `before`; returns how many.
    func pruneRuns(createdBefore before: Int64, limit: Int) throws -> Int
    /// Deletes up to `limit` rows, in one transaction, of the repricing sweeps whose first run
    /// is gone: a decide cut left by a run that ended inside its decide wave (`decide_cut`),
    /// their listings snapshot (`sweep_listings`), then their decisions, oldest sweep first. A sweep's id is its first run's id, and pruning that run clears its resumes' link
    /// to it (`resumes … ON DELETE SET NULL`), so no run reaches the sweep any more. A sweep
    /// counts as gone when its id is below every run's id left (or no run is left), so a sweep
    /// whose first run is still there is never touched. Returns how many rows.
    func pruneSweepRows(limit: Int) throws -> Int
    /// Recent finished runs, newest first (for the readiness scan and `flipsyncctl runs`).
    func recentRuns(job: String?, limit: Int) throws -> [RunInfo]
}

extension RunLedger {
    public func batch(_ body: () -> Void) throws { body() }

    public func task(runID: Int64, key: String) throws -> TaskInfo? {
        try tasks(runID: runID).first { $0.key == key }
    }

    public func saveTasks(_ tasks: [TaskInfo]) throws {
        for task in tasks { try saveTask(task) }
    }

    public func commitTask(_ task: TaskInfo) async throws { try saveTask(task) }

    public func commitRunning(runID: Int64, at: Int64) async throws { try markRunning(runID: runID, at: at) }

    public func commitFinish(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64,
                             at: Int64) async throws {
        try finishRun(runID: runID, status: status, summary: summary, error: error, spendMicros: spendMicros, at: at)
    }
}
