import FlipSyncCluster
@testable import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

private let start = Timestamp(parsing: "2026-11-25T12:00:00Z")!

/// A run that is "going" until the test lets it end (or it is cancelled), recorded in a real ledger.
private final class HeldExecutor: RunExecutor {
    let ledger: RunStore
    let clock: ManualClock
    private let state = Mutex<(started: [Int64], release: Set<Int64>)>(([], []))

    init(ledger: RunStore, clock: ManualClock) {
        self.ledger = ledger
        self.clock = clock
    }

    var started: [Int64] { state.withLock { $0.started } }
    func finish(_ runID: Int64) { _ = state.withLock { $0.release.insert(runID) } }

    func execute(run: RunInfo, job: JobDefinition) async -> RunStatus {
        try? ledger.markRunning(runID: run.id, at: clock.wallMilliseconds())
        state.withLock { $0.started.append(run.id) }
        // Bounded: 10 minutes of the test's clock at most.
        for _ in 0..<600 {
            if state.withLock({ $0.release.contains(run.id) }) { break }
            do { try await clock.sleep(milliseconds: 1000) } catch {
                try? ledger.finishRun(runID: run.id, status: .cancelled, summary: nil, error: "cancelled", spendMicros: 0, at: clock.wallMilliseconds())
                return .cancelled
            }
        }
        try? ledger.finishRun(runID: run.id, status: .succeeded, summary: "done", error: nil, spendMicros: 0, at: clock.wallMilliseconds())
        return .succeeded
    }
}

private func job(_ overlap: String, scratch: Scratch) throws -> JobDefinition {
    let file = scratch.write("sweep-\(overlap).toml", """
        name = "sweep"
        kind = "readiness-scan"
        schedule = "daily"
        timezone = "UTC"
        overlap = "\(overlap)"
        """)
    let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: JobDefaults(timezone: .utc, currency: .usd,
                                                                                        configuredMarketplaces: [], configFile: "test"),
                                                 now: start)
    #expect(diagnostics.isEmpty, "\(diagnostics)")
    return try #require(catalog["sweep"])
}

private func run(_ id: Int64, resumes: Int64? = nil) -> RunInfo {
    RunInfo(id: id, job: "sweep", kind: "readiness-scan", trigger: .schedule, scheduledAt: nil, createdAt: 0, status: .queued,
            resumes: resumes)
}

private func node(_ client: PostgresClient, _ name: String, clock: ManualClock, pid: Int64 = 1) -> ClusterCoordinator {
    ClusterCoordinator(client: client, nodeID: name, host: "test-host", pid: pid, time: .injected(clock), logger: quietLogger)
}

/// Nodes "a" and "b" on the test's database, each registered by one heartbeat. `deadPID`: a's
/// process id is one that does not exist, so a restart of "a" on this host may take its name.
private func twoNodes(_ clients: [PostgresClient], clock: ManualClock, deadPID: Bool = false) async throws -> (ClusterCoordinator, ClusterCoordinator) {
    let a = node(clients[0], "a", clock: clock, pid: deadPID ? Int64(Int32.max) : 1), b = node(clients[1], "b", clock: clock)
    try await a.tick()
    try await b.tick()
    return (a, b)
}

@Suite("Cluster job run leases on PostgreSQL", .postgresInstalled, .postgres, .serialized, .timeLimit(.minutes(5)))
struct ClusterJobRunTests {
    @Test("two nodes race 40 times for one job's run lease: exactly one holds it at a time; released, the other takes it under the next generation")
    func oneHolderAtATime() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let (a, b) = try await twoNodes(clients, clock: clock)
            var generations: [Int64] = []
            for round in 0..<20 {
                // Both ask at once, each twice (a node's own second run is refused too).
                let verdicts = try await withThrowingTaskGroup(of: (String, JobRunVerdict).self) { group in
                    for (name, coordinator) in [("a", a), ("b", b), ("a", a), ("b", b)] {
                        group.addTask { (name, try await coordinator.acquire(job: "sweep", run: run(Int64(round * 10) + 1))) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let winners = verdicts.compactMap { name, verdict -> (String, JobRunLease)? in
                    if case .acquired(let lease) = verdict { return (name, lease) }
                    return nil
                }
                #expect(winners.count == 1, "round \(round): \(verdicts)")
                guard let (winner, lease) = winners.first else { continue }
                for (_, verdict) in verdicts {
                    if case .held(let holder) = verdict { #expect(holder.node == winner && holder.generation == lease.generation) }
                }
                generations.append(lease.generation)
                await (winner == "a" ? a : b).release(lease)
            }
            #expect(generations == Array(1...20), "one more generation at each acquisition")
            let held = try await a.heldJobRuns() + b.heldJobRuns()
            #expect(held.isEmpty)
        }
    }

    @Test("a dead node's run lease is free once its heartbeat is 6 s old, and at once when its node restarts as another process")
    func deadHolderFreed() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let (a, b) = try await twoNodes(clients, clock: clock, deadPID: true)
            guard case .acquired = try await a.acquire(job: "sweep", run: run(7)) else { Issue.record("a could not take a free lease"); return }
            // a dies (no more heartbeats).
            clock.advance(byMilliseconds: 5000)
            try await b.tick()
            #expect(try await b.acquire(job: "sweep", run: run(8)) == .held(by: JobRunHolder(job: "sweep", node: "a", runID: 7, generation: 1)),
                    "5 s: a may still be running it")
            clock.advance(byMilliseconds: 1001)
            try await b.tick()
            guard case .acquired(let lease) = try await b.acquire(job: "sweep", run: run(8)) else {
                Issue.record("a's heartbeat is 6 s old: the lease is free"); return
            }
            #expect(lease.generation == 2)
            await b.release(lease)

            // a takes it again, is SIGKILLed and restarted at once as a new process under its name
            // (on this host, the old pid no longer exists): the old process's lease is free at once.
            try await a.tick()
            #expect(try await a.acquire(job: "sweep", run: run(9)) == .acquired(JobRunLease(job: "sweep", generation: 3)))
            let restarted = node(clients[0], "a", clock: clock, pid: Int64(getpid()))
            try await restarted.tick()
            try await b.tick()
            #expect(try await b.acquire(job: "sweep", run: run(10)) == .acquired(JobRunLease(job: "sweep", generation: 4)),
                    "the process that held it is gone")
        }
    }

    @Test("a clean stop (systemctl stop) frees the node's run leases at once: another node takes the job without waiting 6 s for a stale heartbeat")
    func cleanStopFrees() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let (a, b) = try await twoNodes(clients, clock: clock)
            guard case .acquired = try await a.acquire(job: "sweep", run: run(1)) else { Issue.record("not taken"); return }
            #expect(try await b.acquire(job: "sweep", run: run(2)) == .held(by: JobRunHolder(job: "sweep", node: "a", runID: 1, generation: 1)))
            await a.release()  // the node stops cleanly (its run was cancelled by the drain and its release lost)
            #expect(try await b.acquire(job: "sweep", run: run(2)) == .acquired(JobRunLease(job: "sweep", generation: 2)))
        }
    }

    @Test("a resume is superseded by any run of its job that took the lease after it; resumed when none did")
    func resumeSuperseded() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let (a, b) = try await twoNodes(clients, clock: clock, deadPID: true)
            await a.shareRunIDs(true)
            await b.shareRunIDs(true)
            guard case .acquired = try await a.acquire(job: "sweep", run: run(10)) else { Issue.record("not taken"); return }
            // a dies mid-run and restarts: nobody ran the job since, so its run 10 is resumed.
            let a2 = node(clients[0], "a", clock: clock, pid: Int64(getpid()))
            await a2.shareRunIDs(true)
            try await a2.tick()
            guard case .acquired(let resumed) = try await a2.acquire(job: "sweep", run: run(12, resumes: 10)) else {
                Issue.record("a resume nobody superseded was refused"); return
            }
            await a2.release(resumed)
            // b runs the job (run 13, a later id in the shared ledger); then a's old run 12 is
            // found interrupted again and resumed: superseded by b's run.
            guard case .acquired(let bLease) = try await b.acquire(job: "sweep", run: run(13)) else { Issue.record("b refused"); return }
            #expect(try await a2.acquire(job: "sweep", run: run(14, resumes: 12))
                    == .held(by: JobRunHolder(job: "sweep", node: "b", runID: 13, generation: bLease.generation)),
                    "while b's run goes, the resume waits like any run")
            await b.release(bLease)
            #expect(try await a2.acquire(job: "sweep", run: run(14, resumes: 12))
                    == .superseded(by: JobRunHolder(job: "sweep", node: "b", runID: 13, generation: bLease.generation)))
            #expect(try await a2.acquire(job: "sweep", run: run(15, resumes: 13)) == .acquired(JobRunLease(job: "sweep", generation: bLease.generation + 1)),
                    "resuming the newest run itself is allowed")

            // Per-node SQLite ledgers: ids of two nodes cannot be compared, so another node's run
            // since supersedes a resume whatever its id.
            await a2.shareRunIDs(false)
            await a2.release(JobRunLease(job: "sweep", generation: bLease.generation + 1))
            guard case .acquired(let low) = try await b.acquire(job: "sweep", run: run(3)) else { Issue.record("b refused"); return }
            await b.release(low)
            #expect(try await a2.acquire(job: "sweep", run: run(16, resumes: 15))
                    == .superseded(by: JobRunHolder(job: "sweep", node: "b", runID: 3, generation: low.generation)))
        }
    }

    @Test("a running node stops holding its lease when its heartbeat is older than lease − acquire interval (5 s), or when another node asks it to cancel")
    func stillHeld() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let (a, b) = try await twoNodes(clients, clock: clock)
            guard case .acquired(let lease) = try await a.acquire(job: "sweep", run: run(1)) else { Issue.record("not taken"); return }
            #expect(await a.stillHeld(lease))
            clock.advance(byMilliseconds: 4999)
            #expect(await a.stillHeld(lease))
            clock.advance(byMilliseconds: 1)
            #expect(await !a.stillHeld(lease), "5 s without a heartbeat written: others may see it stale in 1 s more")
            try await a.tick()
            #expect(await a.stillHeld(lease))
            guard case .held(let holder) = try await b.acquire(job: "sweep", run: run(2)) else { Issue.record("b took a held lease"); return }
            try await b.requestCancel(holder)
            #expect(await a.stillHeld(lease), "a hears of it at its next heartbeat")
            try await a.tick()
            #expect(await !a.stillHeld(lease))
        }
    }

    @Test("the gated executor: overlap skip ends the second node's run skipped naming the other run; queue waits and runs once the other ends; replace cancels the other node's run")
    func gatedExecutorPolicies() async throws {
        try await withClients(2) { clients in
            let clock = ManualClock(start)
            let scratch = Scratch()
            let (a, b) = try await twoNodes(clients, clock: clock)
            let ledgerA = try RunStore(path: scratch.path + "/a.sqlite"), ledgerB = try RunStore(path: scratch.path + "/b.sqlite")
            let innerA = HeldExecutor(ledger: ledgerA, clock: clock), innerB = HeldExecutor(ledger: ledgerB, clock: clock)
            let gatedA = GatedRunExecutor(inner: innerA, gate: a, ledger: ledgerA, clock: clock, logger: quietLogger)
            let gatedB = GatedRunExecutor(inner: innerB, gate: b, ledger: ledgerB, clock: clock, logger: quietLogger)
            func record(_ ledger: RunStore) throws -> RunInfo {
                try #require(try ledger.recordFire(job: "sweep", kind: "readiness-scan", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                   status: .queued, skipReason: nil, summary: nil, at: clock.wallMilliseconds(), resumes: nil))
            }
            /// Moves the clock a second at a time (heartbeating both nodes) until `done` or `seconds`.
            func drive(seconds: Int = 60, until done: () async -> Bool = { false }) async throws {
                for _ in 0..<seconds {
                    if await done() { return }
                    try await a.tick()
                    try await b.tick()
                    clock.advance(byMilliseconds: 1000)
                    await Task.yield()
                    try await Task.sleep(for: .milliseconds(20))
                }
            }

            // a runs the job.
            let skipJob = try job("skip", scratch: scratch)
            let first = try record(ledgerA)
            let runningA = Task { await gatedA.execute(run: first, job: skipJob) }
            try await drive { innerA.started == [first.id] }
            #expect(innerA.started == [first.id])

            // skip: b's run ends skipped at once, without starting.
            let skipped = try record(ledgerB)
            #expect(await gatedB.execute(run: skipped, job: skipJob) == .skipped)
            let skippedRow = try #require(try ledgerB.run(id: skipped.id))
            #expect(skippedRow.status == .skipped && skippedRow.summary == "overlap: run \(first.id) of sweep on node a is still running")
            #expect(innerB.started.isEmpty)

            // queue: b's run waits; when a's run ends and releases, b's starts.
            let queued = try record(ledgerB)
            let queueJob = try job("queue", scratch: scratch)
            let waitingB = Task { await gatedB.execute(run: queued, job: queueJob) }
            try await drive(seconds: 5)
            #expect(innerB.started.isEmpty, "b waits while a's run goes")
            innerA.finish(first.id)
            try await drive { (try? ledgerA.run(id: first.id))??.status == .succeeded }
            #expect(await runningA.value == .succeeded)
            try await drive { innerB.started == [queued.id] }
            #expect(innerB.started == [queued.id], "b's queued run started once a's ended")

            // replace: a's new run asks b's node to cancel its run, which it does at its next heartbeat.
            let replacing = try record(ledgerA)
            let replaceJob = try job("replace", scratch: scratch)
            let replacingA = Task { await gatedA.execute(run: replacing, job: replaceJob) }
            try await drive { innerA.started.contains(replacing.id) }
            #expect(await waitingB.value == .cancelled, "b's run was cancelled by a's replace")
            #expect(innerA.started.contains(replacing.id), "a's replacing run started once b's ended")
            innerA.finish(replacing.id)
            try await drive(seconds: 3)
            #expect(await replacingA.value == .succeeded)
            let held = try await a.heldJobRuns() + b.heldJobRuns()
            #expect(held.isEmpty, "every lease released")
        }
    }
}
