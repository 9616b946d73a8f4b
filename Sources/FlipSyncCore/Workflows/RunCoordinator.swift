import Synchronization
import Logging

/// How far a run has got: tasks finished (whatever their outcome) of those planned.
public struct RunProgress: Sendable, Hashable {
    public var runID: Int64
    public var total: Int
    public var finished: Int
}

/// Runs one job run from start to end. The scheduler hands runs to an executor.
public protocol RunExecutor: Sendable {
    /// Executes `run` (already a `queued` row) for `job`, records every task and the final status,
    /// and returns that status. Cancellation ends the run `cancelled`.
    func execute(run: RunInfo, job: JobDefinition) async -> RunStatus
}

/// The "executive" of a run: plans the tasks from the job's kind, fans them out to agents under
/// the job's `concurrency` and the daemon's pool, retries transient failures with backoff,
/// enforces the job's `timeout` and budget, gathers the results and decides the outcome.
public struct RunCoordinator: RunExecutor {
    let ledger: any RunLedger
    let pool: PermitPool
    let clock: any SchedulerClock
    /// The plan for a job (built from the parameters its kind carries).
    let plan: @Sendable (JobDefinition) -> any WorkflowPlan
    let logger: Logger
    let onProgress: (@Sendable (RunProgress) -> Void)?
    let runSpend: @Sendable (Int64) -> Int64
    /// Tasks of a wave planned, written and started at a time (`pageSize(concurrency:)` when nil).
    let wavePageSize: Int?
    /// Told how many of a wave's tasks the coordinator holds at once (see `WaveGauge`).
    let gauge: WaveGauge?
    /// Where the tasks of a plan's `distributedAgents` go (a cluster's task queue); nil: every
    /// task runs here.
    let dispatch: (any TaskDispatch)?

    /// `onProgress` is told after the tasks are planned and after each task ends (for progress
    /// bars). `runSpend` says what a run has spent, in micro-units, from the spend ledger (which
    /// also enforces the job's `budget`: a paid call over it fails its task with
    /// `TaskFailure.budgetExhausted`, and the run ends `budget_exhausted`).
    public init(ledger: any RunLedger, pool: PermitPool, clock: any SchedulerClock,
                plan: @escaping @Sendable (JobDefinition) -> any WorkflowPlan, logger: Logger,
                onProgress: (@Sendable (RunProgress) -> Void)? = nil, runSpend: @escaping @Sendable (Int64) -> Int64 = { _ in 0 },
                wavePageSize: Int? = nil, gauge: WaveGauge? = nil, dispatch: (any TaskDispatch)? = nil) {
        self.dispatch = dispatch
        self.runSpend = runSpend
        self.wavePageSize = wavePageSize.map { Swift.max(1, $0) }
        self.gauge = gauge
        self.ledger = ledger
        self.pool = pool
        self.clock = clock
        self.plan = plan
        self.logger = logger
        self.onProgress = onProgress
    }

    enum Ending: Error {
        case timedOut
        case budget(String)
    }

    public func execute(run: RunInfo, job: JobDefinition) async -> RunStatus {
        var logger = self.logger
        logger[metadataKey: "job"] = "\(job.name)"
        logger[metadataKey: "kind"] = "\(job.kind.rawValue)"
        logger[metadataKey: "run"] = "\(run.id)"
        do {
            try await ledger.commitRunning(runID: run.id, at: clock.wallMilliseconds())
        } catch {
            logger.error("cannot record run start: \(error)")
            return .failed
        }
        logger.info("run started (\(run.trigger.rawValue))", metadata: ["event": "run-started"])
        let context = AgentContext(job: job, runID: run.id, clock: clock, logger: logger)
        let workflow = plan(job)

        var status: RunStatus
        var errorText: String?
        do {
            try await withTimeout(job.timeout) {
                try await runTasks(run: run, job: job, workflow: workflow, context: context)
            }
            let tasks = try finishedTasks(runID: run.id, workflow: workflow)
            if let failed = tasks.first(where: { $0.status == .failed }) {
                status = .failed
                errorText = "task \(failed.key): \(failed.error ?? "failed")"
            } else {
                status = .succeeded
            }
        } catch Ending.timedOut {
            status = .timedOut
            errorText = "timed out after \(job.timeout)"
        } catch Ending.budget(let message) {
            status = .budgetExhausted
            errorText = message
        } catch is CancellationError {
            status = .cancelled
            errorText = "cancelled"
        } catch {
            status = .failed
            errorText = "\(error)"
        }
        if status != .succeeded { closeUnfinishedTasks(runID: run.id, status: status, logger: logger) }
        let summary: String
        do {
            summary = workflow.summarize(try finishedTasks(runID: run.id, workflow: workflow))
        } catch {
            // Without its task results the run cannot claim success.
            summary = "task results unreadable"
            if status == .succeeded { status = .failed }
            errorText = errorText ?? "cannot read task results: \(error)"
        }
        let spent = runSpend(run.id)
        await recordFinish(runID: run.id, status: status, summary: summary, error: errorText, spendMicros: spent, logger: logger)
        var metadata: Logger.Metadata = ["event": "\(status == .succeeded ? "run-finished" : (status == .budgetExhausted ? "budget-exhausted" : "run-failed"))",
                                         "status": "\(status.rawValue)", "spend_micros": "\(spent)"]
        if let errorText { metadata["error"] = "\(errorText)" }
        if status == .succeeded {
            logger.info("run finished: \(summary)", metadata: metadata)
        } else {
            logger.error("run \(status.rawValue): \(errorText ?? summary)", metadata: metadata)
        }
        return status
    }

    /// A run that ends other than succeeded (cancelled, timed out, out of budget, failed) leaves
    /// no task `pending` or `running`: those it planned and never finished become `cancelled`,
    /// with why. (A run killed with its process keeps them: it is `interrupted`, and a resume
    /// picks them up.) A failed write is journaled; the run's end is recorded regardless.
    private func closeUnfinishedTasks(runID: Int64, status: RunStatus, logger: Logger) {
        do {
            let now = clock.wallMilliseconds()
            let open = try ledger.tasks(runID: runID).filter { $0.status == .pending || $0.status == .running }.map { task in
                var task = task
                task.status = .cancelled
                task.finishedAt = now
                task.error = "the run ended \(status.rawValue) before this task did" + (task.error.map { " (last: \($0))" } ?? "")
                return task
            }
            if !open.isEmpty { try ledger.saveTasks(open) }
        } catch {
            logger.error("cannot close the run's unfinished tasks: \(error)")
        }
    }

    /// Waits between attempts to record a run's end, in milliseconds: six attempts over ~31 s (plus
    /// the ledger's 5 s busy timeout per attempt while it is locked), then `finishBackgroundRetry`.
    static let finishRetryDelays: [Int64] = [1_000, 2_000, 4_000, 8_000, 16_000]
    /// After those, a background task tries again this often until the end is recorded (or the
    /// daemon stops, and its next start marks the run `interrupted`).
    static let finishBackgroundRetry: Int64 = 60_000

    /// Records the run's end (status, summary, error, spend), retrying a failed write: a ledger
    /// locked for a while or a full disk must not leave the row `running`. The end's time is when
    /// the run ended, not when the write got through. A cancelled caller (the daemon stopping)
    /// makes one more attempt and gives up: the next start marks the run `interrupted`.
    private func recordFinish(runID: Int64, status: RunStatus, summary: String, error: String?, spendMicros: Int64,
                              logger: Logger) async {
        let endedAt = clock.wallMilliseconds()
        let ledger = self.ledger, clock = self.clock
        @Sendable func attempt() async -> (any Error)? {
            do {
                try await ledger.commitFinish(runID: runID, status: status, summary: summary, error: error,
                                              spendMicros: spendMicros, at: endedAt)
                return nil
            } catch {
                return error
            }
        }
        for (index, delay) in ([0] + Self.finishRetryDelays).enumerated() {
            if index > 0 {
                do { try await clock.sleep(milliseconds: delay) } catch { break }  // cancelled: one last try below
            }
            guard let failure = await attempt() else {
                if index > 0 { logger.notice("run end recorded on attempt \(index + 1)", metadata: ["event": "run-end-recorded"]) }
                return
            }
            logger.error("cannot record run end (attempt \(index + 1) of \(Self.finishRetryDelays.count + 1)): \(failure)",
                         metadata: ["event": "run-end-unrecorded"])
        }
        if Task.isCancelled {
            if await attempt() == nil { return }
            logger.error("cannot record run end; stopping: the next start marks the run interrupted",
                         metadata: ["event": "run-end-unrecorded"])
            return
        }
        // Still failing: keep trying in the background, so the row does not stay `running` while
        // the daemon runs on (the scheduler already knows the run ended).
        Task.detached {
            while true {
                do { try await clock.sleep(milliseconds: Self.finishBackgroundRetry) } catch { return }
                if await attempt() == nil {
                    logger.notice("run end recorded in the background", metadata: ["event": "run-end-recorded"])
                    return
                }
            }
        }
    }

    /// Runs `body`, or throws `Ending.timedOut` once `limit` passes on the scheduler's clock
    /// (cancelling `body`, whose tasks record themselves as cancelled).
    private func withTimeout(_ limit: TimeSpan, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return true
            }
            group.addTask { [clock] in
                try await clock.sleep(milliseconds: limit.milliseconds)
                return false
            }
            defer { group.cancelAll() }
            guard let finished = try await group.next() else { return }
            if !finished { throw Ending.timedOut }
        }
    }

    /// Runs the plan's tasks, then each further wave the plan asks for once the previous one
    /// has ended (at most `maxWaves` in all), so a plan can decide everything first and act
    /// after (repricing applies its decisions only when the circuit breaker allows).
    private func runTasks(run: RunInfo, job: JobDefinition, workflow: any WorkflowPlan, context: AgentContext) async throws {
        // A resumed run keeps what already succeeded anywhere in its chain of resumes: a run
        // killed before it copied its predecessor's tasks must not make the next one start over.
        var chain: [Int64] = []
        var previous = run.resumes
        for _ in 0..<Self.maxResumeChain {
            guard let id = previous else { break }
            chain.append(id)
            previous = try ledger.run(id: id)?.resumes
        }
        // Tasks a predecessor dispatched may still be running on other nodes: stopped (or
        // finished) before what succeeded is read, so none runs twice at once.
        if let dispatch, !chain.isEmpty { await dispatch.settle(runs: chain, logger: context.logger) }
        var done: [String: TaskInfo] = [:]
        for id in chain {
            for task in try ledger.tasks(runID: id) where task.status == .succeeded && done[task.key] == nil { done[task.key] = task }
        }
        var wave = PlannedWave(try await workflow.tasks(for: job, runID: run.id))
        var progress = RunProgress(runID: run.id, total: 0, finished: 0)
        for _ in 1...Self.maxWaves where wave.count > 0 {
            try await runWave(wave, done: done, progress: &progress, job: job, workflow: workflow, context: context)
            wave = .empty  // the finished wave's pages (and what they captured) go before the next is planned
            wave = try await workflow.followUpWave(after: try finishedTasks(runID: run.id, workflow: workflow), job: job, runID: run.id)
        }
    }

    static let maxWaves = 4
    /// How far back a resumed run looks for finished tasks (a chain longer than this means
    /// something else is wrong; the rest is redone, idempotently).
    static let maxResumeChain = 1000

    /// Tasks of a wave planned, written and started at a time: four times the job's
    /// `concurrency`, at least 256. With the tasks in flight (at most `concurrency`), the
    /// coordinator holds at most this plus `concurrency` of a wave's tasks at once.
    static func pageSize(concurrency: Int) -> Int { Swift.max(256, 4 * Swift.max(1, concurrency)) }

    /// The run's tasks as `followUp` and `summarize` read them: with a ledger that can
    /// (`CondensedTaskReading`), the succeeded tasks of the plan's `condensedAgents` after the
    /// first of each left out; otherwise all of them.
    private func finishedTasks(runID: Int64, workflow: any WorkflowPlan) throws -> [TaskInfo] {
        let agents = workflow.condensedAgents
        if !agents.isEmpty, let condensed = ledger as? any CondensedTaskReading {
            return try condensed.tasks(runID: runID, condensing: agents)
        }
        return try ledger.tasks(runID: runID)
    }

    /// Runs one wave page by page: each page's rows are written in one transaction (a task
    /// finished earlier in the run's chain of resumes is copied, not run again) and its tasks
    /// started as permits of the job's `concurrency` free up; the next page is asked for only
    /// when the last one's tasks have all started, so the coordinator never holds more than a
    /// page and the tasks in flight.
    private func runWave(_ wave: PlannedWave, done: [String: TaskInfo], progress: inout RunProgress, job: JobDefinition,
                         workflow: any WorkflowPlan, context: AgentContext) async throws {
        let policy = RetryPolicy(job.retry)
        let pageSize = wavePageSize ?? Self.pageSize(concurrency: job.concurrency)
        progress.total += wave.count
        onProgress?(progress)
        var finished = progress.finished
        let report = onProgress
        let total = progress.total
        let gauge = self.gauge
        let ledger = self.ledger
        let runID = context.runID
        try await withThrowingTaskGroup(of: Int.self) { group in
            var offset = 0, exhausted = false
            var queue: [PlannedTask] = [], next = 0
            var inFlight = 0, held = 0
            admitting: while true {
                while inFlight < job.concurrency {
                    if next == queue.count {
                        guard !exhausted else { break }
                        queue = []
                        next = 0
                        let page = try await wave.page(offset, pageSize)
                        offset += page.count
                        if page.count < pageSize || offset >= wave.count { exhausted = true }
                        var rows: [TaskInfo] = []
                        rows.reserveCapacity(page.count)
                        var skipped = 0
                        for task in page {
                            if var earlier = done[task.key] {
                                earlier.runID = runID
                                rows.append(earlier)
                                skipped += 1
                            } else {
                                rows.append(TaskInfo(runID: runID, key: task.key, agent: task.agent, status: .pending, input: task.input.json))
                                queue.append(task)
                            }
                        }
                        // The page is planned in one transaction; each task's states then go
                        // through the ledger's group commit, shared with the other tasks in flight.
                        try ledger.saveTasks(rows)
                        gauge?.held(page.count + inFlight)
                        if skipped > 0 {
                            finished += skipped
                            report?(RunProgress(runID: runID, total: total, finished: finished))
                        }
                        continue
                    }
                    let task = queue[next]
                    // What the tasks in flight hold is bounded too: this one waits for room.
                    if inFlight > 0, task.holds > wave.holdLimit - held { break }
                    next += 1
                    group.addTask {
                        try await perform(task, workflow: workflow, policy: policy, context: context)
                        return task.holds
                    }
                    inFlight += 1
                    held += task.holds
                }
                guard inFlight > 0, let released = try await group.next() else { break admitting }
                inFlight -= 1
                held -= released
                finished += 1
                report?(RunProgress(runID: runID, total: total, finished: finished))
            }
        }
        progress.finished = finished
    }

    /// One task: dispatched to the cluster's queue when its agent is one of the plan's
    /// `distributedAgents` and there is a queue, else run here. Throws only to end the whole
    /// run (cancellation, budget); an ordinary failure is recorded and the run goes on.
    private func perform(_ task: PlannedTask, workflow: any WorkflowPlan, policy: RetryPolicy, context: AgentContext) async throws {
        guard let dispatch, workflow.distributedAgents.contains(task.agent) else {
            return try await performHere(task, workflow: workflow, policy: policy, context: context)
        }
        let outcome: DispatchOutcome
        do {
            outcome = try await dispatch.dispatch(DispatchedTask(job: context.job.name, runID: context.runID, task: task))
        } catch let unavailable as TaskDispatchUnavailable {
            context.logger.warning("task \(task.key) runs here: \(unavailable)", metadata: ["task": "\(task.key)", "event": "dispatch-unavailable"])
            return try await performHere(task, workflow: workflow, policy: policy, context: context)
        }
        switch outcome {
        case .finished:
            return
        case .budgetExhausted(let message):
            throw Ending.budget(message)
        case .abandoned(let why):
            // Its run ended while it waited in the queue (this run is ending too), or the node
            // that claimed it has no such job (it recorded the failure).
            context.logger.notice("task \(task.key) not run: \(why)", metadata: ["task": "\(task.key)"])
            let current = try ledger.task(runID: context.runID, key: task.key)
            if current.map({ $0.status == .pending || $0.status == .running }) ?? true {
                try await ledger.commitTask(TaskInfo(runID: context.runID, key: task.key, agent: task.agent, status: .failed,
                                                     attempts: current?.attempts ?? 0, finishedAt: clock.wallMilliseconds(),
                                                     error: "not run: \(why)", input: task.input.json))
            }
        }
    }

    /// One task, here, with its retries; records each state. Throws only to end the whole run
    /// (cancellation, budget); an ordinary failure is recorded and the run goes on.
    func performHere(_ task: PlannedTask, workflow: any WorkflowPlan, policy: RetryPolicy, context: AgentContext) async throws {
        var info = TaskInfo(runID: context.runID, key: task.key, agent: task.agent, status: .running, input: task.input.json)
        guard let agent = workflow.agent(named: task.agent) else {
            info.status = .failed
            info.error = "no agent \"\(task.agent)\""
            try await ledger.commitTask(info)
            return
        }
        var random = SystemRandomNumberGenerator()
        for attempt in 1...policy.attempts {
            try Task.checkCancellation()
            info.attempts = attempt
            info.status = .running
            info.startedAt = clock.wallMilliseconds()
            try await ledger.commitTask(info)
            let output: TaskOutput
            do {
                // Metered calls deep inside the agent are recorded against this job, run and task.
                let spending = SpendContext(job: context.job.name, runID: context.runID, taskKey: task.key)
                output = try await SpendContext.$current.withValue(spending) {
                    try await pool.withPermit { try await agent.perform(task, context: context) }
                }
            } catch is CancellationError {
                info.status = .cancelled
                info.finishedAt = clock.wallMilliseconds()
                try? await ledger.commitTask(info)
                throw CancellationError()
            } catch {
                // A client's typed error (e.g. a marketplace's) says itself whether a retry can help.
                let failure = (error as? TaskFailure) ?? (error as? any RetryClassified)?.taskFailure ?? .permanent("\(error)")
                info.finishedAt = clock.wallMilliseconds()
                info.error = failure.description
                switch failure {
                case .transient(_, let retryAfter) where attempt < policy.attempts:
                    info.status = .pending
                    try await ledger.commitTask(info)
                    let wait = policy.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &random)
                    context.logger.notice("task \(task.key) failed (attempt \(attempt) of \(policy.attempts)), retrying in \(wait): \(failure)",
                                          metadata: ["task": "\(task.key)"])
                    try await clock.sleep(milliseconds: wait.milliseconds)
                case .budgetExhausted(let message):
                    info.status = .failed
                    try await ledger.commitTask(info)
                    throw Ending.budget(message)
                default:
                    info.status = .failed
                    try await ledger.commitTask(info)
                    return
                }
                continue
            }
            // Outside the agent's `do`: a ledger error here is the ledger's, not a failure of
            // work that succeeded (which must not be redone as if it had failed).
            info.status = .succeeded
            info.result = output.result.json
            info.error = nil
            info.finishedAt = clock.wallMilliseconds()
            try await ledger.commitTask(info)
            return
        }
    }
}

/// A ledger that can read a run's tasks leaving out the succeeded tasks of some agents after
/// the first of each (what the coordinator hands `followUp` and `summarize` for a plan's
/// `condensedAgents`).
public protocol CondensedTaskReading: Sendable {
    /// The run's tasks in the order they were planned, without the succeeded tasks of
    /// `agents` other than the first planned of each agent.
    func tasks(runID: Int64, condensing agents: Set<String>) throws -> [TaskInfo]
}

/// The most tasks of one wave a coordinator held at once (a page being planned plus the tasks
/// in flight), for tests and benchmarks.
public final class WaveGauge: Sendable {
    private let state = Mutex((current: 0, highWater: 0))

    public init() {}

    func held(_ count: Int) {
        state.withLock { $0.current = count; $0.highWater = Swift.max($0.highWater, count) }
    }

    /// The most a coordinator held at once since this gauge was made.
    public var highWater: Int { state.withLock { $0.highWater } }
}
