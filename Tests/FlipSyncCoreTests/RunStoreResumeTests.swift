import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore

@Suite("Interrupted runs left without a resume", .timeLimit(.minutes(2)))
struct RunStoreResumeTests {
    @Test("a run marked interrupted whose resume was never recorded is found, until a run resumes it; older ones are not")
    func unresumed() throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        func record(_ job: String, at: Int64, resumes: Int64? = nil) throws -> RunInfo {
            try #require(try store.recordFire(job: job, kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                              status: .running, skipReason: nil, summary: nil, at: at, resumes: resumes))
        }
        let old = try record("sweep", at: 1_000)
        let sweep = try record("sweep", at: 100_000)
        let sync = try record("sync", at: 100_001)
        // A start marks them interrupted, then is killed before it records their resumes.
        let marked = try store.interruptLeftovers(at: 100_500, reason: "the daemon stopped while the run was going")
        #expect(Set(marked.map(\.id)) == [old.id, sweep.id, sync.id])
        // The next start finds nothing left running, but these two still need their resumes.
        #expect(try store.interruptLeftovers(at: 101_000, reason: "x").isEmpty)
        #expect(try store.unresumedInterruptions(createdSince: 50_000).map(\.id) == [sweep.id, sync.id])
        _ = try record("sweep", at: 101_000, resumes: sweep.id)
        #expect(try store.unresumedInterruptions(createdSince: 50_000).map(\.id) == [sync.id])
    }
}
