import FlipSyncCore
import FlipSyncStore
import FlipSyncSystemd
import Logging
import ServiceLifecycle

extension Runtime {
    /// How far back a start looks for interrupted runs that no run resumes yet: a day.
    public static let resumeHorizon = TimeSpan.seconds(86_400)

    /// The daemon's scheduler over this runtime's ledger and run coordinator: it pings the
    /// watchdog from its own loop and keeps `STATUS=` current (with the reload problem, if any).
    /// In a cluster, `gate` lets it fire only while it holds the scheduler lease, and `runGate`
    /// makes each run hold its job's cluster-wide run lease (``GatedRunExecutor``).
    public func scheduler(catalog: JobCatalog, pool: PermitPool, clock: any SchedulerClock, notifier: Notifier,
                          status: DaemonStatus, logger: Logger, gate: (any FireGate)? = nil,
                          runGate: (any JobRunGate)? = nil, dispatch: (any TaskDispatch)? = nil) -> Scheduler {
        var executor: any RunExecutor = coordinator(pool: pool, clock: clock, logger: logger, dispatch: dispatch)
        if let runGate {
            executor = GatedRunExecutor(inner: executor, gate: runGate, ledger: ledger.runs, clock: clock, logger: logger)
        }
        return Scheduler(catalog: catalog, ledger: ledger.runs, clock: clock, executor: executor,
                  logger: logger, watchdogInterval: notifier.watchdogInterval, gate: gate,
                  onAlive: { notifier.watchdog() },
                  onStatus: { line in notifier.status(status.line(line)) })
    }

    /// At start: runs a previous process of this node left `queued` or `running` become `interrupted`
    /// (journaled), and those — with interrupted runs of the last `resumeHorizon` that no run
    /// resumes yet — are handed to the scheduler, which resumes the ones whose job has
    /// `resume_interrupted = true`. On a PostgreSQL ledger several nodes share, only this node's
    /// runs (`runs.node`): another node's running runs are left alone. Errors are journaled; the
    /// start goes on.
    public func resumeInterrupted(in scheduler: Scheduler, at now: Int64, logger: Logger) async {
        do {
            let (leftovers, resume) = try Self.interruptedRuns(in: ledger.runs, at: now)
            for run in leftovers {
                logger.warning("run \(run.id) of \(run.job) was interrupted by a restart",
                               metadata: ["event": "run-interrupted", "job": "\(run.job)", "run": "\(run.id)"])
            }
            for run in resume { await scheduler.resume(interrupted: run) }
        } catch {
            logger.error("cannot mark interrupted runs: \(error)")
        }
    }

    /// Marks the leftovers interrupted and returns them, and every run to resume: the leftovers,
    /// then the interrupted runs created since `now - resumeHorizon` that no run resumes (marking
    /// and recording the resumes are separate writes, so a start killed between them leaves some).
    static func interruptedRuns(in store: any ResumableRunLedger, at now: Int64) throws
        -> (leftovers: [RunInfo], resume: [RunInfo]) {
        let leftovers = try store.interruptLeftovers(at: now, reason: "the daemon stopped while the run was going")
        let marked = Set(leftovers.map(\.id))
        let earlier = try store.unresumedInterruptions(createdSince: now - resumeHorizon.milliseconds)
            .filter { !marked.contains($0.id) }
        return (leftovers, leftovers + earlier)
    }
}

/// The scheduler as a service. It starts by sending `READY=1` (with the first `STATUS=`): the
/// service group has trapped SIGTERM and SIGINT by then, and the ledger is open, the jobs are
/// loaded and the control socket listens. It then schedules until graceful shutdown, when it
/// stops scheduling, sends `STOPPING=1` and `EXTEND_TIMEOUT_USEC=` for the drain, and returns
/// once running runs have finished or, after `drain`, been cancelled.
public struct SchedulerService: Service, CustomStringConvertible {
    let scheduler: Scheduler
    let drain: TimeSpan
    let notifier: Notifier
    let status: DaemonStatus
    let logger: Logger
    /// Told when the daemon begins to stop (before the runs drain): the cluster's task worker
    /// stops taking other nodes' tasks.
    let onStopping: @Sendable () -> Void

    public init(scheduler: Scheduler, drain: TimeSpan, notifier: Notifier, status: DaemonStatus, logger: Logger,
                onStopping: @escaping @Sendable () -> Void = {}) {
        self.onStopping = onStopping
        self.scheduler = scheduler
        self.drain = drain
        self.notifier = notifier
        self.status = status
        self.logger = logger
    }

    public var description: String { "scheduler" }

    public func run() async throws {
        let line = status.line(await scheduler.statusLine())
        notifier.ready(status: line)
        logger.notice("flipsyncd ready: \(line)", metadata: ["event": "daemon-ready"])
        status.markReady()
        let (scheduler, drain, notifier, logger, onStopping) = (self.scheduler, self.drain, self.notifier, self.logger, self.onStopping)
        await withGracefulShutdownHandler {
            await scheduler.run(drain: drain)
        } onGracefulShutdown: {
            notifier.stopping(status: "stopping: draining running runs (up to \(drain))")
            notifier.extendTimeout(microseconds: UInt64(drain.milliseconds + 5000) * 1000)
            logger.notice("stopping: no new runs; waiting up to \(drain) for running ones", metadata: ["event": "daemon-stopping"])
            onStopping()
            Task { await scheduler.stop() }
        }
    }
}

extension RetentionPruner {
    /// The pruner as a service of the daemon's group (ServiceLifecycle's own `ClosureService`):
    /// it prunes in the background until graceful shutdown.
    public var service: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: ClosureService { await cancelWhenGracefulShutdown { await self.run() } },
              successTerminationBehavior: .ignore)
    }
}

extension Logger.Level {
    /// The config's `log_level`.
    public init(_ level: FlipSyncConfig.LogLevel) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        case .critical: self = .critical
        }
    }
}
