import Dispatch
import Foundation
import GRDB
import Synchronization
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

/// Counts the transactions committed on a connection.
private final class CommitCounter: TransactionObserver, @unchecked Sendable {
    private let count = Mutex(0)
    var commits: Int { count.withLock { $0 } }
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { count.withLock { $0 += 1 } }
    func databaseDidRollback(_ db: Database) {}
}

@Suite("Group commit", .timeLimit(.minutes(5)))
struct GroupCommitTests {
    struct Refused: Error {}

    @Test("writes that wait while a transaction commits go into the next one together; one write's error fails only that write")
    func batchesAndIsolates() async throws {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch)
        let counter = CommitCounter()
        try await store.writer.write { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let before = counter.commits

        // The first write holds the writer until the other 100 are queued behind it.
        let results = try await groupBatch(store) { db in
            try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, 'gate', 'a', 'pending')", arguments: [run.id])
        } write: { i, db in
            try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, ?, 'a', 'pending')", arguments: [run.id, "t\(i)"])
            if i == 42 { throw Refused() }
        }

        #expect(results.count == 100)
        #expect(results.filter { !$0.value }.map(\.key) == [42])
        let keys = Set(try store.tasks(runID: run.id).map(\.key))
        #expect(keys.count == 100, "99 writes and the gate")
        #expect(!keys.contains("t42"), "the failed write's own row was rolled back")
        #expect(keys.contains("t41") && keys.contains("t43"))
        // One transaction for the gate, one for the hundred queued behind it.
        #expect(counter.commits - before == 2)
    }

    @Test("a write that leaves the group's transaction (as SQLite does after a full disk) fails, and every write reported committed is in the ledger")
    func writeThatLeavesTheTransaction() async throws {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch)
        // Write 42 ends the transaction and returns as if nothing happened: without the drainer's
        // check, the writes after it would each commit on their own, outside the group's
        // transaction, and the writes before it would be reported committed though rolled back.
        let results = try await groupBatch(store) { db in
            try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, 'gate', 'a', 'pending')", arguments: [run.id])
        } write: { i, db in
            try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, ?, 'a', 'pending')", arguments: [run.id, "t\(i)"])
            if i == 42 { try db.execute(sql: "ROLLBACK") }
        }
        #expect(results.count == 100)
        #expect(results[42] == false, "the write that left the transaction is not reported committed")
        let keys = Set(try store.tasks(runID: run.id).map(\.key))
        #expect(!keys.contains("t42"))
        for (i, committed) in results {
            #expect(keys.contains("t\(i)") == committed, "write \(i) reported \(committed ? "committed" : "failed")")
        }
        // The drainer goes on: a later write commits in a transaction of its own.
        try await store.groupWrite { db in
            try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, 'after', 'a', 'pending')", arguments: [run.id])
        }
        #expect(try store.tasks(runID: run.id).contains { $0.key == "after" })
    }

    @Test("the WAL is copied back every 10,000 pages, not SQLite's 1,000: 5,000 pages written stay in the WAL until then")
    func walCheckpointInterval() async throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        let store = try RunStore(path: path)
        #expect(store.checkpointer?.pages == 10_000)
        // SQLite's own automatic checkpoint is off on the writer: the checkpointer's hook replaced it.
        #expect(try await store.writer.write { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") } == 0)
        // 5,000 transactions of a fresh page each (a 4 KiB blob): past SQLite's 1,000, short of ours.
        try await WALCheckpointerTests.writePages(store, count: 5_000)
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        #expect(wal > 5_000 * 4_096, "the WAL holds every page written since the last checkpoint: \(wal) bytes")
    }

    @Test("a run's task states committed through the group are read back as saved")
    func commitTaskRoundTrip() async throws {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch)
        try store.saveTasks((0..<50).map { TaskInfo(runID: run.id, key: "k\($0)", agent: "a", status: .pending) })
        await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask {
                    try await store.commitTask(TaskInfo(runID: run.id, key: "k\(i)", agent: "a", status: .succeeded, attempts: 1,
                                                        result: "{\"i\":\(i)}"))
                }
            }
        }
        try await store.commitRunning(runID: run.id, at: 5)
        try await store.commitFinish(runID: run.id, status: .succeeded, summary: "ok", error: nil, spendMicros: 7, at: 9)
        let tasks = try store.tasks(runID: run.id)
        #expect(tasks.map(\.key) == (0..<50).map { "k\($0)" }, "planned order kept")
        #expect(tasks.allSatisfy { $0.status == .succeeded && $0.result == "{\"i\":\($0.key.dropFirst())}" })
        let info = try #require(try store.run(id: run.id))
        #expect(info.status == .succeeded && info.startedAt == 5 && info.finishedAt == 9 && info.spendMicros == 7)
    }

    @Test("flushed() returns only once the writes queued before and while it waits are committed; at once when idle")
    func flushedWaitsForTheQueue() async throws {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch)
        await store.group.flushed()  // idle: returns at once

        let gate = DispatchSemaphore(value: 0)
        let entered = Flag()
        let first = Task {
            try await store.groupWrite { db in
                try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, 'gate', 'a', 'pending')", arguments: [run.id])
                entered.value.store(true, ordering: .releasing)
                gate.wait()
            }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !entered.value.load(ordering: .acquiring), ContinuousClock.now < deadline { await Task.yield() }
        let second = Task {
            try await store.groupWrite { db in
                try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, 'queued', 'a', 'pending')", arguments: [run.id])
            }
        }
        while store.group.waiting < 1, ContinuousClock.now < deadline { await Task.yield() }
        let flushedDone = Flag()
        let flush = Task {
            await store.group.flushed()
            flushedDone.value.store(true, ordering: .releasing)
        }
        for _ in 0..<200 { await Task.yield() }
        let returnedEarly = flushedDone.value.load(ordering: .acquiring)
        #expect(!returnedEarly, "flushed() returned while a write was still queued")
        gate.signal()
        await flush.value
        // Both writes are committed by the time flushed() returns.
        #expect(Set(try store.tasks(runID: run.id).map(\.key)) == ["gate", "queued"])
        #expect(store.group.waiting == 0)
        try await first.value
        try await second.value
    }

    private static func insert(_ key: String, _ run: RunInfo) -> @Sendable (Database) throws -> Void {
        { db in try db.execute(sql: "INSERT INTO tasks (run_id, key, agent, status) VALUES (?, ?, 'a', 'pending')", arguments: [run.id, key]) }
    }

    /// Two writes committed together (behind a held one): the drainer then waits for company.
    private func twoTogether(_ store: RunStore, _ run: RunInfo) async throws {
        let results = try await groupBatch(store, count: 2, held: Self.insert("gate", run)) { i, db in try Self.insert("pair\(i)", run)(db) }
        #expect(results == [0: true, 1: true])
        #expect(store.group.transactions.load(ordering: .relaxed) == 2, "the held write alone, then the two together")
        let deadline = ContinuousClock.now + .seconds(60)
        while !store.group.isLingering, ContinuousClock.now < deadline { await Task.yield() }
        #expect(store.group.isLingering, "after a transaction of two writes the drainer waits for company")
    }

    @Test("under load the next transaction waits for company: after one of two writes, 7 queued writes wait and the 8th starts their transaction")
    func waitsForCompany() async throws {
        let scratch = Scratch()
        let started = ContinuousClock.now
        // A wait far longer than the test may take: only the eighth write can end it.
        let (store, run) = try ledgerWithRun(scratch, linger: .init(wait: .seconds(600), company: 8))
        try await twoTogether(store, run)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<7 { group.addTask { try await store.groupWrite(Self.insert("w\(i)", run)) } }
            let deadline = ContinuousClock.now + .seconds(60)
            while store.group.waiting < 7, ContinuousClock.now < deadline { await Task.yield() }
            for _ in 0..<200 { await Task.yield() }
            #expect(store.group.waiting == 7, "seven writes are short of company: they wait")
            #expect(store.group.transactions.load(ordering: .relaxed) == 2)
            group.addTask { try await store.groupWrite(Self.insert("w7", run)) }
            try await group.waitForAll()
        }
        #expect(store.group.transactions.load(ordering: .relaxed) == 3, "the eight in one transaction")
        #expect(Set(try store.tasks(runID: run.id).map(\.key)) == Set(["gate", "pair0", "pair1"] + (0..<8).map { "w\($0)" }))
        #expect(ContinuousClock.now - started < .seconds(120), "the eighth write ended the wait, not its 600 s limit")
    }

    @Test("a lone writer never waits: 30 writes one after another, 30 transactions, none delayed")
    func loneWriterDoesNotWait() async throws {
        let scratch = Scratch()
        let started = ContinuousClock.now
        // Were a lone write to wait, 30 of them would take 150 s.
        let (store, run) = try ledgerWithRun(scratch, linger: .init(wait: .seconds(5), company: 8))
        for i in 0..<30 { try await store.groupWrite(Self.insert("s\(i)", run)) }
        #expect(store.group.transactions.load(ordering: .relaxed) == 30)
        #expect(!store.group.isLingering)
        #expect(try store.tasks(runID: run.id).count == 30)
        #expect(ContinuousClock.now - started < .seconds(60), "no write waited for company")
    }

    @Test("the wait for company ends at its limit: a write queued alone during it commits in a transaction of its own")
    func waitEndsAtItsLimit() async throws {
        let scratch = Scratch()
        // 1 s, not a few ms: under parallel tests a shorter wait could end before `twoTogether`
        // sees it begin. Only the limit can end it (1,000 writes never come).
        let (store, run) = try ledgerWithRun(scratch, linger: .init(wait: .seconds(1), company: 1_000))
        try await twoTogether(store, run)
        try await store.groupWrite(Self.insert("late", run))
        #expect(store.group.transactions.load(ordering: .relaxed) == 3)
        #expect(try store.tasks(runID: run.id).contains { $0.key == "late" })
        // The drainer is idle again: a flush returns, nothing is queued.
        await store.group.flushed()
        #expect(store.group.waiting == 0 && !store.group.isLingering)
    }

    /// Counts the writes behind committed.
    private final class Committed: Sendable {
        let value = Atomic(0)
    }

    /// A ledger waiting for company by `linger` after `twoTogether`, with `count` writes behind
    /// their tasks (task rows "b0"…) queued, not waited for.
    private struct Behind {
        let scratch: Scratch
        let started = ContinuousClock.now
        let store: RunStore
        let run: RunInfo
        let done = Committed()
    }

    private func behindTwoTogether(_ linger: GroupCommit.Linger, count: Int) async throws -> Behind {
        let scratch = Scratch()
        let (store, run) = try ledgerWithRun(scratch, linger: linger)
        let behind = Behind(scratch: scratch, store: store, run: run)
        try await twoTogether(store, run)
        for i in 0..<count {
            store.group.submit(Self.insert("b\(i)", run)) { [done = behind.done] error in
                if error == nil { done.value.add(1, ordering: .relaxed) }
            }
        }
        return behind
    }

    @Test("writes behind their tasks do not count as waited-for company: 5 queued leave the wait on, 2 waited-for writes end it")
    func behindWritesAreNotCompany() async throws {
        // A wait far longer than the test may take: only company can end it.
        let b = try await behindTwoTogether(.init(wait: .seconds(600), company: 2, writes: 1_000), count: 5)
        let (store, run, done, started) = (b.store, b.run, b.done, b.started)
        for _ in 0..<200 { await Task.yield() }
        #expect(store.group.isLingering && store.group.waiting == 5 && done.value.load(ordering: .relaxed) == 0)
        #expect(store.group.transactions.load(ordering: .relaxed) == 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<2 { group.addTask { try await store.groupWrite(Self.insert("w\(i)", run)) } }
            try await group.waitForAll()
        }
        #expect(store.group.transactions.load(ordering: .relaxed) == 3, "the five behind and the two waited-for in one transaction")
        #expect(done.value.load(ordering: .relaxed) == 5)
        #expect(Set(try store.tasks(runID: run.id).map(\.key)) == ["gate", "pair0", "pair1", "b0", "b1", "b2", "b3", "b4", "w0", "w1"])
        #expect(ContinuousClock.now - started < .seconds(120), "company ended the wait, not its 600 s limit")
    }

    @Test("writes behind their tasks end the wait once `writes` are queued in all")
    func enoughBehindWritesEndTheWait() async throws {
        let b = try await behindTwoTogether(.init(wait: .seconds(600), company: 1_000, writes: 4), count: 4)
        let (store, run, done, started) = (b.store, b.run, b.done, b.started)
        let deadline = ContinuousClock.now + .seconds(60)
        while done.value.load(ordering: .relaxed) < 4, ContinuousClock.now < deadline { await Task.yield() }
        #expect(done.value.load(ordering: .relaxed) == 4)
        #expect(store.group.transactions.load(ordering: .relaxed) == 3)
        #expect(Set(try store.tasks(runID: run.id).map(\.key)).isSuperset(of: ["b0", "b1", "b2", "b3"]))
        #expect(ContinuousClock.now - started < .seconds(120))
    }
}
