import Dispatch
import FlipSyncCore
import GRDB
import Synchronization

/// Group commit for the ledger's one SQLite writer.
///
/// SQLite commits one write transaction at a time, and a commit costs far more than the rows in
/// it. The run coordinator has dozens of tasks each recording a few rows; written one transaction
/// per row they saturate the writer (about 6,500 transactions a second here, see BENCHMARKS.md
/// item 4). Here every write waits in one queue, and a single drainer commits everything waiting
/// in one transaction: writes that arrive while a transaction is committing go into the next one.
/// A lone write commits at once. Under load the drainer waits a little for company before each
/// transaction (`Linger`, as PostgreSQL's `commit_delay`): after a transaction that held two or
/// more writes, it waits until 32 writes with a caller waiting for them, or 128 writes in all,
/// are queued, or 8 ms have passed, whichever comes first. A commit costs about the same for 5
/// writes as for 30 (the pages it writes to the WAL are mostly the same few leaves). The wait is
/// on the path of every caller that waits for its write, so the writes a task does not read
/// back go behind it (`WriteBehind`, queued by `write`: a repricing decide task's decisions,
/// remembered offers and searches, snapshot updates and spend rows), and the task waits once,
/// at its end. They do not count towards the 32: a wait that 64 callers each waiting for one
/// write end at once is not held by them. Measured against the build that waited for every
/// write with 2 ms or 32 writes (BENCHMARKS.md, issue 15): a sweep's CPU a request 0–5 % lower
/// at 10,000 listings, at 100,000 0.249 against 0.254 ms in a fast hour and 0.272 against
/// 0.316 ms in a slow one, with the sweep's time no longer (before, with every write waited
/// for, 4 ms had cost 4–14 % more wall time). A transaction of one write means nobody else is
/// writing: then there is no wait, and a single caller writing one row after another is never
/// delayed.
///
/// `commit` returns only once the transaction holding the write is committed, so a caller's
/// durability is what it was with its own transaction. One write's error fails only its caller:
/// the writes go in with no savepoint each (a savepoint costs more than a row), and if one fails
/// the transaction is rolled back and the batch written again with each write in its own
/// savepoint, so the failing write's own changes are undone and the others commit. A failed
/// commit fails every write of the batch. A write may therefore run twice: it must only write
/// the database (no other effects) and write the same thing the second time.
///
/// The drainer runs on its own dispatch queue, so blocking SQLite calls (a busy timeout, a slow
/// disk) never hold Swift's cooperative threads.
final class GroupCommit: Sendable {
    /// How long the drainer waits for company before the next transaction, under load.
    struct Linger: Sendable {
        /// The longest wait: what it may add to a waited-for write's commit.
        var wait: Duration
        /// The waited-for writes queued (callers of `commit`) that end the wait at once.
        var company: Int
        /// The writes queued in all, waited-for or behind their tasks (`submit`), that end it.
        var writes: Int

        /// `writes` is `company` unless given.
        init(wait: Duration, company: Int, writes: Int? = nil) {
            self.wait = wait
            self.company = company
            self.writes = writes ?? company
        }

        /// The daemon's: 8 ms, or 32 waited-for writes, or 128 in all.
        static let standard = Linger(wait: .milliseconds(8), company: 32, writes: 128)
    }

    private struct Pending: Sendable {
        let work: @Sendable (Database) throws -> any Sendable
        let done: @Sendable (Result<any Sendable, any Error>) -> Void
        /// A task row to upsert (`commitTask`): `work` writes it alone, and the drainer writes
        /// the task rows queued next to each other together, in multi-row statements.
        var task: TaskInfo? = nil
        /// Queued by `submit`: nobody waits for it.
        var behind = false
    }

    private struct State {
        var queue: [Pending] = []
        var draining = false
        /// The drainer waits for company (`linger`); `enqueue` wakes it once there is enough.
        var lingering = false
        /// Writes queued that a caller waits for.
        var waitedFor = 0
        /// Callers of `flushed()` waiting for the queue to empty.
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    private let drainer = DispatchQueue(label: "flipsync.ledger.group-commit")
    /// The most writes one transaction takes, so a long queue cannot make one commit slow for all.
    static let maxBatch = 1024

    private let metrics: LedgerMetrics
    private let linger: Linger
    /// Signalled by `enqueue` when the queue reaches `linger.company` while the drainer waits.
    private let company = DispatchSemaphore(value: 0)

    init(writer: any DatabaseWriter, metrics: LedgerMetrics = .off, linger: Linger = .standard) {
        self.writer = writer
        self.metrics = metrics
        self.linger = linger
    }

    /// Runs `work` in the next group transaction and returns its value once that is committed.
    /// `settled`, when given, is told the write's outcome on the drainer's thread before any
    /// later write's caller resumes (writes queued after this one see what it did in memory).
    func commit<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T,
                             settled: (@Sendable (Result<T, any Error>) -> Void)? = nil) async throws -> T {
        // Unchecked: `drain` calls each write's `done` exactly once (one result a write, whatever
        // happens to its transaction), and a checked continuation costs an allocation a write.
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            enqueue(Pending(work: { db in try work(db) },
                            done: { result in
                                let typed = result.map { $0 as! T }
                                settled?(typed)
                                continuation.resume(with: typed)
                            }))
        }
    }

    /// `work` in the next group transaction, not waited for: `done` is told its error (nil once
    /// it is committed) on the drainer's thread, before any later write's caller resumes.
    func submit(_ work: @escaping @Sendable (Database) throws -> Void, done: @escaping @Sendable ((any Error)?) -> Void) {
        enqueue(Pending(work: { db in try work(db) },
                        done: { result in
                            if case .failure(let error) = result { done(error) } else { done(nil) }
                        },
                        behind: true))
    }

    /// A write nothing in its task reads back. Under `WriteBehind.run` it goes behind the task
    /// (`WriteBehind.current`): counted as started, queued (`submit`), and counted as finished
    /// with what `settle` makes of its outcome (the error the task is to fail with, or nil),
    /// after `settle` has run; this returns at once. Otherwise it is committed here (`commit`),
    /// and what `settle` makes of the outcome is thrown.
    func write<E: Error>(_ work: @escaping @Sendable (Database) throws -> Void,
                         settle: @escaping @Sendable ((any Error)?) -> E?) async throws(E) {
        if let behind = WriteBehind.current {
            behind.started()
            submit(work) { error in behind.finished(settle(error)) }
            return
        }
        var failure: (any Error)?
        do { try await commit(work) } catch { failure = error }
        if let error = settle(failure) { throw error }
    }

    /// `RunStore.upsert(task)` in the next group transaction, returning once that is committed.
    func commitTask(_ task: TaskInfo) async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            enqueue(Pending(work: { db in try RunStore.upsert(task, db) },
                            done: { result in continuation.resume(with: result.map { _ in () }) },
                            task: task))
        }
    }

    /// Batches written again with a savepoint per write after one of their writes failed (for tests).
    let retries = Atomic(0)

    /// Writes waiting for the next transaction (for tests).
    var waiting: Int { state.withLock { $0.queue.count } }

    /// Whether the drainer is waiting for company (for tests).
    var isLingering: Bool { state.withLock { $0.lingering } }

    /// Transactions the drainer has committed or tried to (for tests).
    let transactions = Atomic(0)

    /// Returns once every write queued so far, and any queued while waiting, is committed (or
    /// failed): the drainer is idle with nothing queued. Returns at once when it already is.
    func flushed() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s in
                guard s.draining || !s.queue.isEmpty else { return true }
                s.flushWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private func enqueue(_ pending: Pending) {
        let (start, wake) = state.withLock { s -> (Bool, Bool) in
            s.queue.append(pending)
            if !pending.behind { s.waitedFor += 1 }
            if s.lingering, s.waitedFor >= linger.company || s.queue.count >= linger.writes {
                s.lingering = false
                return (false, true)
            }
            guard !s.draining else { return (false, false) }
            s.draining = true
            return (true, false)
        }
        if wake { company.signal() }
        if start { drainer.async { self.drain() } }
    }

    /// After a transaction of `written` writes: when it held two or more, waits until
    /// `linger.company` waited-for writes or `linger.writes` in all are queued, or `linger.wait`
    /// has passed.
    private func waitForCompany(after written: Int) {
        guard written >= 2, linger.wait > .zero else { return }
        let wait = state.withLock { s -> Bool in
            guard s.waitedFor < linger.company, s.queue.count < linger.writes else { return false }
            s.lingering = true
            return true
        }
        guard wait else { return }
        let (seconds, attoseconds) = linger.wait.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        guard company.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .timedOut else { return }
        let signalled = state.withLock { s -> Bool in
            guard s.lingering else { return true }
            s.lingering = false
            return false
        }
        // `enqueue` ended the wait as it timed out: take its signal, which follows at once,
        // so the next wait does not end early.
        if signalled { company.wait() }
    }

    private func drain() {
        var written = 0
        while true {
            waitForCompany(after: written)
            let (batch, flushed) = state.withLock { s -> ([Pending], [CheckedContinuation<Void, Never>]) in
                guard !s.queue.isEmpty else {
                    s.draining = false
                    defer { s.flushWaiters.removeAll() }
                    return ([], s.flushWaiters)
                }
                let batch: [Pending]
                if s.queue.count <= Self.maxBatch {
                    // The whole queue: taken as it is, not copied write by write.
                    batch = s.queue
                    s.queue = []
                    s.queue.reserveCapacity(batch.count)
                } else {
                    batch = Array(s.queue.prefix(Self.maxBatch))
                    s.queue.removeFirst(Self.maxBatch)
                }
                s.waitedFor -= batch.count(where: { !$0.behind })
                return (batch, [])
            }
            guard !batch.isEmpty else {
                for waiter in flushed { waiter.resume() }
                return
            }
            let started = DispatchTime.now().uptimeNanoseconds
            transactions.add(1, ordering: .relaxed)
            let results = write(batch)
            written = batch.count
            // The transaction's time, from the drainer taking the batch to its commit.
            metrics.ledgerCommit(nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started))
            for i in batch.indices { batch[i].done(results[i]) }
        }
    }

    /// Writes `batch` in one transaction and returns each write's result.
    ///
    /// First straight through, with no savepoint: a write that fails takes back only the failing
    /// statement (SQLite undoes a failed statement by itself), but one of several statements could
    /// leave the others behind, so on any write's failure the whole transaction is rolled back and
    /// the batch is written again, each write in its own savepoint (`isolated`), so that the
    /// failing write fails alone and the others commit. A transaction that cannot commit fails
    /// every write of the batch; none of them happened.
    private func write(_ batch: [Pending]) -> [Result<any Sendable, any Error>] {
        do {
            return try writer.writeWithoutTransaction { db in
                var values: [any Sendable] = []
                values.reserveCapacity(batch.count)
                var failure: (any Error)?
                try Self.transaction(db) {
                    var next = 0
                    while next < batch.count {
                        do {
                            // Task rows queued one after another: one statement for many rows.
                            var end = next
                            while end < batch.count, batch[end].task != nil { end += 1 }
                            if end - next > 1 {
                                try RunStore.upsert(batch[next..<end].map { $0.task! }, db)
                                try Self.checkStillInTransaction(db)
                                values.append(contentsOf: repeatElement(() as any Sendable, count: end - next))
                                next = end
                                continue
                            }
                            values.append(try batch[next].work(db))
                            try Self.checkStillInTransaction(db)
                            next += 1
                        } catch {
                            failure = error
                            return .rollback
                        }
                    }
                    return .commit
                }
                guard let failure else { return values.map { .success($0) } }
                // Alone in its transaction, the write's failure is its own and nothing is left of it.
                if batch.count == 1 { return [.failure(failure)] }
                retries.add(1, ordering: .relaxed)
                return try isolated(batch, db)
            }
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
    }

    /// `body` in one IMMEDIATE transaction, as GRDB's `Database.inTransaction` runs it: rolled
    /// back when `body` throws or answers `.rollback`, or when the commit fails, and the first
    /// error is thrown. Its BEGIN and COMMIT are prepared once per connection (GRDB's prepares
    /// them again for every transaction: two parses per commit, see BENCHMARKS.md). GRDB's block
    /// also refuses statements once SQLite has rolled the transaction back by itself (a full
    /// disk, an I/O error); here the drainer checks that after each write instead
    /// (`checkStillInTransaction`), and the COMMIT of a transaction that is gone fails.
    static func transaction(_ db: Database, _ body: () throws -> Database.TransactionCompletion) throws {
        try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        var firstError: (any Error)?
        do {
            if try body() == .commit {
                try checkStillInTransaction(db)
                try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                return
            }
        } catch {
            firstError = error
        }
        do { try db.rollback() } catch { firstError = firstError ?? error }
        if let firstError { throw firstError }
    }

    /// Throws SQLITE_ABORT when SQLite has left the transaction (rolled it back after an error
    /// a write did not pass on): the writes after it would otherwise each commit on their own.
    static func checkStillInTransaction(_ db: Database) throws {
        guard db.isInsideTransaction else { throw DatabaseError(resultCode: .SQLITE_ABORT, message: "Transaction was aborted") }
    }

    /// `batch` in one transaction, each write in its own savepoint.
    private func isolated(_ batch: [Pending], _ db: Database) throws -> [Result<any Sendable, any Error>] {
        var results: [Result<any Sendable, any Error>] = []
        results.reserveCapacity(batch.count)
        try db.inTransaction {
            for pending in batch {
                results.append(Result {
                    var value: any Sendable = ()
                    try db.inSavepoint {
                        value = try pending.work(db)
                        return .commit
                    }
                    return value
                })
            }
            return .commit
        }
        return results
    }
}
