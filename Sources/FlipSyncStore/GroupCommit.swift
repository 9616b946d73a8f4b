import Dispatch
import GRDB
import Synchronization

/// Group commit for the ledger's one SQLite writer.
///
/// SQLite commits one write transaction at a time, and a commit costs far more than the rows in
/// it. The run coordinator has dozens of tasks each recording a few rows; written one transaction
/// per row they saturate the writer (about 6,500 transactions a second here, see BENCHMARKS.md
/// item 4). Here every write waits in one queue, and a single drainer commits everything waiting
/// in one transaction, each write in its own savepoint: writes that arrive while a transaction is
/// committing go into the next one. Nothing waits for a timer, so a lone write commits as fast as
/// before; under load the batches grow by themselves.
///
/// `commit` returns only once the transaction holding the write is committed, so a caller's
/// durability is what it was with its own transaction. One write's error rolls back its own
/// savepoint and fails only its caller; a failed commit fails every write of the batch.
///
/// The drainer runs on its own dispatch queue, so blocking SQLite calls (a busy timeout, a slow
/// disk) never hold Swift's cooperative threads.
final class GroupCommit: Sendable {
    private struct Pending: Sendable {
        let work: @Sendable (Database) throws -> any Sendable
        let done: @Sendable (Result<any Sendable, any Error>) -> Void
    }

    private struct State {
        var queue: [Pending] = []
        var draining = false
        /// Callers of `flushed()` waiting for the queue to empty.
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    private let drainer = DispatchQueue(label: "flipsync.ledger.group-commit")
    /// The most writes one transaction takes, so a long queue cannot make one commit slow for all.
    static let maxBatch = 1024

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Runs `work` in the next group transaction and returns its value once that is committed.
    func commit<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            enqueue(Pending(work: { db in try work(db) },
                            done: { result in continuation.resume(with: result.map { $0 as! T }) }))
        }
    }

    /// Writes waiting for the next transaction (for tests).
    var waiting: Int { state.withLock { $0.queue.count } }

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
        let start = state.withLock { s in
            s.queue.append(pending)
            guard !s.draining else { return false }
            s.draining = true
            return true
        }
        if start { drainer.async { self.drain() } }
    }

    private func drain() {
        while true {
            let (batch, flushed) = state.withLock { s -> ([Pending], [CheckedContinuation<Void, Never>]) in
                guard !s.queue.isEmpty else {
                    s.draining = false
                    defer { s.flushWaiters.removeAll() }
                    return ([], s.flushWaiters)
                }
                let count = min(s.queue.count, Self.maxBatch)
                let batch = Array(s.queue.prefix(count))
                s.queue.removeFirst(count)
                return (batch, [])
            }
            guard !batch.isEmpty else {
                for waiter in flushed { waiter.resume() }
                return
            }
            let results: [Result<any Sendable, any Error>]
            do {
                results = try writer.write { db in
                    // Alone in its transaction, a write needs no savepoint to keep others apart.
                    if batch.count == 1 { return [.success(try batch[0].work(db))] }
                    return batch.map { pending in
                        Result {
                            var value: any Sendable = ()
                            try db.inSavepoint {
                                value = try pending.work(db)
                                return .commit
                            }
                            return value
                        }
                    }
                }
            } catch {
                results = Array(repeating: .failure(error), count: batch.count)
            }
            for (pending, result) in zip(batch, results) { pending.done(result) }
        }
    }
}
