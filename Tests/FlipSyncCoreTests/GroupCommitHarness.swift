import Dispatch
import GRDB
import Synchronization
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

/// A one-way flag shared between a held write and the test.
final class Flag: Sendable {
    let value = Atomic(false)
}

/// `count` group writes (`write(i, db)` for i in 0..<count) queued behind one held write
/// (`held(db)`, which then keeps the store's writer until all `count` are waiting in
/// `store.group`), so that the group commit takes them as one batch. Returns whether each write
/// succeeded, by index, once the held write has committed too. The waits are bounded (60 s): a
/// broken group commit fails the test instead of hanging it.
func groupBatch(_ store: RunStore, count: Int = 100, held: @escaping @Sendable (Database) throws -> Void,
                write: @escaping @Sendable (Int, Database) throws -> Void) async throws -> [Int: Bool] {
    let gate = DispatchSemaphore(value: 0)
    let entered = Flag()
    async let first: Void = store.groupWrite { db in
        try held(db)
        entered.value.store(true, ordering: .releasing)
        gate.wait()
    }
    let deadline = ContinuousClock.now + .seconds(60)
    while !entered.value.load(ordering: .acquiring), ContinuousClock.now < deadline { await Task.yield() }
    let results = await withTaskGroup(of: (Int, Bool).self) { group -> [Int: Bool] in
        for i in 0..<count {
            group.addTask {
                do {
                    try await store.groupWrite { db in try write(i, db) }
                    return (i, true)
                } catch {
                    return (i, false)
                }
            }
        }
        while store.group.waiting < count, ContinuousClock.now < deadline { await Task.yield() }
        gate.signal()
        var results: [Int: Bool] = [:]
        for await (i, ok) in group { results[i] = ok }
        return results
    }
    try await first
    return results
}

/// A fresh ledger in `scratch` with one queued manual run of job "j": where the group-commit
/// tests start. `linger`: how its group commit waits for company (the daemon's by default).
func ledgerWithRun(_ scratch: Scratch, linger: GroupCommit.Linger = .standard) throws -> (RunStore, RunInfo) {
    let store = try RunStore(path: scratch.path + "/ledger.sqlite", walCheckpointPages: RunStore.walCheckpointPages,
                             commitLinger: linger)
    let run = try #require(try store.recordFire(job: "j", kind: "repricing-sweep", trigger: .manual, requestedBy: nil,
                                                 scheduledAt: nil, status: .queued, skipReason: nil, summary: nil, at: 0,
                                                 resumes: nil))
    return (store, run)
}
