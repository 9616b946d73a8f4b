import Dispatch
import FlipSyncCore
import FlipSyncStore
import FlipSyncSystemd
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGHUP, the one signal the daemon handles itself (SIGTERM and SIGINT are the service group's
/// `gracefulShutdownSignals`). The sequence is trapped first thing at start-up, before the
/// config is read, so a SIGHUP that arrives while the daemon starts is queued instead of
/// killing it (SIGHUP's default action); this service acts on queued and later SIGHUPs once
/// `READY=1` has been sent, each as one `Reloader.reload()`, until graceful shutdown.
public struct ReloadService: Service, CustomStringConvertible {
    let hangups: UnixSignalsSequence
    let reloader: Reloader
    let status: DaemonStatus

    public init(hangups: UnixSignalsSequence, reloader: Reloader, status: DaemonStatus) {
        self.hangups = hangups
        self.reloader = reloader
        self.status = status
    }

    public var description: String { "reload" }

    public func run() async throws {
        // A reload reads and parses every file; it runs beside this loop, so a stop during a
        // slow one is acted on at once.
        let reloads = ReloadRunner(reloader: reloader)
        defer { reloads.cancel() }
        let (hangups, status) = (self.hangups, self.status)
        await cancelWhenGracefulShutdown {
            await status.untilReady()
            for await _ in hangups { reloads.request() }
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
/// effect, running runs go on) and the budgets; an invalid one is refused whole, every error is
/// logged with its file and line, and STATUS says so until a later reload succeeds. Settings that
/// need a restart are journaled as such when they change.
public struct Reloader: Sendable {
    let setup: DaemonSetup
    let running: FlipSyncConfig
    let scheduler: Scheduler
    let spend: any BudgetedSpendRecorder
    /// The quota ledger, whose reserves and job kinds a reload replaces (nil: none to update).
    let quota: (any QuotaLedgerWithState)?
    let notifier: Notifier
    let status: DaemonStatus
    let logger: Logger
    /// Where the config and jobs are read (a private serial queue: see `reload()`).
    private static let reader = DispatchQueue(label: "flipsync.reload")

    public init(setup: DaemonSetup, running: FlipSyncConfig, scheduler: Scheduler, spend: any BudgetedSpendRecorder,
                quota: (any QuotaLedgerWithState)? = nil, notifier: Notifier, status: DaemonStatus, logger: Logger) {
        self.setup = setup
        self.running = running
        self.scheduler = scheduler
        self.spend = spend
        self.quota = quota
        self.notifier = notifier
        self.status = status
        self.logger = logger
    }

    public func reload() async {
        notifier.reloading()
        logger.info("reloading config and jobs", metadata: ["event": "reloading"])
        // Reading and parsing is plain blocking work: a thread of its own, so neither the signal
        // loop nor the scheduler's threads wait for it. A serial queue of its own, not a global
        // one: a global queue's worker starts libdispatch's once-a-second pool monitor, which
        // would wake the idle daemon every second from then on (Entry.swift in flipsyncd).
        let setup = self.setup
        let loaded = await withCheckedContinuation { (done: CheckedContinuation<DaemonSetup.Loaded, Never>) in
            Self.reader.async { done.resume(returning: setup.load(now: SystemClock.now())) }
        }
        guard !Task.isCancelled else {
            logger.notice("reload not applied: the daemon is stopping", metadata: ["event": "reload-abandoned"])
            return
        }
        let errors = loaded.errors
        if errors.isEmpty {
            Diagnostic.log(loaded.diagnostics, to: logger)
            for setting in running.restartOnlyChanges(comparedTo: loaded.config) {
                logger.warning("\(setting) changed; it takes effect after a restart", metadata: ["event": "reloaded"])
            }
            await scheduler.reload(loaded.catalog)
            // Budgets (the config's and each job's) take effect at once.
            spend.setBudgets(SpendBudgets(config: loaded.config, jobs: loaded.catalog.jobs))
            // So do `[quotas] reserve` and the jobs' kinds (a job added now has its own reserve);
            // the daily limits come from `[marketplaces]`, which takes a restart (warned above).
            quota?.setPolicy(QuotaPolicy(config: loaded.config, jobs: loaded.catalog.jobs))
            status.reloadProblem = nil
            logger.notice("reloaded: \(loaded.catalog.jobs.count) jobs", metadata: ["event": "reloaded"])
        } else {
            for diagnostic in errors {
                logger.error("\(diagnostic)", metadata: ["event": "reload-failed", "file": "\(diagnostic.file)", "line": "\(diagnostic.line)"])
            }
            let files = Set(errors.map(\.file)).sorted()
            let note = "reload failed: \(errors.count) error\(errors.count == 1 ? "" : "s") in \(files.joined(separator: ", ")); kept the previous jobs"
            status.reloadProblem = note
            logger.error("\(note)", metadata: ["event": "reload-failed"])
        }
        notifier.ready(status: status.line(await scheduler.statusLine()))
    }
}

extension Diagnostic {
    /// Journals the problems of config and job files that are being applied (at start, or a
    /// reload without errors): a warning as event `job-warning`, an error, whose job is not
    /// loaded while the others run, as `job-invalid`.
    public static func log(_ diagnostics: [Diagnostic], to logger: Logger) {
        for diagnostic in diagnostics {
            if diagnostic.severity == .warning {
                logger.warning("\(diagnostic)", metadata: ["event": "job-warning"])
            } else {
                logger.error("\(diagnostic) (this job is not loaded; the others run)", metadata: ["event": "job-invalid"])
            }
        }
    }
}
