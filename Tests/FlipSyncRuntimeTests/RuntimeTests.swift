import FlipSyncCore
import FlipSyncStore
import FlipSyncSystemd
import FlipSyncTestKit
import Foundation
import Logging
import Testing
@testable import FlipSyncRuntime

/// A fresh directory under the system temp directory.
struct Scratch {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "flipsync-runtime-XXXXXX").utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        try? FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        return file
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("Runtime: resuming interrupted runs and one run outside the scheduler", .timeLimit(.minutes(3)))
struct RuntimeTests {
    static let day: Int64 = 86_400_000

    @Test("a start marks the leftovers interrupted and resumes them, and the unresumed interruptions of the last day only")
    func resumeHorizon() throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        let now: Int64 = 10 * Self.day
        func record(_ job: String, at: Int64, resumes: Int64? = nil) throws -> RunInfo {
            try #require(try store.recordFire(job: job, kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                              status: .queued, skipReason: nil, summary: nil, at: at, resumes: resumes))
        }
        // Interrupted by an earlier start: two days ago (past the horizon), two hours ago (within
        // it), and one an hour ago that a later run already resumes.
        let old = try record("old", at: now - 2 * Self.day)
        let recent = try record("recent", at: now - 2 * 3_600_000)
        let resumed = try record("resumed", at: now - 3_600_000)
        _ = try store.interruptLeftovers(at: now - 60_000, reason: "earlier start")
        _ = try record("resumed", at: now - 30_000, resumes: resumed.id)
        // …whose resume was itself still queued when the daemon stopped, like this one.
        let leftover = try record("leftover", at: now - 10_000)

        let (leftovers, resume) = try Runtime.interruptedRuns(in: store, at: now)
        #expect(leftovers.map(\.job).sorted() == ["leftover", "resumed"])
        #expect(leftovers.allSatisfy { $0.status == .interrupted })
        #expect(try store.run(id: leftover.id)?.status == .interrupted)
        // The leftovers first, then the earlier unresumed interruption within the day; not the
        // one from two days ago, and not one a run already resumes.
        #expect(resume.map(\.id) == leftovers.map(\.id) + [recent.id])
        #expect(!resume.contains { $0.id == old.id || $0.id == resumed.id })
        #expect(Runtime.resumeHorizon == .seconds(86_400))
    }

    @Test("runOnce records a manual run with the caller's uid, tells onStarted, executes it and returns the row as it ended")
    func runOnce() async throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        let configFile = scratch.write("flipsync.toml", """
            [daemon]
            database = "ledger.sqlite"
            jobs_directory = "jobs"
            control_socket = "control.sock"
            """)
        scratch.write("jobs/scan.toml", """
            name = "scan"
            kind = "readiness-scan"
            schedule = "daily"
            [params]
            probes = ["database"]
            database_operations = 10
            """)
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        let loaded = DaemonSetup(configPath: configFile, environment: .init(workingDirectory: scratch.path)).load(now: clock.now())
        #expect(loaded.errors.isEmpty, "\(loaded.errors)")
        let job = try #require(loaded.catalog["scan"])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: logger)
        let started = Started()
        let (run, status) = try await runtime.runOnce(job: job, requestedBy: 4242, pool: PermitPool(permits: 4), clock: clock,
                                                      logger: logger, onStarted: { started.id = $0.id })
        #expect(started.id == run.id)
        #expect(run.job == "scan" && run.trigger == .manual && run.requestedBy == 4242 && run.scheduledAt == nil)
        #expect(run.status == status && status.isFinal)
        #expect(try runtime.sqlite!.store.run(id: run.id)?.status == status)
        #expect(try !runtime.sqlite!.store.tasks(runID: run.id).isEmpty)
    }
}

@Suite("Reload: quota reserves and job kinds", .timeLimit(.minutes(1)))
struct ReloadQuotaTests {
    @Test("a reload applies changed [quotas] reserve and an added job's kind to the quota ledger (before, they stayed as at start)")
    func reloadReplacesQuotaPolicy() async throws {
        let scratch = Scratch()
        defer { scratch.remove() }
        func config(_ share: String) -> String {
            """
            [daemon]
            database = "ledger.sqlite"
            jobs_directory = "jobs"
            control_socket = "control.sock"
            [quotas]
            reserve = { scan = "\(share)" }
            """
        }
        func job(_ name: String) -> String {
            """
            name = "\(name)"
            kind = "readiness-scan"
            schedule = "daily"
            [params]
            probes = ["database"]
            """
        }
        let configFile = scratch.write("flipsync.toml", config("20%"))
        scratch.write("jobs/scan.toml", job("scan"))
        let clock = ManualClock(Timestamp(secondsSinceEpoch: 1_780_000_000))
        let setup = DaemonSetup(configPath: configFile, environment: .init(workingDirectory: scratch.path))
        let loaded = setup.load(now: clock.now())
        #expect(loaded.errors.isEmpty, "\(loaded.errors)")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runtime = try Runtime.open(config: loaded.config, jobs: loaded.catalog.jobs, clock: clock, logger: logger)
        let quota = runtime.ledger.quota
        #expect(quota.policy.reserves["scan"]?.description == "20%")
        #expect(quota.policy.jobKinds["later"] == nil)

        let notifier = Notifier.fromEnvironment()
        let status = DaemonStatus()
        let scheduler = runtime.scheduler(catalog: loaded.catalog, pool: PermitPool(permits: 2), clock: clock, notifier: notifier,
                                          status: status, logger: logger)
        let reloader = Reloader(setup: setup, running: loaded.config, scheduler: scheduler, spend: runtime.ledger.spend,
                                quota: quota, notifier: notifier, status: status, logger: logger)
        scratch.write("flipsync.toml", config("50%"))
        scratch.write("jobs/later.toml", job("later"))
        await reloader.reload()
        #expect(status.reloadProblem == nil)
        #expect(quota.policy.reserves["scan"]?.description == "50%")
        #expect(quota.policy.jobKinds["later"] == "readiness-scan")
        await runtime.shutdown()
    }
}

private final class Started: @unchecked Sendable {
    var id: Int64?
}

@Suite("Daemon status", .timeLimit(.minutes(1)))
struct DaemonStatusTests {
    @Test("the reload problem follows the scheduler's line; untilReady returns only after markReady")
    func readyAndNote() async {
        let status = DaemonStatus()
        #expect(status.line("2 jobs, 0 running") == "2 jobs, 0 running")
        status.reloadProblem = "reload failed: 1 error in a.toml; kept the previous jobs"
        #expect(status.line("2 jobs, 0 running") == "2 jobs, 0 running; reload failed: 1 error in a.toml; kept the previous jobs")
        #expect(!status.isReady)
        let waiter = Task { await status.untilReady(); return status.isReady }
        await Task.yield()
        status.markReady()
        #expect(await waiter.value)
        await status.untilReady()  // at once, now
    }

    @Test("a cancelled wait for READY=1 returns without it (a stop before READY=1 does not hang the reload service)")
    func cancelledWait() async {
        let status = DaemonStatus()
        let waiter = Task { await status.untilReady(); return status.isReady }
        waiter.cancel()
        #expect(await waiter.value == false)
    }
}
