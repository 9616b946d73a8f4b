import Synchronization

/// Writes a task hands to the ledger without waiting for each: what nothing in the task reads
/// back. A repricing decide task's (`RepricingSweepPlan.PriceDecider`): its decisions, eBay's
/// offers and searches it remembers, the snapshot's completed listings, and each call's spend row.
///
/// Such a task made one write after each call and each group and waited for each commit; with
/// the SQLite ledger's group commit, each wait is up to its wait for company plus a commit, on
/// the task's path. Under `WriteBehind.run` a ledger that can (the SQLite one: `RunStore`,
/// `SpendLedger`) queues the write and returns at once; `run` waits once, at the end, for every
/// write it was handed, and throws the first one's error: a failed write still fails the task,
/// only later, and a task that fails has all its queued writes settled before its error is
/// passed on (so a retry sees them). A spend row that fails is told as before (`SpendEvent`),
/// not thrown. A ledger that cannot (PostgreSQL) waits for each write, as before.
public final class WriteBehind: Sendable {
    /// The writes of the task running now, when it runs under `run`.
    @TaskLocal public static var current: WriteBehind?

    private struct State {
        var pending = 0
        var failure: (any Error)?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    private init() {}

    /// `body` with its writes behind it: every write it hands over is committed or failed when
    /// this returns. `body`'s own error comes first; else a write's.
    public static func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let writes = WriteBehind()
        let result: Result<T, any Error>
        do { result = .success(try await $current.withValue(writes) { try await body() }) } catch { result = .failure(error) }
        await writes.settled()
        let value = try result.get()
        if let failure = writes.failure { throw failure }
        return value
    }

    /// A write handed over: `finished` follows once, when it is committed or has failed.
    public func started() {
        state.withLock { $0.pending += 1 }
    }

    public func finished(_ error: (any Error)?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.pending -= 1
            if let error, s.failure == nil { s.failure = error }
            guard s.pending == 0 else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The first write's error, if one failed.
    private var failure: (any Error)? { state.withLock { $0.failure } }

    /// Returns once every write handed over so far is committed or has failed.
    private func settled() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                guard s.pending > 0 else { return true }
                s.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
