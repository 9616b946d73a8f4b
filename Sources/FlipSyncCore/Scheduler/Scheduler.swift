import Logging

/// Decides when jobs run, and starts their runs.
///
/// It sleeps until the earliest due fire time on its clock — no polling; with nothing due it
/// wakes only for the watchdog ping, if there is one — and before firing reads the wall clock
/// again, so a sleep that ends early fires nothing twice. Each fire is recorded in the ledger
/// under a unique (job, fire time) and the last handled fire time is persisted per job, so a
/// restart or a clock jump never fires the same time twice and never loses one silently:
/// fires that pass while the daemon is down, the machine sleeps or the clock jumps forward are
/// recorded as missed or caught up, as each job's `catch_up` says.
///
/// Runs are child tasks of `run()`: cancelling it cancels them. `stop(drain:)` ends scheduling,
/// lets running runs finish for up to `drain`, then cancels the rest.
public actor Scheduler {
    /// Something worth telling operators (and tests) about.
    public enum Event: Sendable, Hashable {
        case started(runID: Int64, job: String, trigger: RunTrigger, scheduledAt: Int64?)
        case finished(runID: Int64, job: String, status: RunStatus)
        case skipped(job: String, scheduledAt: Int64, reason: SkipReason)
        case clockJumped(milliseconds: Int64)
        case idle
    }

    /// A job as `flipsyncctl list` shows it.
    public struct JobStatus: Sendable, Hashable, Codable {
        public var name: String
        public var kind: String
        public var enabled: Bool
        public var paused: Bool
        /// Seconds since the epoch.
        public var next: Int64?
        public var last: Int64?
        public var lastRunID: Int64?
        public var running: Int64?
        public var queued: Bool

        public init(name: String, kind: String, enabled: Bool, paused: Bool, next: Int64?, last: Int64?,
                    lastRunID: Int64?, running: Int64?, queued: Bool) {
            self.name = name
            self.kind = kind
            self.enabled = enabled
            self.paused = paused
            self.next = next
            self.last = last
            self.lastRunID = lastRunID
            self.running = running
            self.queued = queued
        }
    }

    /// Why the scheduler refuses a request (`trigger`, `setPaused`); the control socket sends
    /// ``description`` back as the refusal. (Not `FlipSyncControl.ControlError`, which is about
    /// the socket itself.)
    public enum RequestError: Error, Sendable, Hashable, CustomStringConvertible {
        case unknownJob(String)
        case alreadyRunning(job: String, runID: Int64)
        case stopping
        case ledger(String)

        public var description: String {
            switch self {
            case .unknownJob(let job): return "no job \"\(job)\""
            case .alreadyRunning(let job, let runID): return "\(job) is already running (run \(runID)) and its overlap policy is skip"
            case .stopping: return "the daemon is stopping"
            case .ledger(let message): return message
            }
        }
    }

    /// A fire is on time if it is handled less than this long after its due time (seconds); later
    /// ones were missed (the daemon was down, the machine slept or the clock jumped) and follow
    /// `catch_up`.
    public static let onTimeTolerance: Int64 = 60

    private let ledger: any RunLedger
    private let clock: any SchedulerClock
    private let executor: any RunExecutor
    private var logger: Logger
    private let watchdogInterval: TimeSpan?
    private let onAlive: @Sendable () -> Void
    private let onStatus: @Sendable (String) -> Void

    private var catalog: JobCatalog
    private var states: [String: ScheduleState] = [:]
    private var nextDue: [String: Int64] = [:]
    /// The run of each job in progress; `handle` is nil between recording and starting it.
    private var running: [String: (runID: Int64, handle: Task<RunStatus, Never>?)] = [:]
    private var queued: [String: [RunInfo]] = [:]
    private var startQueue: [(RunInfo, JobDefinition)] = []
    private var waiters: [Int64: [(id: Int, continuation: CheckedContinuation<RunStatus?, Never>)]] = [:]
    private var nextWaiterID = 0
    private var stopping = false
    private var sleeper: Task<Void, any Error>?
    private var wakePending = false
    private var lastWall: Int64 = 0
    private var lastMonotonic: Int64 = 0

    public nonisolated let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation

    public init(catalog: JobCatalog, ledger: any RunLedger, clock: any SchedulerClock, executor: any RunExecutor,
                logger: Logger, watchdogInterval: TimeSpan? = nil,
                onAlive: @escaping @Sendable () -> Void = {}, onStatus: @escaping @Sendable (String) -> Void = { _ in }) {
        self.catalog = catalog
        self.ledger = ledger
        self.clock = clock
        self.executor = executor
        self.logger = logger
        self.watchdogInterval = watchdogInterval
        self.onAlive = onAlive
        self.onStatus = onStatus
        // Bounded: a daemon that never reads its events must not grow without end.
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(4096))
    }

    // MARK: - The loop

    /// Schedules until `stop` is called (or the task is cancelled), then drains.
    public func run(drain: TimeSpan = .seconds(30)) async {
        await withDiscardingTaskGroup { group in
            loadState()
            while !stopping && !Task.isCancelled {
                noticeClockJumps()
                fireDue()
                for (run, job) in startQueue { start(run, job, in: &group) }
                startQueue.removeAll()
                onAlive()
                publishStatus()
                await sleepUntilDue()
            }
            await drainRuns(within: drain)
            eventSink.finish()
        }
    }

    /// Ends scheduling; `run` drains and returns.
    public func stop() {
        stopping = true
        wake()
    }

    private func wake() {
        if let sleeper {
            sleeper.cancel()
        } else {
            wakePending = true
        }
    }

    private func sleepUntilDue() async {
        if wakePending {
            wakePending = false
            return
        }
        let nowMs = clock.wallMilliseconds()
        var delay: Int64 = 86_400_000  // nothing due: a day, unless the watchdog needs us sooner
        if let soonest = nextDue.values.min() { delay = max(0, soonest * 1000 - nowMs) }
        if let watchdogInterval { delay = min(delay, watchdogInterval.milliseconds) }
        eventSink.yield(.idle)
        let task = Task { [clock] in try await clock.sleep(milliseconds: delay) }
        sleeper = task
        await withTaskCancellationHandler {
            _ = try? await task.value
        } onCancel: {
            task.cancel()
        }
        sleeper = nil
    }

    /// Wall time moved differently from monotonic time: someone set the clock, or the machine was
    /// suspended. Fires that passed are then handled as missed; nothing fires twice either way.
    private func noticeClockJumps() {
        let wall = clock.wallMilliseconds(), monotonic = clock.monotonicMilliseconds()
        defer { (lastWall, lastMonotonic) = (wall, monotonic) }
        guard lastMonotonic != 0 else { return }
        let drift = (wall - lastWall) - (monotonic - lastMonotonic)
        if abs(drift) >= 2000 {
            logger.warning("wall clock moved \(drift / 1000)s against the monotonic clock (clock change or suspend); rescheduling",
                           metadata: ["event": "clock-jump"])
            eventSink.yield(.clockJumped(milliseconds: drift))
        }
    }

    // MARK: - State

    private func loadState() {
        let now = clock.now().secondsSinceEpoch
        do {
            states = try ledger.scheduleStates()
        } catch {
            logger.error("cannot read schedule state, starting from now: \(error)")
        }
        for job in catalog.jobs { prepare(job, now: now, scheduleChanged: false) }
    }

    /// Sets a job's next due time: after the last handled fire (so missed fires are caught up),
    /// or after now for a new job or a changed schedule.
    private func prepare(_ job: JobDefinition, now: Int64, scheduleChanged: Bool) {
        var state = states[job.name] ?? ScheduleState(job: job.name)
        if state.lastScheduledAt == nil || scheduleChanged { state.lastScheduledAt = now }
        let next = job.enabled ? job.nextFire(after: Timestamp(secondsSinceEpoch: state.lastScheduledAt ?? now)) : nil
        nextDue[job.name] = next?.secondsSinceEpoch
        state.nextDueAt = next?.secondsSinceEpoch
        save(state)
    }

    private func save(_ state: ScheduleState) {
        states[state.job] = state
        do { try ledger.saveScheduleState(state) } catch { logger.error("cannot save schedule state for \(state.job): \(error)") }
    }

    /// Swaps in a new, valid catalog. Changed schedules take effect from now; running runs go on.
    public func reload(_ newCatalog: JobCatalog) {
        let now = clock.now().secondsSinceEpoch
        let old = catalog
        catalog = newCatalog
        for job in newCatalog.jobs {
            let previous = old[job.name]
            let changed = previous.map {
                $0.scheduleText != job.scheduleText || $0.timezone.identifier != job.timezone.identifier
                    || $0.jitter != job.jitter || $0.enabled != job.enabled
            } ?? true
            if previous == nil || changed { prepare(job, now: now, scheduleChanged: previous != nil) }
        }
        for name in nextDue.keys where newCatalog[name] == nil { nextDue[name] = nil }
        logger.debug("scheduler now holds \(newCatalog.jobs.count) jobs")
        wake()
    }

    // MARK: - Firing

    /// Every due fire of every job, recorded in one ledger transaction: a thousand jobs due in
    /// the same second cost one commit, not two thousand. If the transaction cannot begin (the
    /// ledger is locked past its busy timeout) nothing is fired and the fires wait for the next
    /// turn of the loop, which pings the watchdog first; if it cannot commit, the scheduler's
    /// own state goes back to what the ledger holds, so the same fires are tried again (each is
    /// recorded at most once, by its unique key).
    private func fireDue() {
        let now = clock.now().secondsSinceEpoch
        guard nextDue.values.contains(where: { $0 <= now }) else { return }
        let saved = (nextDue, states, running, queued, startQueue)
        var ran = false
        do {
            try ledger.batch {
                ran = true
                fireDueJobs(now: now)
            }
        } catch {
            if ran { (nextDue, states, running, queued, startQueue) = saved }
            logger.error("cannot record the fires due now; they wait for the next turn: \(error)", metadata: ["event": "fires-deferred"])
        }
    }

    private func fireDueJobs(now: Int64) {
        for job in catalog.jobs {
            guard job.enabled, var due = nextDue[job.name], due <= now else { continue }
            // Every fire time up to now, a bounded batch at a time.
            var fires: [Int64] = [due]
            while fires.count < 1000, let next = job.nextFire(after: Timestamp(secondsSinceEpoch: due)), next.secondsSinceEpoch <= now {
                due = next.secondsSinceEpoch
                fires.append(due)
            }
            handle(fires, of: job, now: now)
            var state = states[job.name] ?? ScheduleState(job: job.name)
            state.lastScheduledAt = fires.last
            let next = job.nextFire(after: Timestamp(secondsSinceEpoch: fires.last!))
            nextDue[job.name] = next?.secondsSinceEpoch
            state.nextDueAt = next?.secondsSinceEpoch
            save(state)
        }
    }

    private func handle(_ fires: [Int64], of job: JobDefinition, now: Int64) {
        let paused = states[job.name]?.paused ?? false
        // Fires less than the tolerance late are on time and run (each by the overlap policy),
        // however many there are: a scheduler a few seconds behind misses nothing.
        let onTime = fires.filter { now - $0 < Self.onTimeTolerance }
        let missed = fires.filter { now - $0 >= Self.onTimeTolerance }
        let window = job.catchUpWindow.seconds
        var catchUps: [Int64] = []
        if !paused {
            switch job.catchUp {
            case .skip: break
            case .latest:
                if onTime.isEmpty, let latest = missed.last, now - latest <= window { catchUps = [latest] }
            case .all:
                catchUps = missed.filter { now - $0 <= window }
            }
        }
        if !missed.isEmpty {
            logger.warning("\(missed.count) fires of \(job.name) were missed (\(Timestamp(secondsSinceEpoch: missed[0])) to \(Timestamp(secondsSinceEpoch: missed.last!))); catch_up = \(job.catchUp.rawValue) runs \(catchUps.count)",
                           metadata: ["job": "\(job.name)", "event": "run-missed"])
        }
        for fire in missed where !catchUps.contains(fire) {
            skip(job, at: fire, reason: paused ? .paused : .missed, note: paused ? "job paused" : "missed (daemon down, suspend or clock jump)")
        }
        for fire in catchUps { request(job, trigger: .catchUp, scheduledAt: fire, requestedBy: nil, persistState: false) }
        for fire in onTime {
            if paused {
                skip(job, at: fire, reason: .paused, note: "job paused")
            } else {
                request(job, trigger: .schedule, scheduledAt: fire, requestedBy: nil, persistState: false)
            }
        }
    }

    private func skip(_ job: JobDefinition, at fire: Int64, reason: SkipReason, note: String) {
        do {
            guard try ledger.recordFire(job: job.name, kind: job.kind.rawValue, trigger: .schedule, requestedBy: nil,
                                        scheduledAt: fire, status: .skipped, skipReason: reason, summary: note,
                                        at: clock.wallMilliseconds(), resumes: nil) != nil else { return }
        } catch {
            logger.error("cannot record skipped fire of \(job.name): \(error)")
            return
        }
        if reason != .missed {
            logger.notice("skipped \(job.name) at \(Timestamp(secondsSinceEpoch: fire)): \(note)",
                          metadata: ["job": "\(job.name)", "event": "run-skipped"])
        }
        eventSink.yield(.skipped(job: job.name, scheduledAt: fire, reason: reason))
    }

    /// A run is wanted now: start it, queue it, skip it or replace the running one, as the job's
    /// `overlap` says. Returns the new run, or nil if the fire was skipped or already recorded.
    @discardableResult
    /// `persistState: false` when the caller saves the job's schedule state itself (`fireDue`
    /// does, once per job per tick), to spare the ledger a write per fire.
    private func request(_ job: JobDefinition, trigger: RunTrigger, scheduledAt: Int64?, requestedBy: UInt32?,
                         resumes: Int64? = nil, persistState: Bool = true) -> RunInfo? {
        if let current = running[job.name] {
            switch job.overlap {
            case .skip:
                if let scheduledAt {
                    skip(job, at: scheduledAt, reason: .overlap, note: "run \(current.runID) still running")
                }
                return nil
            case .queue:
                // At most one waits — more for catch-up of every missed fire.
                if (queued[job.name]?.isEmpty ?? true) || trigger == .catchUp {
                    break
                }
                if let scheduledAt {
                    skip(job, at: scheduledAt, reason: .overlap, note: "a run is already queued behind run \(current.runID)")
                }
                return nil
            case .replace:
                logger.notice("cancelling run \(current.runID) of \(job.name): a new run replaces it",
                              metadata: ["job": "\(job.name)", "run": "\(current.runID)"])
                if let handle = current.handle {
                    handle.cancel()
                } else if let index = startQueue.firstIndex(where: { $0.0.id == current.runID }) {
                    // Not started yet: it never will be.
                    startQueue.remove(at: index)
                    try? ledger.finishRun(runID: current.runID, status: .cancelled, summary: nil, error: "replaced by a newer run",
                                          spendMicros: 0, at: clock.wallMilliseconds())
                }
            }
        }
        let run: RunInfo
        do {
            guard let recorded = try ledger.recordFire(job: job.name, kind: job.kind.rawValue, trigger: trigger,
                                                       requestedBy: requestedBy, scheduledAt: scheduledAt, status: .queued,
                                                       skipReason: nil, summary: nil, at: clock.wallMilliseconds(),
                                                       resumes: resumes) else { return nil }
            run = recorded
        } catch {
            logger.error("cannot record a run of \(job.name): \(error)")
            return nil
        }
        if running[job.name] != nil && job.overlap != .replace {
            queued[job.name, default: []].append(run)
        } else {
            startQueue.append((run, job))
            running[job.name] = (run.id, nil)
        }
        var state = states[job.name] ?? ScheduleState(job: job.name)
        state.lastRunID = run.id
        if persistState { save(state) } else { states[job.name] = state }
        return run
    }

    private func start(_ run: RunInfo, _ job: JobDefinition, in group: inout DiscardingTaskGroup) {
        let handle = Task { [executor] in await executor.execute(run: run, job: job) }
        running[job.name] = (run.id, handle)
        eventSink.yield(.started(runID: run.id, job: job.name, trigger: run.trigger, scheduledAt: run.scheduledAt))
        group.addTask {
            let status = await withTaskCancellationHandler {
                await handle.value
            } onCancel: {
                handle.cancel()
            }
            await self.finished(run, job: job, status: status)
        }
    }

    private func finished(_ run: RunInfo, job: JobDefinition, status: RunStatus) {
        if running[job.name]?.runID == run.id { running[job.name] = nil }
        eventSink.yield(.finished(runID: run.id, job: job.name, status: status))
        for waiter in waiters.removeValue(forKey: run.id) ?? [] { waiter.continuation.resume(returning: status) }
        if !stopping, var waiting = queued[job.name], !waiting.isEmpty {
            let next = waiting.removeFirst()
            queued[job.name] = waiting
            startQueue.append((next, catalog[job.name] ?? job))
            running[job.name] = (next.id, nil)
        }
        publishStatus()
        wake()
    }

    private func drainRuns(within drain: TimeSpan) async {
        // Recorded but not started, or queued behind another run: they will not start now.
        for (run, job) in startQueue {
            try? ledger.finishRun(runID: run.id, status: .cancelled, summary: nil, error: "daemon stopping",
                                  spendMicros: 0, at: clock.wallMilliseconds())
            if running[job.name]?.runID == run.id { running[job.name] = nil }
        }
        startQueue.removeAll()
        for (_, runs) in queued {
            for run in runs {
                try? ledger.finishRun(runID: run.id, status: .cancelled, summary: nil, error: "daemon stopping",
                                      spendMicros: 0, at: clock.wallMilliseconds())
            }
        }
        queued.removeAll()
        let deadline = clock.monotonicMilliseconds() + drain.milliseconds
        while !running.isEmpty && !Task.isCancelled {
            let left = deadline - clock.monotonicMilliseconds()
            if left <= 0 { break }
            logger.info("waiting up to \(left / 1000)s for \(running.count) running runs", metadata: ["event": "draining"])
            let task = Task { [clock] in try await clock.sleep(milliseconds: left) }
            sleeper = task
            _ = try? await task.value
            sleeper = nil
        }
        for (job, current) in running {
            logger.warning("cancelling run \(current.runID) of \(job): drain time is over", metadata: ["job": "\(job)"])
            current.handle?.cancel()
        }
    }

    // MARK: - Control

    /// Starts a run now (recorded as manual, with the caller's uid).
    public func trigger(job name: String, requestedBy uid: UInt32?) throws(RequestError) -> RunInfo {
        guard !stopping else { throw .stopping }
        guard let job = catalog[name] else { throw .unknownJob(name) }
        if let current = running[name], job.overlap == .skip { throw .alreadyRunning(job: name, runID: current.runID) }
        guard let run = request(job, trigger: .manual, scheduledAt: nil, requestedBy: uid) else {
            throw .ledger("could not record the run (see the journal)")
        }
        wake()
        return run
    }

    /// Resumes an interrupted run: a new run that skips the tasks that already succeeded.
    public func resume(interrupted run: RunInfo) {
        guard let job = catalog[run.job], job.resumeInterrupted else { return }
        logger.info("resuming interrupted run \(run.id) of \(job.name)", metadata: ["job": "\(job.name)"])
        request(job, trigger: run.trigger, scheduledAt: nil, requestedBy: run.requestedBy, resumes: run.id)
        wake()
    }

    /// Waits for a run to end and returns its status.
    /// Returns `nil` if the waiting task is cancelled first (the run goes on).
    public func waitForRun(_ runID: Int64) async -> RunStatus? {
        if let info = try? ledger.run(id: runID), info.status.isFinal { return info.status }
        nextWaiterID += 1
        let id = nextWaiterID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RunStatus?, Never>) in
                if Task.isCancelled { continuation.resume(returning: nil) } else {
                    waiters[runID, default: []].append((id, continuation))
                }
            }
        } onCancel: {
            Task { await self.dropWaiter(runID: runID, id: id) }
        }
    }

    private func dropWaiter(runID: Int64, id: Int) {
        guard let index = waiters[runID]?.firstIndex(where: { $0.id == id }) else { return }
        waiters[runID]?.remove(at: index).continuation.resume(returning: nil)
    }

    public func setPaused(_ paused: Bool, job name: String) throws(RequestError) {
        guard catalog[name] != nil else { throw .unknownJob(name) }
        var state = states[name] ?? ScheduleState(job: name)
        state.paused = paused
        save(state)
        logger.notice("\(paused ? "paused" : "resumed") \(name)", metadata: ["job": "\(name)"])
    }

    public func jobs() -> [JobStatus] {
        catalog.jobs.map { job in
            let state = states[job.name]
            return JobStatus(name: job.name, kind: job.kind.rawValue, enabled: job.enabled, paused: state?.paused ?? false,
                             next: nextDue[job.name], last: state?.lastScheduledAt, lastRunID: state?.lastRunID,
                             running: running[job.name]?.runID, queued: !(queued[job.name]?.isEmpty ?? true))
        }
    }

    /// "6 jobs, 2 running, next: nightly-repricing in 3h12m"
    public func statusLine() -> String {
        let now = clock.now().secondsSinceEpoch
        var line = "\(catalog.jobs.count) job\(catalog.jobs.count == 1 ? "" : "s"), \(running.count) running"
        if let (name, due) = nextDue.min(by: { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }) {
            line += ", next: \(name) in \(TimeSpan.seconds(max(0, due - now)).roundedForHumans)"
        }
        return line
    }

    private func publishStatus() {
        onStatus(statusLine())
    }
}

extension TimeSpan {
    /// `3h12m`, `45s`, `2d4h`: the two largest units.
    public var roundedForHumans: String {
        let units: [(String, Int64)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        var rest = max(0, seconds)
        var parts: [String] = []
        for (name, size) in units where rest >= size || (parts.isEmpty && size == 1) {
            parts.append("\(rest / size)\(name)")
            rest %= size
            if parts.count == 2 { break }
        }
        return parts.joined()
    }
}
