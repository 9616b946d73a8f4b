import Dispatch
import FlipSyncControl
import FlipSyncCore
import FlipSyncRuntime
import FlipSyncStore
import FlipSyncSystemd
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// Wires the daemon together: config and jobs, the run ledger, the scheduler and its run
/// coordinator, the control socket, the journal and sd_notify, and the signals that drive
/// reload (SIGHUP) and stop (SIGTERM, SIGINT). Every decision lives in the libraries.
struct Daemon {
    /// How far back a start looks for interrupted runs no run resumes yet.
    static let resumeHorizonMilliseconds: Int64 = 86_400_000
    let setup: DaemonSetup
    let forceJournal: Bool

    /// Runs until stopped; returns the exit status (0 after a clean stop).
    func run() async -> Int32 {
        let clock = SystemSchedulerClock()
        let loaded = setup.load(now: clock.now())
        LogSetup.bootstrap(identifier: "flipsyncd", level: Logger.Level(loaded.config.logLevel), forceJournal: forceJournal)
        var logger = Logger(label: "flipsyncd")
        let notifier = Notifier.fromEnvironment()

        guard loaded.configIsValid else {
            for diagnostic in loaded.errors { logger.critical("\(diagnostic)", metadata: ["event": "config-invalid"]) }
            logger.critical("\(loaded.config.file) is invalid; not starting", metadata: ["event": "config-invalid"])
            return 1
        }
        for diagnostic in loaded.diagnostics {
            logger.error("\(diagnostic) (this job is not loaded; the others run)", metadata: ["event": "job-invalid"])
        }
        let config = loaded.config
        logger[metadataKey: "config"] = "\(config.file)"

        let runtime: Runtime
        do {
            runtime = try Runtime.open(config: config, jobs: loaded.catalog.jobs, clock: clock, logger: logger)
        } catch {
            logger.critical("cannot open the run ledger: \(error)", metadata: ["event": "database-failed"])
            return 1
        }
        let store = runtime.store
        logger.info("run ledger \(config.databasePath); marketplaces: \(runtime.services.marketplaces.keys.map(\.rawValue).sorted().joined(separator: ", "))")

        let pool = PermitPool(permits: config.poolSize)
        let coordinator = runtime.coordinator(pool: pool, clock: clock, logger: logger)
        let reloadProblem = ReloadProblem()
        let scheduler = Scheduler(
            catalog: loaded.catalog, ledger: store, clock: clock, executor: coordinator, logger: logger,
            watchdogInterval: notifier.watchdogInterval,
            onAlive: { notifier.watchdog() },
            onStatus: { line in notifier.status(reloadProblem.note.map { "\(line); \($0)" } ?? line) })

        do {
            let now = clock.wallMilliseconds()
            let leftovers = try store.interruptLeftovers(at: now, reason: "the daemon stopped while the run was going")
            for run in leftovers {
                logger.warning("run \(run.id) of \(run.job) was interrupted by a restart",
                               metadata: ["event": "run-interrupted", "job": "\(run.job)", "run": "\(run.id)"])
            }
            // Marking the leftovers and recording their resumes are separate writes: runs a
            // previous start marked but was killed before resuming are resumed now (from the
            // last day; older ones are left as they are).
            let marked = Set(leftovers.map(\.id))
            let earlier = try store.unresumedInterruptions(createdSince: now - Self.resumeHorizonMilliseconds)
                .filter { !marked.contains($0.id) }
            for run in leftovers + earlier { await scheduler.resume(interrupted: run) }
        } catch {
            logger.error("cannot mark interrupted runs: \(error)")
        }

        let control = ControlServer(
            path: config.controlSocket, access: controlAccess(config, logger: logger),
            handler: SchedulerControl(scheduler: scheduler, statusNote: { reloadProblem.note }), logger: logger)
        do {
            try FileSystem.makeDirectories(FileSystem.directory(of: config.controlSocket), mode: 0o750)
            try control.start()
        } catch {
            logger.critical("cannot open the control socket: \(error)", metadata: ["event": "control-failed"])
            return 1
        }
        defer { control.stop() }

        // Trapped before READY=1: from then on systemd may send SIGHUP or SIGTERM at any moment,
        // and neither may kill the process with its default action.
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigterm, .sigint)
        let reloader = Reloader(setup: setup, running: config, scheduler: scheduler, spend: runtime.spend, notifier: notifier,
                                problem: reloadProblem, logger: logger)
        let pruner = RetentionPruner(ledger: store, clock: clock, retention: config.runRetention, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [
                .init(service: SchedulerService(scheduler: scheduler, drain: config.drainTimeout, notifier: notifier, logger: logger)),
                .init(service: Background(name: "pruner") { await pruner.run() },
                      successTerminationBehavior: .ignore),
            ],
            logger: logger))
        await group.addServiceUnlessShutdown(.init(service: SignalHandler(signals: signals, reloader: reloader, group: group),
                                                   successTerminationBehavior: .ignore))

        let status = await scheduler.statusLine()
        notifier.ready(status: status)
        logger.notice("flipsyncd ready: \(status)", metadata: ["event": "daemon-ready"])
        do {
            try await group.run()
        } catch {
            logger.critical("flipsyncd failed: \(error)")
            await runtime.shutdown()
            return 1
        }
        await runtime.shutdown()
        logger.notice("flipsyncd stopped", metadata: ["event": "daemon-stopped"])
        return 0
    }

    private func controlAccess(_ config: FlipSyncConfig, logger: Logger) -> ControlAccess {
        var uids: Set<UInt32> = [0, geteuid()]
        for user in config.controlUsers {
            if let uid = UInt32(user) {
                uids.insert(uid)
            } else if let entry = getpwnam(user) {
                uids.insert(entry.pointee.pw_uid)
            } else {
                logger.warning("daemon.control_users: no user \"\(user)\"; ignoring it")
            }
        }
        var group: UInt32?
        if let name = config.controlGroup {
            if let entry = getgrnam(name) { group = entry.pointee.gr_gid } else {
                logger.warning("daemon.control_group: no group \"\(name)\"; only root and the daemon's user may use the control socket")
            }
        }
        return ControlAccess(allowedUIDs: uids, allowedGroup: group)
    }
}

/// The scheduler as a service: on graceful shutdown it stops scheduling, tells systemd how long
/// draining may take, and returns once running runs have finished or been cancelled.
struct SchedulerService: Service {
    let scheduler: Scheduler
    let drain: TimeSpan
    let notifier: Notifier
    let logger: Logger

    func run() async throws {
        await withGracefulShutdownHandler {
            await scheduler.run(drain: drain)
        } onGracefulShutdown: {
            notifier.stopping(status: "stopping: draining running runs (up to \(drain))")
            notifier.extendTimeout(microseconds: UInt64(drain.milliseconds + 5000) * 1000)
            logger.notice("stopping: no new runs; waiting up to \(drain) for running ones", metadata: ["event": "daemon-stopping"])
            Task { await scheduler.stop() }
        }
    }
}

/// A background loop that ends when the group shuts down.
struct Background: Service, CustomStringConvertible {
    let name: String
    let body: @Sendable () async -> Void

    var description: String { name }

    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}

/// Signals, trapped once at start: SIGHUP reloads, SIGTERM and SIGINT stop the daemon gracefully.
struct SignalHandler: Service, CustomStringConvertible {
    let signals: UnixSignalsSequence
    let reloader: Reloader
    let group: ServiceGroup

    var description: String { "signals" }

    func run() async throws {
        // A reload reads and parses every file; it runs beside this loop, so SIGTERM during a
        // slow one is acted on at once.
        let reloads = ReloadRunner(reloader: reloader)
        defer { reloads.cancel() }
        await cancelWhenGracefulShutdown {
            for await signal in signals {
                if signal == .sighup {
                    reloads.request()
                } else {
                    await group.triggerGracefulShutdown()
                }
            }
        }
    }
}

/// Reloads one at a time, off the signal loop: SIGHUPs that arrive while one runs fold into
/// one more reload after it. Cancelled when the daemon stops: a reload then in progress is not
/// applied.
final class ReloadRunner: Sendable {
    private struct State {
        var task: Task<Void, Never>?
        var again = false
    }

    private let state = Mutex(State())
    let reloader: Reloader

    init(reloader: Reloader) {
        self.reloader = reloader
    }

    func request() {
        state.withLock { s in
            if s.task != nil {
                s.again = true
                return
            }
            s.task = Task { await self.loop() }
        }
    }

    private func loop() async {
        while !Task.isCancelled {
            await reloader.reload()
            let more = state.withLock { s in
                if s.again && !Task.isCancelled {
                    s.again = false
                    return true
                }
                s.task = nil
                return false
            }
            if !more { return }
        }
    }

    func cancel() {
        state.withLock { $0.task }?.cancel()
    }
}

/// SIGHUP: re-read the config and jobs. A valid set replaces the catalog (changed schedules take
/// effect, running runs go on); an invalid one is refused whole, every error is logged with its
/// file and line, and STATUS says so until a later reload succeeds.
struct Reloader: Sendable {
    let setup: DaemonSetup
    let running: FlipSyncConfig
    let scheduler: Scheduler
    let spend: SpendLedger
    let notifier: Notifier
    let problem: ReloadProblem
    let logger: Logger

    func reload() async {
        notifier.reloading()
        logger.info("reloading config and jobs", metadata: ["event": "reloading"])
        // Reading and parsing is plain blocking work: a thread of its own, so neither the signal
        // loop nor the scheduler's threads wait for it.
        let setup = self.setup
        let loaded = await withCheckedContinuation { (done: CheckedContinuation<DaemonSetup.Loaded, Never>) in
            DispatchQueue.global(qos: .utility).async { done.resume(returning: setup.load(now: SystemClock.now())) }
        }
        guard !Task.isCancelled else {
            logger.notice("reload not applied: the daemon is stopping", metadata: ["event": "reload-abandoned"])
            return
        }
        let errors = loaded.errors
        if errors.isEmpty {
            for setting in running.restartOnlyChanges(comparedTo: loaded.config) {
                logger.warning("\(setting) changed; it takes effect after a restart", metadata: ["event": "reloaded"])
            }
            await scheduler.reload(loaded.catalog)
            // Budgets (the config's and each job's) take effect at once.
            spend.setBudgets(SpendBudgets(config: loaded.config, jobs: loaded.catalog.jobs))
            problem.note = nil
            logger.notice("reloaded: \(loaded.catalog.jobs.count) jobs", metadata: ["event": "reloaded"])
        } else {
            for diagnostic in errors {
                logger.error("\(diagnostic)", metadata: ["event": "reload-failed", "file": "\(diagnostic.file)", "line": "\(diagnostic.line)"])
            }
            let files = Set(errors.map(\.file)).sorted()
            let note = "reload failed: \(errors.count) error\(errors.count == 1 ? "" : "s") in \(files.joined(separator: ", ")); kept the previous jobs"
            problem.note = note
            logger.error("\(note)", metadata: ["event": "reload-failed"])
        }
        let status = await scheduler.statusLine()
        notifier.ready(status: problem.note.map { "\(status); \($0)" } ?? status)
    }
}

/// Why the last reload was refused, until a later one succeeds; shown in STATUS and `flipsyncctl status`.
final class ReloadProblem: Sendable {
    private let state = Mutex<String?>(nil)

    var note: String? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

extension Logger.Level {
    init(_ level: FlipSyncConfig.LogLevel) {
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
