import Dispatch
import Foundation
import GRDB
import Synchronization
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

/// Counts the transactions committed on a connection, and can refuse the next commit (as a
/// commit that fails: a full disk at the commit, a crash before it).
private final class CommitWatch: TransactionObserver, @unchecked Sendable {
    private let state = Mutex((commits: 0, refuseNext: false))
    var commits: Int { state.withLock { $0.commits } }
    func refuseNextCommit() { state.withLock { $0.refuseNext = true } }
    struct Refused: Error {}

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseWillCommit() throws {
        let refuse = state.withLock { s in
            defer { s.refuseNext = false }
            return s.refuseNext
        }
        if refuse { throw Refused() }
    }
    func databaseDidCommit(_ db: Database) { state.withLock { $0.commits += 1 } }
    func databaseDidRollback(_ db: Database) {}
}

/// The SQL statements run on a connection (savepoints included).
private final class StatementLog: @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func clear() { lines.withLock { $0.removeAll() } }
    func add(_ sql: String) { lines.withLock { $0.append(sql) } }
}

@Suite("Ledger write path: fires recorded together, group commit without a savepoint per row", .timeLimit(.minutes(3)))
struct LedgerWritePathTests {
    struct Refused: Error {}

    private static func watch(_ store: RunStore) async throws -> CommitWatch {
        let watch = CommitWatch()
        try await store.writer.write { db in db.add(transactionObserver: watch, extent: .databaseLifetime) }
        return watch
    }

    private static func fire(_ store: RunStore, job: Int, at fire: Int64) throws -> RunInfo? {
        try store.recordFire(job: "job-\(job)", kind: "readiness-scan", trigger: .schedule, requestedBy: nil, scheduledAt: fire,
                             status: .queued, skipReason: nil, summary: nil, at: fire * 1000 + 3, resumes: nil)
    }

    @Test("fires due at the same moment are recorded in one transaction; recorded again, in a second batch or after a restart, none is recorded twice")
    func batchOfFiresRecordedOnce() async throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        let store = try RunStore(path: path)
        let watch = try await Self.watch(store)
        let before = watch.commits
        var first: [RunInfo?] = []
        try store.batch {
            for job in 0..<300 {
                first.append(try? Self.fire(store, job: job, at: 1_800_000_000))
                try? store.saveScheduleState(ScheduleState(job: "job-\(job)", lastScheduledAt: 1_800_000_000, nextDueAt: 1_800_000_001))
            }
        }
        #expect(watch.commits - before == 1, "300 fires and 300 schedule states: one commit")
        let runs = first.compactMap { $0 }
        #expect(runs.count == 300)
        #expect(Set(runs.map(\.id)).count == 300)
        #expect(runs.allSatisfy { $0.status == .queued && $0.scheduledAt == 1_800_000_000 && $0.createdAt == 1_800_000_000_003 })
        #expect(runs.map(\.job) == (0..<300).map { "job-\($0)" })
        // What recordFire returned is the row as stored.
        #expect(try store.run(id: runs[17].id) == runs[17])
        #expect(try store.scheduleStates()["job-299"]?.nextDueAt == 1_800_000_001)

        // The same fires again, in one batch: none is recorded, and a new one among them is.
        var again: [RunInfo?] = []
        try store.batch {
            for job in 0..<300 { again.append(try? Self.fire(store, job: job, at: 1_800_000_000)) }
            again.append(try? Self.fire(store, job: 0, at: 1_800_000_001))
        }
        #expect(again.prefix(300).allSatisfy { $0 == nil })
        #expect(again.last??.scheduledAt == 1_800_000_001)

        // A restart: the ledger opened again, the same fires recorded one at a time.
        let reopened = try RunStore(path: path)
        #expect(try (0..<300).allSatisfy { try Self.fire(reopened, job: $0, at: 1_800_000_000) == nil })
        #expect(try reopened.recentRuns(job: nil, limit: 10_000).count == 301)
    }

    @Test("a batch of fires whose transaction cannot commit records none of them; the same fires are recorded, once, by the next batch")
    func failedBatchRecordsNothing() async throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        let watch = try await Self.watch(store)
        watch.refuseNextCommit()
        var returned = 0
        #expect(throws: LedgerError.self) {
            try store.batch {
                for job in 0..<50 where (try? Self.fire(store, job: job, at: 1_800_000_000)) != nil { returned += 1 }
            }
        }
        // Inside the transaction each fire was new; none of them is in the ledger now.
        #expect(returned == 50)
        #expect(try store.recentRuns(job: nil, limit: 100).isEmpty)
        var recorded: [RunInfo?] = []
        try store.batch {
            for job in 0..<50 { recorded.append(try? Self.fire(store, job: job, at: 1_800_000_000)) }
        }
        #expect(recorded.allSatisfy { $0 != nil })
        #expect(try store.recentRuns(job: nil, limit: 100).count == 50)
        #expect(try (0..<50).allSatisfy { try Self.fire(store, job: $0, at: 1_800_000_000) == nil })
    }

    @Test("a lone recordFire or markRunning whose commit fails throws and leaves nothing: the row a RETURNING statement gave back is not taken as recorded")
    func loneStatementCommitRefused() async throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        let watch = try await Self.watch(store)
        watch.refuseNextCommit()
        #expect(throws: LedgerError.self) { try Self.fire(store, job: 1, at: 1_800_000_000) }
        #expect(try store.recentRuns(job: nil, limit: 10).isEmpty)
        #expect(try store.run(id: 1) == nil)
        // Not refused: recorded, and then a refused markRunning leaves it queued.
        let run = try #require(try Self.fire(store, job: 1, at: 1_800_000_000))
        watch.refuseNextCommit()
        #expect(throws: LedgerError.self) { try store.markRunning(runID: run.id, at: 1_800_000_001_000) }
        #expect(try store.run(id: run.id)?.status == .queued)
        try store.markRunning(runID: run.id, at: 1_800_000_001_000)
        #expect(try store.run(id: run.id)?.status == .running)
    }

    @Test("writes that all succeed share one transaction with no savepoint; one failing write (after a statement of its own) fails alone, its statement undone, and the others commit")
    func groupCommitSavepointsOnlyOnFailure() async throws {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch)
        let watch = try await Self.watch(store)
        let log = StatementLog()
        try await store.writer.write { db in db.trace(options: .statement) { event in log.add("\(event)") } }

        /// 100 writes queued behind a held one, so that they are one batch; `failing` throws
        /// after inserting its row and updating the held one's.
        func batchOf100(prefix: String, failing: Int?) async throws -> [Int: Bool] {
            try await groupBatch(store) { db in
                try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, ?, 'a', 'pending')",
                               arguments: [run.id, "\(prefix)-gate"])
            } write: { i, db in
                try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, ?, 'a', 'pending')",
                               arguments: [run.id, "\(prefix)\(i)"])
                if i == failing {
                    try db.execute(sql: "UPDATE tasks SET status = 'failed' WHERE run_id = ? AND key = ?",
                                   arguments: [run.id, "\(prefix)-gate"])
                    throw Refused()
                }
            }
        }

        log.clear()
        var before = watch.commits
        let clean = try await batchOf100(prefix: "a", failing: nil)
        #expect(clean.values.allSatisfy { $0 })
        #expect(watch.commits - before == 2, "the held write, then the hundred behind it")
        #expect(!log.all.contains { $0.uppercased().contains("SAVEPOINT") }, "no savepoint when no write fails")
        #expect(store.group.retries.load(ordering: .relaxed) == 0)
        #expect(try store.tasks(runID: run.id).filter { $0.key.hasPrefix("a") }.count == 101)

        // One write of the next hundred inserts its row, updates another, then throws: the batch
        // is written again with a savepoint per write.
        before = watch.commits
        let mixed = try await batchOf100(prefix: "b", failing: 7)
        #expect(mixed.filter { !$0.value }.map(\.key) == [7])
        #expect(store.group.retries.load(ordering: .relaxed) == 1)
        let tasks = try store.tasks(runID: run.id).filter { $0.key.hasPrefix("b") }
        #expect(tasks.count == 100, "99 writes and the held one")
        #expect(!tasks.contains { $0.key == "b7" }, "the failing write's insert was undone")
        #expect(tasks.allSatisfy { $0.status == .pending }, "the failing write's update was undone")
        #expect(log.all.contains { $0.uppercased().contains("SAVEPOINT") })
        #expect(watch.commits - before == 2, "the held write, then the hundred written again")
    }

    @Test("a lone failing group write fails without being written again; the next write commits")
    func loneFailure() async throws {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch)
        let attempts = Atomic(0)
        await #expect(throws: LedgerError.self) {
            try await store.groupWrite { db in
                attempts.add(1, ordering: .relaxed)
                try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, 'x', 'a', 'pending')", arguments: [run.id])
                throw Refused()
            }
        }
        #expect(attempts.load(ordering: .relaxed) == 1)
        #expect(store.group.retries.load(ordering: .relaxed) == 0)
        #expect(try store.tasks(runID: run.id).isEmpty)
        try await store.commitTask(TaskInfo(runID: run.id, key: "y", agent: "a", status: .pending))
        #expect(try store.tasks(runID: run.id).map(\.key) == ["y"])
    }

    @Test("task rows queued together are written in multi-row statements as if one by one: a key given twice ends as its later state, planned order kept, a row breaking a constraint fails alone")
    func taskRowsTogether() async throws {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch)
        try store.saveTasks((0..<3).map { TaskInfo(runID: run.id, key: "planned\($0)", agent: "a", status: .pending, input: "{\"i\":\($0)}") })
        let watch = try await Self.watch(store)
        let before = watch.commits

        let gate = DispatchSemaphore(value: 0)
        let entered = Flag()
        let held = Task { try await store.groupWrite { _ in entered.value.store(true, ordering: .releasing); gate.wait() } }
        let deadline = ContinuousClock.now + .seconds(60)
        while !entered.value.load(ordering: .acquiring), ContinuousClock.now < deadline { await Task.yield() }
        // Queued one at a time, so the queue holds them in this order.
        var writes: [TaskInfo] = []
        for i in 0..<150 { writes.append(TaskInfo(runID: run.id, key: "k\(i)", agent: "a", status: .pending)) }
        writes.insert(TaskInfo(runID: run.id, key: "planned1", agent: "a", status: .running, attempts: 1), at: 10)
        writes.insert(TaskInfo(runID: run.id, key: "k5", agent: "a", status: .succeeded, attempts: 2, result: "{}"), at: 100)
        writes.insert(TaskInfo(runID: run.id + 1000, key: "orphan", agent: "a", status: .pending), at: 120)  // no such run
        var calls: [Task<Bool, Never>] = []
        for (n, task) in writes.enumerated() {
            calls.append(Task {
                do { try await store.commitTask(task); return true } catch { return false }
            })
            while store.group.waiting < n + 1, ContinuousClock.now < deadline { await Task.yield() }
        }
        gate.signal()
        try await held.value
        var outcomes: [Bool] = []
        for call in calls { outcomes.append(await call.value) }

        #expect(outcomes.enumerated().filter { !$0.element }.map(\.offset) == [120], "only the orphan row fails")
        #expect(store.group.retries.load(ordering: .relaxed) == 1)
        #expect(watch.commits - before == 2)
        let tasks = try store.tasks(runID: run.id)
        #expect(tasks.map(\.key) == ["planned0", "planned1", "planned2"] + (0..<150).map { "k\($0)" })
        let byKey = Dictionary(uniqueKeysWithValues: tasks.map { ($0.key, $0) })
        #expect(byKey["k5"]?.status == .succeeded && byKey["k5"]?.attempts == 2 && byKey["k5"]?.result == "{}")
        #expect(byKey["planned1"]?.status == .running && byKey["planned1"]?.input == "{\"i\":1}", "an update keeps the planned input")
        #expect(try store.tasks(runID: run.id + 1000).isEmpty)

        // Without a failure the same rows go in with no retry.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<150 {
                group.addTask { try await store.commitTask(TaskInfo(runID: run.id, key: "k\(i)", agent: "a", status: .succeeded, attempts: 1)) }
            }
            try await group.waitForAll()
        }
        #expect(store.group.retries.load(ordering: .relaxed) == 1)
        #expect(try store.tasks(runID: run.id).filter { $0.key.hasPrefix("k") }.allSatisfy { $0.status == .succeeded && $0.attempts == 1 })
    }
}
