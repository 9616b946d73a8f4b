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

    let ledger: any RunLedger
    let clock: any SchedulerClock
    let executor: any RunExecutor
    var logger: Logger
    let watchdogInterval: TimeSpan?
    let onAlive: @Sendable () -> Void
    let onStatus: @Sendable (String) -> Void
    /// Several nodes (`[daemon] cluster`): fires only while this node holds the scheduler lease,
    /// each claimed cluster-wide first. `nil`: one node, fires as its own ledger says.
    let gate: (any FireGate)?
    /// With a gate: this node does not hold the lease (or could not reach the cluster), so it
    /// follows the cluster's fires instead of making its own.
    var standby = true

    var catalog: JobCatalog
    var states: [String: ScheduleState] = [:]
    var nextDue: [String: Int64] = [:]
    /// The run of each job in progress; `handle` is nil between recording and starting it.
    var running: [String: (runID: Int64, handle: Task<RunStatus, Never>?)] = [:]
    var queued: [String: [RunInfo]] = [:]
    var startQueue: [(RunInfo, JobDefinition)] = []
    var waiters: [Int64: [(id: Int, continuation: CheckedContinuation<RunStatus?, Never>)]] = [:]
    var nextWaiterID = 0
    var stopping = false
    var sleeper: Task<Void, any Error>?
    var wakePending = false
    var lastWall: Int64 = 0
    var lastMonotonic: Int64 = 0

    public nonisolated let events: AsyncStream<Event>
    let eventSink: AsyncStream<Event>.Continuation

    public init(catalog: JobCatalog, ledger: any RunLedger, clock: any SchedulerClock, executor: any RunExecutor,
                logger: Logger, watchdogInterval: TimeSpan? = nil, gate: (any FireGate)? = nil,
                onAlive: @escaping @Sendable () -> Void = {}, onStatus: @escaping @Sendable (String) -> Void = { _ in }) {
        self.catalog = catalog
        self.ledger = ledger
        self.clock = clock
        self.executor = executor
        self.logger = logger
        self.watchdogInterval = watchdogInterval
        self.onAlive = onAlive
        self.onStatus = onStatus
        self.gate = gate
        // Bounded: a daemon that never reads its events must not grow without end.
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(4096))
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
