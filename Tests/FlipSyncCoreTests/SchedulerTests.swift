import Foundation
import Logging
import Synchronization
import Testing
@testable import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit

/// An executor whose runs end when the test says so (or when cancelled). It writes to the real
/// ledger as the run coordinator does.
final class GatedExecutor: RunExecutor {
    let ledger: RunStore
    let clock: ManualClock
    private let gates = Mutex<[Int64: CheckedContinuation<RunStatus, Never>]>([:])
    private let endings = Mutex<[Int64: RunStatus]>([:])
    /// With `autoFinish`, runs succeed at once.
    let autoFinish: Bool

    init(ledger: RunStore, clock: ManualClock, autoFinish: Bool = true) {
        self.ledger = ledger
        self.clock = clock
        self.autoFinish = autoFinish
    }

    func execute(run: RunInfo, job: JobDefinition) async -> RunStatus {
        try? ledger.markRunning(runID: run.id, at: clock.wallMilliseconds())
        var status = RunStatus.succeeded
        if !autoFinish {
            status = await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<RunStatus, Never>) in
                    let early = endings.withLock { $0.removeValue(forKey: run.id) }
                    if let early { c.resume(returning: early) } else { gates.withLock { $0[run.id] = c } }
                }
            } onCancel: {
                let gate = gates.withLock { $0.removeValue(forKey: run.id) }
                if let gate { gate.resume(returning: .cancelled) } else { endings.withLock { $0[run.id] = .cancelled } }
            }
        }
        try? ledger.finishRun(runID: run.id, status: status, summary: nil, error: nil, spendMicros: 0, at: clock.wallMilliseconds())
        return status
    }

    func finish(_ runID: Int64, _ status: RunStatus = .succeeded) {
        let gate = gates.withLock { $0.removeValue(forKey: runID) }
        if let gate { gate.resume(returning: status) } else { endings.withLock { $0[runID] = status } }
    }
}

/// A scheduler under test, its clock and ledger, and a reader of its events.
final class Harness {
    let scratch = Scratch()
    let clock: ManualClock
    let store: RunStore
    let executor: GatedExecutor
    let scheduler: Scheduler
    private var iterator: AsyncStream<Scheduler.Event>.AsyncIterator
    private var loop: Task<Void, Never>?

    init(jobs: [String], at start: String, autoFinish: Bool = true, store existing: RunStore? = nil, scratchPath: String? = nil) throws {
        clock = ManualClock(Timestamp(parsing: start)!)
        store = try existing ?? RunStore(path: scratch.path + "/ledger.sqlite")
        executor = GatedExecutor(ledger: store, clock: clock, autoFinish: autoFinish)
        var files: [String] = []
        for (i, text) in jobs.enumerated() { files.append(scratch.write("job\(i).toml", text)) }
        let (catalog, diagnostics) = JobCatalog.load(paths: files, defaults: testDefaults, now: Timestamp(parsing: start)!)
        precondition(diagnostics.isEmpty, "\(diagnostics)")
        scheduler = Scheduler(catalog: catalog, ledger: store, clock: clock, executor: executor,
                              logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        iterator = scheduler.events.makeAsyncIterator()
    }

    func start() async {
        let scheduler = self.scheduler
        loop = Task { await scheduler.run(drain: .seconds(10)) }
        await settle()
    }

    /// Waits until the scheduler is asleep on the clock again.
    func settle() async {
        while true {
            let event = await next()
            if event == .idle { break }
        }
        await clock.waitForSleepers(1)
    }

    func next() async -> Scheduler.Event {
        guard let event = await iterator.next() else {
            Issue.record("the scheduler's event stream ended")
            return .idle
        }
        return event
    }

    /// Collects events up to the next time the scheduler goes to sleep.
    func eventsUntilIdle() async -> [Scheduler.Event] {
        var out: [Scheduler.Event] = []
        while true {
            let event = await next()
            if event == .idle { break }
            out.append(event)
        }
        await clock.waitForSleepers(1)
        return out
    }

    func stop() async {
        await scheduler.stop()
        await loop?.value
    }

    func runs(_ job: String) throws -> [RunInfo] {
        try store.recentRuns(job: job, limit: 10_000).reversed()
    }

    /// The statuses of `job`'s runs once they are `expected`, or as they are after a bounded
    /// number of yields: a run the scheduler started is marked running by the executor on the
    /// run's own task, which may not have had its turn when the scheduler goes idle.
    func statuses(_ job: String, settlingTo expected: [RunStatus]) async throws -> [RunStatus] {
        var statuses = try runs(job).map(\.status)
        for _ in 0..<5_000 where statuses != expected {
            await Task.yield()
            statuses = try runs(job).map(\.status)
        }
        return statuses
    }
}

func job(_ name: String, _ schedule: String, _ extra: String = "") -> String {
    """
    name = "\(name)"
    kind = "readiness-scan"
    schedule = "\(schedule)"
    timezone = "UTC"
    \(extra)
    """
}

@Suite("Scheduler", .timeLimit(.minutes(5)))
struct SchedulerTests {
    @Test("sleeps until the fire time and fires once, exactly then")
    func firesOnTime() async throws {
        let h = try Harness(jobs: [job("every-minute", "minutely")], at: "2026-11-25T12:00:30Z")
        await h.start()
        // No polling: one sleeper, due exactly at the next fire.
        #expect(h.clock.sleeperCount == 1)
        #expect(h.clock.nextWakeWallMilliseconds == Timestamp(parsing: "2026-11-25T12:01:00Z")!.secondsSinceEpoch * 1000)
        h.clock.advance(bySeconds: 30)
        let events = await h.eventsUntilIdle()
        guard case .started(let runID, "every-minute", .schedule, let due)? = events.first else {
            Issue.record("no run started: \(events)"); return
        }
        #expect(due == Timestamp(parsing: "2026-11-25T12:01:00Z")!.secondsSinceEpoch)
        let run = try #require(try h.store.run(id: runID))
        #expect(run.scheduledAt == due)
        await h.stop()
    }

    @Test("a job whose next fire is hours away leaves the process asleep until then")
    func noPolling() async throws {
        let h = try Harness(jobs: [job("nightly", "*-*-* 02:00:00")], at: "2026-11-25T12:00:00Z")
        await h.start()
        #expect(h.clock.nextWakeWallMilliseconds == Timestamp(parsing: "2026-11-26T02:00:00Z")!.secondsSinceEpoch * 1000)
        h.clock.advance(bySeconds: 3600)  // nothing happens in between: still the same single sleeper
        #expect(h.clock.sleeperCount == 1)
        #expect(try h.runs("nightly").isEmpty)
        await h.stop()
    }

    @Test("the wall clock jumping back does not fire the same time twice")
    func clockBackNoDoubleFire() async throws {
        let h = try Harness(jobs: [job("every-minute", "minutely")], at: "2026-11-25T12:00:59Z")
        await h.start()
        h.clock.advance(bySeconds: 1)
        _ = await h.eventsUntilIdle()
        #expect(try h.runs("every-minute").count == 1)
        h.clock.jumpWall(byMilliseconds: -90_000)  // back to 11:59:30
        h.clock.advance(bySeconds: 60)             // sleeps until its next fire, 12:02
        _ = await h.eventsUntilIdle()
        h.clock.advance(to: Timestamp(parsing: "2026-11-25T12:02:00Z")!)
        _ = await h.eventsUntilIdle()
        let due = try h.runs("every-minute").compactMap(\.scheduledAt)
        #expect(due == [Timestamp(parsing: "2026-11-25T12:01:00Z")!, Timestamp(parsing: "2026-11-25T12:02:00Z")!].map(\.secondsSinceEpoch))
        await h.stop()
    }

    @Test("a forward jump or a suspend: missed fires are recorded, and catch_up = latest runs one")
    func suspendCatchUpLatest() async throws {
        let h = try Harness(jobs: [job("every-minute", "minutely", "catch_up = \"latest\"\ncatch_up_window = \"1d\"")],
                            at: "2026-11-25T12:00:30Z")
        await h.start()
        h.clock.suspend(forMilliseconds: 3 * 3_600_000)  // wall moves 3h, monotonic does not
        h.clock.advance(bySeconds: 30)                    // the pending sleep ends; wall is now 15:01:00
        let events = await h.eventsUntilIdle()
        #expect(events.contains { if case .clockJumped = $0 { return true } else { return false } })
        let runs = try h.runs("every-minute")
        // 12:01 … 15:01 is 181 fires: 15:01 is on time and runs; the 180 before it were missed.
        #expect(runs.count == 181)
        #expect(runs.filter { $0.status == .skipped && $0.skipReason == .missed }.count == 180)
        #expect(runs.filter { $0.status != .skipped }.map(\.trigger) == [.schedule])
        await h.stop()
    }

    @Test("a scheduler a few seconds behind misses nothing: each fire less than a minute late is handled by overlap")
    func behindButOnTime() async throws {
        let h = try Harness(jobs: [job("every-second", "*-*-* *:*:*", "overlap = \"queue\"\ncatch_up = \"latest\"")],
                            at: "2026-11-25T12:00:00Z")
        await h.start()
        h.clock.suspend(forMilliseconds: 2_000)  // the loop was held up: 12:00:01 and :02 pass unseen
        h.clock.advance(bySeconds: 1)             // it wakes for 12:00:01 at 12:00:03
        func settled() throws -> Bool { let r = try h.runs("every-second"); return r.count >= 3 && r.allSatisfy(\.status.isFinal) }
        for _ in 0..<10 where try !settled() { _ = await h.eventsUntilIdle() }
        let runs = try h.runs("every-second")
        #expect(runs.compactMap(\.scheduledAt) == (1...3).map { Timestamp(parsing: "2026-11-25T12:00:00Z")!.secondsSinceEpoch + $0 })
        #expect(runs.map(\.status) == [.succeeded, .succeeded, .skipped])
        #expect(runs.last?.skipReason == .overlap, "a queue of one: the third waits for nobody, and is skipped as an overlap, not missed")
        await h.stop()
    }

    @Test("after downtime, catch_up = all runs each missed fire within the window, oldest first")
    func restartCatchUpAll() async throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        let text = job("hourly", "hourly", "catch_up = \"all\"\ncatch_up_window = \"2h\"\noverlap = \"queue\"")
        do {
            let h = try Harness(jobs: [text], at: "2026-11-25T11:59:00Z", store: try RunStore(path: path))
            await h.start()
            h.clock.advance(bySeconds: 60)
            _ = await h.eventsUntilIdle()
            await h.stop()
        }
        // Down from 12:00 until 16:30: 13:00, 14:00, 15:00, 16:00 missed; only the last two are within the 2h window.
        let h = try Harness(jobs: [text], at: "2026-11-25T16:30:00Z", store: try RunStore(path: path))
        await h.start()
        // Catch-up runs start one after another (overlap = queue); wait until both have ended.
        func caughtUp() throws -> [RunInfo] { try h.runs("hourly").filter { $0.trigger == .catchUp && $0.status.isFinal } }
        for _ in 0..<10 where try caughtUp().count < 2 { _ = await h.eventsUntilIdle() }
        let started = try caughtUp().compactMap(\.scheduledAt)
        #expect(started == ["2026-11-25T15:00:00Z", "2026-11-25T16:00:00Z"].map { Timestamp(parsing: $0)!.secondsSinceEpoch })
        let runs = try h.runs("hourly")
        #expect(runs.filter { $0.skipReason == .missed }.compactMap(\.scheduledAt)
                == ["2026-11-25T13:00:00Z", "2026-11-25T14:00:00Z"].map { Timestamp(parsing: $0)!.secondsSinceEpoch })
        await h.stop()
    }

    @Test("overlap = skip records the fire as skipped while a run is going")
    func overlapSkip() async throws {
        let h = try Harness(jobs: [job("slow", "minutely", "overlap = \"skip\"")], at: "2026-11-25T12:00:59Z", autoFinish: false)
        await h.start()
        h.clock.advance(bySeconds: 1)
        _ = await h.eventsUntilIdle()
        h.clock.advance(bySeconds: 60)
        let events = await h.eventsUntilIdle()
        #expect(events == [.skipped(job: "slow", scheduledAt: Timestamp(parsing: "2026-11-25T12:02:00Z")!.secondsSinceEpoch, reason: .overlap)])
        let first = try #require(try h.runs("slow").first)
        h.executor.finish(first.id)
        await h.stop()
    }

    @Test("overlap = queue holds one run and skips the rest; overlap = replace cancels the running one")
    func overlapQueueAndReplace() async throws {
        let h = try Harness(jobs: [job("queued", "minutely", "overlap = \"queue\""), job("replaced", "minutely", "overlap = \"replace\"")],
                            at: "2026-11-25T12:00:59Z", autoFinish: false)
        await h.start()
        for _ in 0..<3 {
            h.clock.advance(bySeconds: h.clock.wallMilliseconds() % 60_000 == 59_000 ? 1 : 60)
            _ = await h.eventsUntilIdle()
        }
        #expect(try await h.statuses("queued", settlingTo: [.running, .queued, .skipped]) == [.running, .queued, .skipped])
        let queued = try h.runs("queued")
        #expect(try await h.statuses("replaced", settlingTo: [.cancelled, .cancelled, .running]) == [.cancelled, .cancelled, .running])
        h.executor.finish(queued[0].id)
        // The run's end reaches the scheduler on its own time: read events until the scheduler
        // has seen it (and started the queued run in that turn), not just until the next idle.
        var seen: [Scheduler.Event] = []
        while !seen.contains(.finished(runID: queued[0].id, job: "queued", status: .succeeded)) { seen += await h.eventsUntilIdle() }
        // The queued run is started in that turn; the executor marks it running on its own task.
        let after = try await h.statuses("queued", settlingTo: [.succeeded, .running, .skipped])
        #expect(after == [.succeeded, .running, .skipped], "\(after)")
        // End the runs still going, so stopping does not wait out the drain time on a clock
        // nobody moves.
        for run in try h.runs("queued") + h.runs("replaced") where run.status == .running { h.executor.finish(run.id) }
        await h.stop()
    }

    @Test("manual runs record the caller; paused jobs record their fires as skipped")
    func manualAndPause() async throws {
        let h = try Harness(jobs: [job("nightly", "minutely")], at: "2026-11-25T12:00:30Z")
        await h.start()
        let run = try await h.scheduler.trigger(job: "nightly", requestedBy: 1000)
        _ = await h.eventsUntilIdle()
        #expect(try h.store.run(id: run.id)?.trigger == .manual)
        #expect(try h.store.run(id: run.id)?.requestedBy == 1000)
        try await h.scheduler.setPaused(true, job: "nightly")
        h.clock.advance(bySeconds: 30)
        // `setPaused` may have left an `.idle` of its own turn in the stream: read events until
        // the paused fire's skip has come, not just until the next idle.
        let due = Timestamp(parsing: "2026-11-25T12:01:00Z")!.secondsSinceEpoch
        var seen: [Scheduler.Event] = []
        while !seen.contains(.skipped(job: "nightly", scheduledAt: due, reason: .paused)) { seen += await h.eventsUntilIdle() }
        #expect(try h.runs("nightly").last?.skipReason == .paused)
        await #expect(throws: Scheduler.RequestError.unknownJob("nope")) { try await h.scheduler.trigger(job: "nope", requestedBy: 0) }
        await h.stop()
    }

    @Test("waiting for a run returns its final status; a cancelled wait returns nil and the run goes on")
    func waitForRun() async throws {
        let h = try Harness(jobs: [job("slow", "daily")], at: "2026-11-25T12:00:00Z", autoFinish: false)
        await h.start()
        let run = try await h.scheduler.trigger(job: "slow", requestedBy: 0)
        _ = await h.eventsUntilIdle()
        let scheduler = h.scheduler
        let abandoned = Task { await scheduler.waitForRun(run.id) }
        abandoned.cancel()
        #expect(await abandoned.value == nil)
        let waiting = Task { await scheduler.waitForRun(run.id) }
        await Task.yield()
        h.executor.finish(run.id, .succeeded)
        #expect(await waiting.value == .succeeded)
        #expect(await scheduler.waitForRun(run.id) == .succeeded, "a finished run answers at once")
        await h.stop()
    }

    @Test("stop lets a running run finish within the drain time, and cancels it after")
    func drain() async throws {
        let h = try Harness(jobs: [job("slow", "minutely")], at: "2026-11-25T12:00:59Z", autoFinish: false)
        await h.start()
        h.clock.advance(bySeconds: 1)
        _ = await h.eventsUntilIdle()
        let run = try #require(try h.runs("slow").first)
        await h.scheduler.stop()
        await h.clock.waitForSleepers(1)  // draining: waiting on the clock
        h.clock.advance(bySeconds: 11)    // past the 10 s drain
        await h.stop()
        #expect(try h.store.run(id: run.id)?.status == .cancelled)
    }

    @Test("runs left running by a crash become interrupted")
    func interrupted() throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        let run = try #require(try store.recordFire(job: "j", kind: "readiness-scan", trigger: .schedule, requestedBy: nil,
                                                    scheduledAt: 100, status: .queued, skipReason: nil, summary: nil, at: 1, resumes: nil))
        try store.markRunning(runID: run.id, at: 2)
        #expect(try store.recordFire(job: "j", kind: "readiness-scan", trigger: .schedule, requestedBy: nil, scheduledAt: 100,
                                     status: .queued, skipReason: nil, summary: nil, at: 3, resumes: nil) == nil,
                "the same fire must not be recorded twice")
        let leftovers = try store.interruptLeftovers(at: 5, reason: "daemon restarted")
        #expect(leftovers.map(\.id) == [run.id])
        #expect(try store.run(id: run.id)?.status == .interrupted)
        #expect(try store.integrityCheck(full: true) == "ok")
    }
}
