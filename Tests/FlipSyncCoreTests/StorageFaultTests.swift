import Foundation
import FlipSyncTestKit
import GRDB
import Logging
import Synchronization
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
#if canImport(Glibc)
import Glibc
#endif

// Storage faults in-process: a ledger locked by another connection and a read-only ledger.
// scripts/storage-fault-test drives the real daemon through the same faults, plus a full file
// system and a read-only mount (which need root).

/// Another connection holding the database's write lock (`BEGIN EXCLUSIVE`), as a stray
/// `sqlite3` shell or a backup tool would, until released.
final class WriteLock: Sendable {
    let path: String
    private let queue = Mutex<DatabaseQueue?>(nil)

    init(path: String) { self.path = path }

    func acquire() throws {
        var config = Configuration()
        config.allowsUnsafeTransactions = true  // the transaction outlives the access: that is the point
        let connection = try DatabaseQueue(path: path, configuration: config)
        try connection.writeWithoutTransaction { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
        queue.withLock { $0 = connection }
    }

    func release() throws {
        try queue.withLock { connection in
            try connection?.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
            connection = nil
        }
    }
}

@Suite("Storage faults", .timeLimit(.minutes(5)))
struct StorageFaultTests {
    @Test("a write while another connection holds the lock fails after the busy timeout, naming the file and the lock; reads go on, and writes work once it is released")
    func lockedLedger() throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        let store = try RunStore(path: path)
        try store.saveScheduleState(ScheduleState(job: "before"))
        let lock = WriteLock(path: path)
        try lock.acquire()

        let error = #expect(throws: LedgerError.self) { try store.saveScheduleState(ScheduleState(job: "during")) }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains(path) && message.contains("database is locked"), "\(message)")
        // WAL: readers are not blocked, so flipsyncctl keeps working meanwhile.
        #expect(try store.scheduleStates().keys.sorted() == ["before"])

        try lock.release()
        try store.saveScheduleState(ScheduleState(job: "after"))
        #expect(try store.scheduleStates().keys.sorted() == ["after", "before"])
        #expect(try store.integrityCheck(full: true) == "ok")
    }

    @Test("a run whose ledger is locked mid-run ends failed with the lock as its error, recorded once the lock is released, and no row is left running")
    func lockedMidRun() async throws {
        let h = try CoordinatorHarness()
        let lock = WriteLock(path: h.scratch.path + "/ledger.sqlite")
        // The task's work succeeds, but meanwhile another process takes the lock for longer than
        // the busy timeout: saving the task's result, and then the run's end, fail.
        let agent = ScriptedAgent { _, _, _ in
            try lock.acquire()
            return ok
        }
        let run = try h.newRun()
        let coordinator = h.coordinator(ScriptedPlan(keys: ["only"], agent: agent))
        let job = h.job
        let started = h.clock.wallMilliseconds()
        let execution = Task { await coordinator.execute(run: run, job: job) }
        // The first attempt to record the end failed (locked): the coordinator waits 1 s on its
        // clock before the next. Only then is the lock released.
        let firstRetry = started + RunCoordinator.finishRetryDelays[0]
        while h.clock.nextWakeWallMilliseconds != firstRetry {
            try await Task.sleep(for: .milliseconds(20))  // the 5 s busy timeouts pass in real time
        }
        #expect(try h.store.run(id: run.id)?.status == .running, "the end is not recorded while the lock is held")
        try lock.release()
        h.clock.advance(byMilliseconds: RunCoordinator.finishRetryDelays[0])
        let status = await execution.value
        #expect(status == .failed)

        let recorded = try #require(try h.store.run(id: run.id))
        #expect(recorded.status == .failed)
        #expect(recorded.error?.contains("database is locked") == true, "\(recorded.error ?? "")")
        #expect(recorded.finishedAt == started, "the end's time is when the run ended, not when the write got through")
        #expect(try h.store.integrityCheck(full: true) == "ok")
    }

    @Test("a run's end still unrecordable after the foreground attempts is retried in the background, and then recorded")
    func finishRetriedInBackground() async throws {
        let h = try CoordinatorHarness()
        let ledger = FinishFailingLedger(h.store)
        let run = try h.newRun()
        let coordinator = RunCoordinator(ledger: ledger, pool: PermitPool(permits: 4), clock: h.clock,
                                         plan: { _ in ScriptedPlan(keys: ["only"], agent: ScriptedAgent { _, _, _ in ok }) },
                                         logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let job = h.job
        let execution = Task { await coordinator.execute(run: run, job: job) }
        // Every foreground attempt fails: walk the clock through the waits between them.
        for delay in RunCoordinator.finishRetryDelays {
            await h.clock.waitForSleepers(1)
            while h.clock.nextWakeWallMilliseconds != h.clock.wallMilliseconds() + delay { await Task.yield() }
            h.clock.advance(byMilliseconds: delay)
        }
        #expect(await execution.value == .succeeded)
        #expect(ledger.finishAttempts == RunCoordinator.finishRetryDelays.count + 1)
        #expect(try h.store.run(id: run.id)?.status == .running, "not recorded yet")
        // The background retry: the ledger works again, and the next attempt records the end.
        ledger.failing = false
        await h.clock.waitForSleepers(1)
        h.clock.advance(byMilliseconds: RunCoordinator.finishBackgroundRetry)
        while try h.store.run(id: run.id)?.status == .running { await Task.yield() }
        let recorded = try #require(try h.store.run(id: run.id))
        #expect(ledger.finishAttempts == RunCoordinator.finishRetryDelays.count + 2)
        #expect(recorded.status == .succeeded)
        #expect(h.clock.sleeperCount == 0, "the background retry ended once the end was recorded")
    }

    /// Read-write opening of a read-only ledger: refused, naming the file. `writerOpen`: another
    /// store still has it open (its -wal beside it, as after a crash), where SQLite opens the
    /// read-only file "read-write" and only writes fail.
    @Test("a read-only ledger (file 0444, directory 0555) is refused read-write, naming the file, and still opens read-only",
          .disabled(if: geteuid() == 0, "root ignores file modes; scripts/storage-fault-test covers it as nobody and on a read-only mount"),
          arguments: [false, true])
    func readOnlyLedger(writerOpen: Bool) throws {
        let scratch = Scratch()
        let directory = scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/ledger.sqlite"
        var writer: RunStore? = try RunStore(path: path)
        _ = try writer?.recordFire(job: "scan", kind: "readiness-scan", trigger: .manual, requestedBy: 0, scheduledAt: nil,
                                   status: .succeeded, skipReason: nil, summary: nil, at: 0, resumes: nil)
        if !writerOpen { writer = nil }
        #expect(FileManager.default.fileExists(atPath: path + "-wal") == writerOpen)
        chmod(path, 0o444)
        chmod(directory, 0o555)
        defer { chmod(directory, 0o755) }

        let error = #expect(throws: LedgerError.self) { try RunStore(path: path) }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains(path) && message.contains("readonly database"), "\(message)")
        let reader = try RunStore(path: path, mode: .readOnly)
        #expect(try reader.recentRuns(job: nil, limit: 10).map(\.job) == ["scan"])
        #expect(try reader.integrityCheck(full: true) == "ok")
        _ = writer
    }

    @Test("the immutable URI of a path escapes what SQLite's URI parser would read as query or fragment")
    func immutableURI() {
        #expect(RunStore.immutableURI("/var/lib/flip sync/a?b#c%d.sqlite") == "file:/var/lib/flip sync/a%3Fb%23c%25d.sqlite?immutable=1")
    }
}

/// The real SQLite ledger, except that recording a run's end fails while `failing` is set (as on
/// a full disk or a long-held lock), counting the attempts.
final class FinishFailingLedger: RunLedger {
    let store: RunStore
    private let state = Mutex((failing: true, attempts: 0))
    init(_ store: RunStore) { self.store = store }

    var failing: Bool {
        get { state.withLock { $0.failing } }
        set { state.withLock { $0.failing = newValue } }
    }
    var finishAttempts: Int { state.withLock { $0.attempts } }

    func commitFinish(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64, at: Int64) async throws {
        let fail = state.withLock { s in
            s.attempts += 1
            return s.failing
        }
        if fail { throw LedgerError.storage("ledger.sqlite: database or disk is full") }
        try await store.commitFinish(runID: runID, status: status, summary: summary, error: error, spendMicros: spendMicros, at: at)
    }
    func finishRun(runID: Int64, status: RunStatus, summary: String?, error: String?, spendMicros: Int64, at: Int64) throws {
        try store.finishRun(runID: runID, status: status, summary: summary, error: error, spendMicros: spendMicros, at: at)
    }
    func recordFire(job: String, kind: String, trigger: RunTrigger, requestedBy: UInt32?, scheduledAt: Int64?, status: RunStatus,
                    skipReason: SkipReason?, summary: String?, at: Int64, resumes: Int64?) throws -> RunInfo? {
        try store.recordFire(job: job, kind: kind, trigger: trigger, requestedBy: requestedBy, scheduledAt: scheduledAt, status: status,
                             skipReason: skipReason, summary: summary, at: at, resumes: resumes)
    }
    func markRunning(runID: Int64, at: Int64) throws { try store.markRunning(runID: runID, at: at) }
    func commitRunning(runID: Int64, at: Int64) async throws { try await store.commitRunning(runID: runID, at: at) }
    func interruptLeftovers(at: Int64, reason: String) throws -> [RunInfo] { try store.interruptLeftovers(at: at, reason: reason) }
    func run(id: Int64) throws -> RunInfo? { try store.run(id: id) }
    func tasks(runID: Int64) throws -> [TaskInfo] { try store.tasks(runID: runID) }
    func saveTask(_ task: TaskInfo) throws { try store.saveTask(task) }
    func saveTasks(_ tasks: [TaskInfo]) throws { try store.saveTasks(tasks) }
    func commitTask(_ task: TaskInfo) async throws { try await store.commitTask(task) }
    func batch(_ body: () -> Void) throws { try store.batch(body) }
    func scheduleStates() throws -> [String: ScheduleState] { try store.scheduleStates() }
    func saveScheduleState(_ state: ScheduleState) throws { try store.saveScheduleState(state) }
    func setPaused(_ paused: Bool, job: String) throws { try store.setPaused(paused, job: job) }
    func pruneRuns(createdBefore before: Int64, limit: Int) throws -> Int { try store.pruneRuns(createdBefore: before, limit: limit) }
    func pruneSweepRows(limit: Int) throws -> Int { try store.pruneSweepRows(limit: limit) }
    func recentRuns(job: String?, limit: Int) throws -> [RunInfo] { try store.recentRuns(job: job, limit: limit) }
}
