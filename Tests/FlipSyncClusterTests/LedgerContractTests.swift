import FlipSyncCore
import FlipSyncPostgres
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Synchronization
import Testing

/// The two run ledgers the daemon can be given.
enum StoreKind: String, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL where its server binaries are installed (else its cases are not run).
    static var available: [StoreKind] { TestPostgres.binDirectory() == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A new, empty ledger of this kind (a temporary SQLite file, or a fresh database on the suite's server).
    func makeLedger() async throws -> any RunLedger & LedgerProbe {
        switch self {
        case .sqlite:
            let path = TestScratch.file("ledger.sqlite")
            return try RunStore(path: path)
        case .postgres:
            let server = try server()
            let endpoint = try await server.freshDatabase()
            return try PostgresLedger(endpoint: endpoint, password: server.password)
        }
    }
}

extension StoreKind {
    /// A new, empty quota ledger of this kind (in a new run ledger), on `clock`.
    func makeQuotaLedger(policy: QuotaPolicy, clock: any SchedulerClock, onError: @escaping @Sendable (String) -> Void = { _ in })
        async throws -> any QuotaLedger {
        switch self {
        case .sqlite:
            return QuotaStore(store: try await makeLedger() as! RunStore, policy: policy, clock: clock, onError: onError)
        case .postgres:
            return PostgresQuotaLedger(ledger: try await makeLedger() as! PostgresLedger, policy: policy, clock: clock, onError: onError)
        }
    }
}

/// Starts the suite's PostgreSQL only where it is installed, so the SQLite cases run everywhere.
struct PostgresIfInstalledTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard TestPostgres.binDirectory() != nil else { return try await function() }
        let server = try TestPostgres()
        defer { server.stop() }
        try await TestPostgres.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == PostgresIfInstalledTrait {
    static var postgresIfInstalled: Self { PostgresIfInstalledTrait() }
}

/// The `RunLedger` contract, the same tests against both stores.
@Suite("LedgerContractTests: the run ledger's contract on SQLite and PostgreSQL", .postgresIfInstalled, .timeLimit(.minutes(3)))
struct LedgerContractTests {
    @Test("recordFire records a fire at most once per (job, scheduledAt): the second call returns nil and adds nothing; manual runs (no fire time) are never merged; what it returns is the stored row", arguments: StoreKind.available)
    func fireOnce(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        let first = try #require(try ledger.recordFire(job: "sweep", kind: "repricing", trigger: .schedule, requestedBy: nil, scheduledAt: 1_000,
                                                       status: .queued, skipReason: nil, summary: nil, at: 1_000_500, resumes: nil))
        #expect(first.job == "sweep" && first.kind == "repricing" && first.trigger == .schedule && first.status == .queued)
        #expect(first.scheduledAt == 1_000 && first.createdAt == 1_000_500 && first.finishedAt == nil && first.spendMicros == 0)
        let again = try ledger.recordFire(job: "sweep", kind: "repricing", trigger: .catchUp, requestedBy: nil, scheduledAt: 1_000,
                                          status: .skipped, skipReason: .missed, summary: "x", at: 2_000_000, resumes: nil)
        #expect(again == nil)
        #expect(try ledger.run(id: first.id) == first)
        let next = try #require(try ledger.recordFire(job: "sweep", kind: "repricing", trigger: .schedule, requestedBy: nil, scheduledAt: 2_000,
                                                      status: .skipped, skipReason: .overlap, summary: "still running", at: 2_000_100, resumes: nil))
        #expect(next.id > first.id && next.status == .skipped && next.skipReason == .overlap && next.finishedAt == 2_000_100)
        // What recordFire returns is the row as stored, field for field (SQLite builds it from what it inserted).
        #expect(try ledger.run(id: next.id) == next)
        let otherJob = try ledger.recordFire(job: "sync", kind: "sync", trigger: .schedule, requestedBy: nil, scheduledAt: 1_000,
                                             status: .queued, skipReason: nil, summary: nil, at: 1_000_600, resumes: nil)
        #expect(otherJob != nil)
        for _ in 0..<2 {
            let manual = try ledger.recordFire(job: "sweep", kind: "repricing", trigger: .manual, requestedBy: 1000, scheduledAt: nil,
                                               status: .queued, skipReason: nil, summary: nil, at: 3_000_000, resumes: first.id)
            #expect(manual?.requestedBy == 1000 && manual?.resumes == first.id)
            #expect(try manual.flatMap { try ledger.run(id: $0.id) } == manual)
        }
        #expect(try ledger.recentRuns(job: "sweep", limit: 10).count == 4)
    }

    @Test("markRunning moves only a queued run; finishRun ends only a queued or running run, recording status, summary, error, spend and time", arguments: StoreKind.available)
    func lifecycle(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        let run = try #require(try ledger.recordFire(job: "j", kind: "k", trigger: .manual, requestedBy: 0, scheduledAt: nil, status: .queued,
                                                     skipReason: nil, summary: nil, at: 10, resumes: nil))
        try ledger.markRunning(runID: run.id, at: 20)
        try ledger.markRunning(runID: run.id, at: 30)
        var now = try #require(try ledger.run(id: run.id))
        #expect(now.status == .running && now.startedAt == 20)
        try await ledger.commitFinish(runID: run.id, status: .failed, summary: "2 of 3", error: "boom", spendMicros: 1_250_000, at: 40)
        try ledger.finishRun(runID: run.id, status: .succeeded, summary: "later", error: nil, spendMicros: 9, at: 50)
        now = try #require(try ledger.run(id: run.id))
        #expect(now.status == .failed && now.summary == "2 of 3" && now.error == "boom" && now.spendMicros == 1_250_000 && now.finishedAt == 40)
        #expect(try ledger.run(id: run.id + 1000) == nil)
    }

    @Test("interruptLeftovers marks queued and running runs interrupted (returned in id order, with the reason) and puts their running tasks back to pending", arguments: StoreKind.available)
    func leftovers(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        func fire(_ at: Int64, _ status: RunStatus) throws -> RunInfo {
            try #require(try ledger.recordFire(job: "j", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: at, status: status,
                                               skipReason: nil, summary: nil, at: at * 1000, resumes: nil))
        }
        let queued = try fire(1, .queued), running = try fire(2, .queued), done = try fire(3, .queued)
        try ledger.markRunning(runID: running.id, at: 2_500)
        try ledger.markRunning(runID: done.id, at: 3_500)
        try ledger.finishRun(runID: done.id, status: .succeeded, summary: nil, error: nil, spendMicros: 0, at: 3_600)
        try ledger.saveTasks([TaskInfo(runID: running.id, key: "a", agent: "x", status: .running, attempts: 1),
                              TaskInfo(runID: running.id, key: "b", agent: "x", status: .succeeded, attempts: 1, result: "{}"),
                              TaskInfo(runID: done.id, key: "c", agent: "x", status: .running, attempts: 1)])
        let interrupted = try ledger.interruptLeftovers(at: 9_000, reason: "daemon restarted")
        #expect(interrupted.map(\.id) == [queued.id, running.id])
        #expect(interrupted.allSatisfy { $0.status == .interrupted && $0.error == "daemon restarted" && $0.finishedAt == 9_000 })
        #expect(try ledger.run(id: running.id)?.status == .interrupted)
        #expect(try ledger.run(id: done.id)?.status == .succeeded)
        #expect(try ledger.tasks(runID: running.id).map(\.status) == [.pending, .succeeded])
        #expect(try ledger.tasks(runID: done.id).map(\.status) == [.running])
        #expect(try ledger.interruptLeftovers(at: 9_500, reason: "again").isEmpty)
    }

    @Test("tasks: saveTask inserts then updates (keeping the input when the update has none), saveTasks and commitTask too; tasks list in the order they were planned", arguments: StoreKind.available)
    func tasks(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        let run = try #require(try ledger.recordFire(job: "j", kind: "k", trigger: .manual, requestedBy: nil, scheduledAt: nil, status: .queued,
                                                     skipReason: nil, summary: nil, at: 1, resumes: nil))
        try ledger.saveTasks(["m", "c", "x"].map { TaskInfo(runID: run.id, key: $0, agent: "quote", status: .pending, input: "{\"k\":\"\($0)\"}") })
        try ledger.saveTask(TaskInfo(runID: run.id, key: "a", agent: "quote", status: .pending))
        try ledger.saveTask(TaskInfo(runID: run.id, key: "c", agent: "quote", status: .running, attempts: 1, startedAt: 5))
        try await ledger.commitTask(TaskInfo(runID: run.id, key: "m", agent: "quote", status: .succeeded, attempts: 2, startedAt: 6,
                                             finishedAt: 7, result: "{\"ok\":true}"))
        let tasks = try ledger.tasks(runID: run.id)
        #expect(tasks.map(\.key) == ["m", "c", "x", "a"])
        #expect(tasks[0] == TaskInfo(runID: run.id, key: "m", agent: "quote", status: .succeeded, attempts: 2, startedAt: 6, finishedAt: 7,
                                     result: "{\"ok\":true}", input: "{\"k\":\"m\"}"))
        #expect(tasks[1].status == .running && tasks[1].attempts == 1 && tasks[1].input == "{\"k\":\"c\"}")
        #expect(tasks[3].input == nil)
        #expect(try ledger.tasks(runID: run.id + 1).isEmpty)
    }

    @Test("commitTask from many tasks at once: 60 rows all written; the same task committed twice at once keeps its input; a row of no run fails alone, the 10 beside it written; on PostgreSQL the 60 share statements", arguments: StoreKind.available)
    func concurrentTaskCommits(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        let run = try #require(try ledger.recordFire(job: "j", kind: "k", trigger: .manual, requestedBy: nil, scheduledAt: nil, status: .queued,
                                                     skipReason: nil, summary: nil, at: 1, resumes: nil))
        func commitAll(_ tasks: [TaskInfo]) async -> [String] {
            await withTaskGroup(of: String?.self) { group in
                for task in tasks {
                    group.addTask {
                        do { try await ledger.commitTask(task) } catch { return task.key }
                        return nil
                    }
                }
                var failed: [String] = []
                for await key in group { if let key { failed.append(key) } }
                return failed
            }
        }
        let before = (ledger as? PostgresLedger)?.taskStatements ?? 0
        let sixty = (0..<60).map { TaskInfo(runID: run.id, key: "t\($0)", agent: "a", status: .running, attempts: 1, startedAt: Int64($0),
                                            input: "{\"i\":\($0)}") }
        #expect(await commitAll(sixty).isEmpty)
        if let postgres = ledger as? PostgresLedger {
            // One statement a row before; the first row goes alone, the rest arrive while it is on its way.
            #expect(postgres.taskStatements - before <= 30)
        }
        var tasks = try ledger.tasks(runID: run.id)
        #expect(tasks.count == 60)
        #expect(Set(tasks.map(\.key)) == Set(sixty.map(\.key)))
        #expect(tasks.allSatisfy { $0.status == .running && $0.input == "{\"i\":\($0.startedAt ?? -1)}" })

        let twice = [TaskInfo(runID: run.id, key: "d", agent: "a", status: .running, attempts: 1, startedAt: 5, input: "{\"d\":1}"),
                     TaskInfo(runID: run.id, key: "d", agent: "a", status: .succeeded, attempts: 1, startedAt: 5, finishedAt: 6, result: "{}")]
        let orphan = TaskInfo(runID: run.id + 99, key: "orphan", agent: "a", status: .running)
        let ten = (0..<10).map { TaskInfo(runID: run.id, key: "u\($0)", agent: "a", status: .succeeded, attempts: 1, result: "{}") }
        #expect(await commitAll(twice + [orphan] + ten) == ["orphan"])
        tasks = try ledger.tasks(runID: run.id)
        #expect(tasks.count == 60 + 1 + 10)
        let d = try #require(tasks.first { $0.key == "d" })
        #expect(d.input == "{\"d\":1}")
        #expect(d.status == .running || d.status == .succeeded)
        #expect(tasks.filter { $0.key.hasPrefix("u") }.allSatisfy { $0.status == .succeeded })
        #expect(try ledger.tasks(runID: run.id + 99).isEmpty)
    }

    @Test("batch: the writes made in its body commit together, and one failing write (a task of no run) fails alone", arguments: StoreKind.available)
    func batch(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        let run = try #require(try ledger.recordFire(job: "j", kind: "k", trigger: .manual, requestedBy: nil, scheduledAt: nil, status: .queued,
                                                     skipReason: nil, summary: nil, at: 1, resumes: nil))
        var failures: [any Error] = []
        try ledger.batch {
            do {
                try ledger.saveTask(TaskInfo(runID: run.id, key: "a", agent: "x", status: .pending))
                try ledger.markRunning(runID: run.id, at: 2)
            } catch { failures.append(error) }
            do { try ledger.saveTask(TaskInfo(runID: run.id + 99, key: "orphan", agent: "x", status: .pending)) } catch { failures.append(error) }
            do { try ledger.saveScheduleState(ScheduleState(job: "j", lastScheduledAt: 5)) } catch { failures.append(error) }
        }
        #expect(failures.count == 1)
        #expect(try ledger.tasks(runID: run.id).map(\.key) == ["a"])
        #expect(try ledger.tasks(runID: run.id + 99).isEmpty)
        #expect(try ledger.run(id: run.id)?.status == .running)
        #expect(try ledger.scheduleStates()["j"]?.lastScheduledAt == 5)
    }

    @Test("schedule state round-trips, every field; a second save replaces the first but an existing row's pause flag, which only setPaused changes (a row made if none)", arguments: StoreKind.available)
    func scheduleState(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        #expect(try ledger.scheduleStates().isEmpty)
        let a = ScheduleState(job: "a", lastScheduledAt: 1_700_000_000, lastRunID: 7, nextDueAt: 1_700_000_060, paused: true)
        try ledger.saveScheduleState(a)
        try ledger.saveScheduleState(ScheduleState(job: "b"))
        #expect(try ledger.scheduleStates() == ["a": a, "b": ScheduleState(job: "b")])
        // Another node's save of what it fired, with the flag it read before this pause: the pause stays.
        let a2 = ScheduleState(job: "a", lastScheduledAt: 1_700_000_060, lastRunID: nil, nextDueAt: nil, paused: false)
        try ledger.saveScheduleState(a2)
        var expected = a2
        expected.paused = true
        #expect(try ledger.scheduleStates()["a"] == expected)
        try ledger.setPaused(false, job: "a")
        #expect(try ledger.scheduleStates()["a"] == a2)
        try ledger.setPaused(true, job: "c")
        #expect(try ledger.scheduleStates()["c"] == ScheduleState(job: "c", paused: true))
    }

    @Test("pruneRuns deletes up to `limit` finished runs created before the cutoff, oldest first, with their tasks; never a queued or running one", arguments: StoreKind.available)
    func prune(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        var ids: [Int64] = []
        for (at, status) in [(100, RunStatus.succeeded), (200, .failed), (300, .skipped), (400, .queued), (900, .succeeded)] as [(Int64, RunStatus)] {
            let run = try #require(try ledger.recordFire(job: "j", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: at,
                                                         status: status, skipReason: nil, summary: nil, at: at, resumes: nil))
            try ledger.saveTask(TaskInfo(runID: run.id, key: "t", agent: "x", status: .succeeded))
            ids.append(run.id)
        }
        #expect(try ledger.pruneRuns(createdBefore: 500, limit: 2) == 2)
        #expect(try ledger.run(id: ids[0]) == nil && ledger.run(id: ids[1]) == nil && ledger.run(id: ids[2]) != nil)
        #expect(try ledger.tasks(runID: ids[0]).isEmpty)
        #expect(try ledger.pruneRuns(createdBefore: 500, limit: 2) == 1)
        #expect(try ledger.pruneRuns(createdBefore: 500, limit: 2) == 0)
        #expect(try ledger.recentRuns(job: nil, limit: 10).map(\.id) == [ids[4], ids[3]])
        #expect(try ledger.tasks(runID: ids[3]).count == 1)
    }

    @Test("pruneRuns keeps every run a kept run resumes, along its chain (kept: created since the cutoff, or queued or running); a chain goes whole, in one call, once all of it is old and finished", arguments: StoreKind.available)
    func pruneKeepsChains(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        func run(_ at: Int64, _ status: RunStatus, resumes: Int64? = nil) throws -> Int64 {
            try #require(try ledger.recordFire(job: "j\(at)", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: at,
                                               status: status, skipReason: nil, summary: nil, at: at, resumes: resumes)).id
        }
        // A chain of three, all old and finished; one whose last run is still running; one whose
        // last run is newer than the cutoff; and an old run alone.
        let a1 = try run(10, .interrupted), a2 = try run(20, .interrupted, resumes: a1), a3 = try run(30, .succeeded, resumes: a2)
        let b1 = try run(40, .interrupted), b2 = try run(50, .interrupted, resumes: b1), b3 = try run(60, .running, resumes: b2)
        let c1 = try run(70, .interrupted), c2 = try run(900, .succeeded, resumes: c1)
        let alone = try run(80, .failed)
        func left() throws -> Set<Int64> { Set(try ledger.recentRuns(job: nil, limit: 100).map(\.id)) }

        #expect(try ledger.pruneRuns(createdBefore: 500, limit: 100) == 4)
        #expect(try left() == [b1, b2, b3, c1, c2])
        #expect(try ledger.run(id: b3)?.resumes == b2 && ledger.run(id: b2)?.resumes == b1 && ledger.run(id: c2)?.resumes == c1)
        #expect(try [a1, a2, a3, alone].allSatisfy { try ledger.run(id: $0) == nil })

        // The running run ends: its chain is all old and finished, and goes whole.
        try ledger.finishRun(runID: b3, status: .succeeded, summary: nil, error: nil, spendMicros: 0, at: 100)
        #expect(try ledger.pruneRuns(createdBefore: 500, limit: 100) == 3)
        #expect(try left() == [c1, c2])
        // With a limit smaller than a chain, the oldest go first, the rest at the next call.
        #expect(try ledger.pruneRuns(createdBefore: 1_000, limit: 1) == 1)
        #expect(try left() == [c2])
        #expect(try ledger.pruneRuns(createdBefore: 1_000, limit: 1) == 1)
        #expect(try left().isEmpty)
    }

    @Test("recentRuns: newest first, filtered by job, at most `limit`", arguments: StoreKind.available)
    func recent(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        for i in 0..<6 {
            _ = try ledger.recordFire(job: i % 2 == 0 ? "even" : "odd", kind: "k", trigger: .schedule, requestedBy: nil, scheduledAt: Int64(i),
                                      status: .succeeded, skipReason: nil, summary: "\(i)", at: Int64(i), resumes: nil)
        }
        #expect(try ledger.recentRuns(job: "even", limit: 2).map(\.summary) == ["4", "2"])
        #expect(try ledger.recentRuns(job: nil, limit: 10).map(\.summary) == ["5", "4", "3", "2", "1", "0"])
        #expect(try ledger.recentRuns(job: "none", limit: 10).isEmpty)
    }

    @Test("the probe: timed round trips return one figure per write and read; the integrity check says ok", arguments: StoreKind.available)
    func probe(kind: StoreKind) async throws {
        let ledger = try await kind.makeLedger()
        let (writes, reads) = try ledger.timedRoundTrips(count: 5)
        #expect(writes.count == 5 && reads.count == 5 && writes.allSatisfy { $0 >= 0 })
        #expect(try ledger.integrityCheck(full: false) == "ok")
    }

    @Test("quota: calls are counted up to the limit, then refused (limitReached) without counting; other jobs' reserves are kept (reserved); a new window starts at zero", arguments: StoreKind.available)
    func quotaLimits(kind: StoreKind) async throws {
        let key = QuotaKey(provider: "acme", api: "search")
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let errors = ErrorsSeen()
        let policy = QuotaPolicy(limits: [key: 10], reserves: ["nightly": .calls(3)])
        let quota = try await kind.makeQuotaLedger(policy: policy, clock: clock, onError: { errors.add($0) })
        try quota.consume(key, units: 4, job: "other")
        try quota.consume(key, units: 3, job: "other")
        // 7 used; "other" may reach 10 - 3 reserved for nightly = 7.
        #expect(throws: QuotaRefusal(key: key, reason: .reserved, resetAt: policy.window(key, at: clock.wallMilliseconds()).upperBound)) {
            try quota.consume(key, units: 1, job: "other")
        }
        try quota.consume(key, units: 3, job: "nightly")
        #expect(throws: QuotaRefusal(key: key, reason: .limitReached, resetAt: policy.window(key, at: clock.wallMilliseconds()).upperBound)) {
            try quota.consume(key, units: 1, job: "nightly")
        }
        let usage = try #require(quota.usage().first(where: { $0.key == key }))
        #expect(usage.used == 10 && usage.limit == 10 && usage.reserved == 3 && usage.exhaustedUntil == nil)
        try quota.consume(QuotaKey(provider: "acme", api: "unlimited"), units: 50, job: nil)
        #expect(quota.usage().first(where: { $0.key.api == "unlimited" })?.used == 50)
        clock.advance(bySeconds: 86_400)
        try quota.consume(key, units: 2, job: "other")
        #expect(quota.usage().first(where: { $0.key == key })?.used == 2)
        #expect(errors.all.isEmpty)
    }

    @Test("quota: consumeCommitted (the pipeline's path; SQLite counts in group-commit transactions) under 300 concurrent calls lets exactly what fits through: 80 of 'other' (20 reserved for nightly), then 20 of 40 nightly ones; nothing refused is counted", arguments: StoreKind.available)
    func quotaCommittedConcurrently(kind: StoreKind) async throws {
        let key = QuotaKey(provider: "acme", api: "search"), errors = ErrorsSeen()
        let quota = try await kind.makeQuotaLedger(policy: QuotaPolicy(limits: [key: 100], reserves: ["nightly": .calls(20)]),
                                                   clock: ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!), onError: { errors.add($0) })
        func race(_ calls: Int, job: String) async -> (allowed: Int, refusals: [QuotaRefusal.Reason]) {
            await withTaskGroup(of: QuotaRefusal?.self) { group in
                for _ in 0..<calls {
                    group.addTask {
                        do throws(QuotaRefusal) { try await quota.consumeCommitted(key, units: 1, job: job); return nil } catch { return error }
                    }
                }
                var allowed = 0, refusals: [QuotaRefusal.Reason] = []
                for await refusal in group { if let refusal { refusals.append(refusal.reason) } else { allowed += 1 } }
                return (allowed, refusals)
            }
        }
        let other = await race(300, job: "other")
        #expect(other.allowed == 80 && other.refusals.count == 220 && other.refusals.allSatisfy { $0 == .reserved })
        #expect(quota.usage().first(where: { $0.key == key })?.used == 80)
        let nightly = await race(40, job: "nightly")
        #expect(nightly.allowed == 20 && nightly.refusals.allSatisfy { $0 == .limitReached })
        #expect(quota.usage().first(where: { $0.key == key })?.used == 100)
        #expect(errors.all.isEmpty)
    }

    @Test("quota: markExhausted refuses every call until the window's end and reports the first mark only", arguments: StoreKind.available)
    func quotaExhausted(kind: StoreKind) async throws {
        let key = QuotaKey(provider: "acme", api: "search")
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let policy = QuotaPolicy(limits: [key: 100])
        let quota = try await kind.makeQuotaLedger(policy: policy, clock: clock)
        try quota.consume(key, units: 1, job: nil)
        let end = policy.window(key, at: clock.wallMilliseconds()).upperBound
        let first = quota.markExhausted(key), second = quota.markExhausted(key)
        #expect(first.resetAt == end && first.first && second.resetAt == end && !second.first)
        #expect(throws: QuotaRefusal(key: key, reason: .exhausted, resetAt: end)) { try quota.consume(key, units: 1, job: nil) }
        let usage = try #require(quota.usage().first(where: { $0.key == key }))
        #expect(usage.used == 1 && usage.exhaustedUntil == end && usage.remaining == 0)
        clock.advance(byMilliseconds: end - clock.wallMilliseconds())
        try quota.consume(key, units: 1, job: nil)
        #expect(quota.usage().first(where: { $0.key == key })?.exhaustedUntil == nil)
    }
}

/// Storage errors a quota ledger told.
final class ErrorsSeen: Sendable {
    private let seen = Mutex<[String]>([])
    func add(_ message: String) { seen.withLock { $0.append(message) } }
    var all: [String] { seen.withLock { $0 } }
}

/// What the spend contract tests use of a spend ledger, on either store.
protocol SpendLedgerUnderTest: SpendRecorder {
    func spent(runID: Int64) throws(LedgerError) -> Money
    func setBudgets(_ budgets: SpendBudgets)
}

extension SpendLedger: SpendLedgerUnderTest {}
extension PostgresSpendLedger: SpendLedgerUnderTest {}

/// Spend events a ledger told.
final class SpendEventsSeen: Sendable {
    private let seen = Mutex<[SpendEvent]>([])
    func add(_ event: SpendEvent) { seen.withLock { $0.append(event) } }
    var warnings: [BudgetWarning] { seen.withLock { $0.compactMap { if case .nearLimit(let w) = $0 { w } else { nil } } } }
    var notCounted: [String] { seen.withLock { $0.compactMap { if case .notCounted(let m) = $0 { m } else { nil } } } }
}

extension StoreKind {
    /// A spend ledger of this kind over `ledger` (made by `makeLedger`).
    func openSpendLedger(on ledger: any RunLedger, budgets: SpendBudgets, clock: any SchedulerClock,
                         events: SpendEventsSeen) throws -> any SpendLedgerUnderTest {
        switch self {
        case .sqlite: return try SpendLedger(store: ledger as! RunStore, budgets: budgets, clock: clock) { events.add($0) }
        case .postgres: return try PostgresSpendLedger(ledger: ledger as! PostgresLedger, budgets: budgets, clock: clock) { events.add($0) }
        }
    }
}

private func dollars(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }

/// The budget whose refusal `body` threw (its message), nil when it did not refuse.
private func refusal(_ body: () throws(TaskFailure) -> SpendReservation) -> String? {
    do throws(TaskFailure) {
        _ = try body()
        return nil
    } catch {
        guard case .budgetExhausted(let message) = error else { return "not a budget refusal: \(error)" }
        return message
    }
}

extension LedgerContractTests {
    @Test("spend: a reservation is refused when spent + reserved + estimate would exceed the daily, monthly, job-day or run budget (equal is allowed); record settles at the real cost; days and months start afresh; 80% is told once per budget", arguments: StoreKind.available)
    func spendBudgets(kind: StoreKind) async throws {
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let budgets = SpendBudgets(currency: .usd, timezone: .utc, daily: dollars(10_000_000), monthly: dollars(25_000_000),
                                   jobs: ["sweep": .init(perRun: dollars(3_000_000), perDay: dollars(5_000_000))])
        let events = SpendEventsSeen()
        let ledger = try kind.openSpendLedger(on: try await kind.makeLedger(), budgets: budgets, clock: clock, events: events)
        func call(_ micros: Int64) -> MeteredCall { MeteredCall(provider: "carrier", operation: "rates.quote", cost: dollars(micros), status: 200) }

        // Reservations in flight count: 6 held, 5 more would make 11 of 10.
        let a = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(6_000_000))
        #expect(refusal { () throws(TaskFailure) in try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(5_000_000)) }?
                    .hasPrefix("daily budget of 10.00 USD exhausted") == true)
        await ledger.record(call(4_000_000), settling: a)
        // Settled at 4: exactly the 6 left may be reserved, then nothing more.
        let b = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(6_000_000))
        #expect(refusal { () throws(TaskFailure) in try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(1)) } != nil)
        await ledger.record(call(0), settling: b)

        let run7 = SpendContext(job: "sweep", runID: 7, taskKey: "t1"), run8 = SpendContext(job: "sweep", runID: 8, taskKey: "t1")
        try await SpendContext.$current.withValue(run7) {
            let r = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(3_000_000))
            #expect(refusal { () throws(TaskFailure) in try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(1)) }?
                        .hasPrefix("budget of run 7 of job \"sweep\"") == true)
            await ledger.record(call(2_500_000), settling: r)
        }
        try await SpendContext.$current.withValue(run8) {
            let r = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(2_500_000))
            await ledger.record(call(2_500_000), settling: r)
        }
        SpendContext.$current.withValue(SpendContext(job: "sweep", runID: 9, taskKey: "t1")) {
            #expect(refusal { () throws(TaskFailure) in try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(1)) }?
                        .hasPrefix("daily budget of job \"sweep\"") == true)
        }
        #expect(try ledger.spent(runID: 7) == dollars(2_500_000) && ledger.spent(runID: 8) == dollars(2_500_000) && ledger.spent(runID: 9) == dollars(0))
        // Day 9 of 10 (80% crossed), job-day 5 of 5, run 7 2.5 of 3 and run 8 2.5 of 3: each told once.
        let scopes = events.warnings.map(\.scope)
        #expect(Set(scopes) == [.daily, .jobDaily(job: "sweep"), .run(job: "sweep", runID: 7), .run(job: "sweep", runID: 8)] && scopes.count == 4)
        #expect(events.warnings.first(where: { $0.scope == .daily })?.spent == dollars(9_000_000))

        // Next day: the day starts at zero, the month does not.
        clock.advance(bySeconds: 86_400)
        let c = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(9_000_000))
        await ledger.record(call(9_000_000), settling: c)
        #expect(refusal { () throws(TaskFailure) in try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(1_000_001)) }?
                    .hasPrefix("daily budget") == true)
        clock.advance(bySeconds: 86_400)
        #expect(refusal { () throws(TaskFailure) in try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: dollars(8_000_000)) }?
                    .hasPrefix("monthly budget of 25.00 USD exhausted: 18.00 USD spent") == true)
        // Another currency: refused outright (reserve), recorded but not counted (record).
        do throws(TaskFailure) {
            _ = try ledger.reserve(provider: "carrier", operation: "rates.quote", estimate: Money(micros: 1, currency: Currency(code: "EUR")!))
            Issue.record("a reservation in EUR was accepted")
        } catch {
            guard case .permanent = error else { Issue.record("\(error)"); return }
        }
        await ledger.record(MeteredCall(provider: "carrier", operation: "rates.quote", cost: Money(micros: 5, currency: Currency(code: "EUR")!), status: 200))
        #expect(events.notCounted.count == 1)
    }

    @Test("spend: 80% is told once per budget, period and limit — a reload lowering the limit below what is spent is told at the next call, once; a reopened ledger does not tell it again; the next day does", arguments: StoreKind.available)
    func warningAfterLoweredLimit(kind: StoreKind) async throws {
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        func daily(_ micros: Int64) -> SpendBudgets { SpendBudgets(currency: .usd, timezone: .utc, daily: dollars(micros)) }
        func call(_ micros: Int64) -> MeteredCall { MeteredCall(provider: "llm", operation: "chat", cost: dollars(micros), status: 200) }
        let store = try await kind.makeLedger()
        let events = SpendEventsSeen()
        let ledger = try kind.openSpendLedger(on: store, budgets: daily(10_000_000), clock: clock, events: events)
        await ledger.record(call(5_000_000))
        #expect(events.warnings.isEmpty, "5.00 of 10.00")
        ledger.setBudgets(daily(6_000_000))  // a reload: 5.00 is now 83% of the day's budget
        await ledger.record(call(100_000))
        #expect(events.warnings.map(\.scope) == [.daily])
        #expect(events.warnings.first?.limit == dollars(6_000_000) && events.warnings.first?.spent == dollars(5_100_000))
        await ledger.record(call(100_000))
        #expect(events.warnings.count == 1, "told once for this day and limit")
        let reopenedEvents = SpendEventsSeen()
        let reopened = try kind.openSpendLedger(on: store, budgets: daily(6_000_000), clock: clock, events: reopenedEvents)
        await reopened.record(call(100_000))
        #expect(reopenedEvents.warnings.isEmpty, "already told today (a restart, or another node)")
        clock.advance(bySeconds: 86_400)
        await reopened.record(call(5_000_000))
        #expect(reopenedEvents.warnings.map(\.scope) == [.daily], "a new day: told again when reached")
    }

    @Test("spend: totals live in the database, so a ledger opened again on it (a restart) refuses what the budget no longer has room for", arguments: StoreKind.available)
    func spendSurvivesReopen(kind: StoreKind) async throws {
        let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
        let budgets = SpendBudgets(currency: .usd, timezone: .utc, daily: dollars(1_000_000))
        let store = try await kind.makeLedger()
        let first = try kind.openSpendLedger(on: store, budgets: budgets, clock: clock, events: SpendEventsSeen())
        let r = try first.reserve(provider: "llm", operation: "chat", estimate: dollars(700_000))
        await first.record(MeteredCall(provider: "llm", operation: "chat", cost: dollars(600_000), status: 200), settling: r)
        let events = SpendEventsSeen()
        let again = try kind.openSpendLedger(on: store, budgets: budgets, clock: clock, events: events)
        #expect(refusal { () throws(TaskFailure) in try again.reserve(provider: "llm", operation: "chat", estimate: dollars(400_001)) }?
                    .contains("0.60 USD spent") == true)
        let s = try again.reserve(provider: "llm", operation: "chat", estimate: dollars(400_000))
        await again.record(MeteredCall(provider: "llm", operation: "chat", cost: dollars(300_000), status: 200), settling: s)
        // 60% before, 90% after: the reopened ledger tells the crossing.
        #expect(events.warnings.map(\.scope) == [.daily] && events.warnings.first?.spent == dollars(900_000))
    }
}

/// What the sync contract tests use of a sync ledger, on either store.
protocol SyncLedgerUnderTest: SyncLedger {
    func orderLineCount() throws(LedgerError) -> Int
    func pushStatuses(runID: Int64) throws(LedgerError) -> [String]
}

extension SyncStore: SyncLedgerUnderTest {
    func pushStatuses(runID: Int64) throws(LedgerError) -> [String] { try pushes(runID: runID).map(\.status) }
}

extension PostgresSyncLedger: SyncLedgerUnderTest {
    func pushStatuses(runID: Int64) throws(LedgerError) -> [String] { try pushes(runID: runID).map(\.status) }
}

extension StoreKind {
    /// A new, empty sync ledger of this kind (in a new run ledger).
    func makeSyncLedger() async throws -> any SyncLedgerUnderTest {
        switch self {
        case .sqlite: return SyncStore(store: try await makeLedger() as! RunStore)
        case .postgres: return PostgresSyncLedger(ledger: try await makeLedger() as! PostgresLedger)
        }
    }
}

extension LedgerContractTests {
    @Test("sync: each order line counts once; lines before the seed are held, and the seed subtracts only other channels' lines; oversells are recorded and on-hand may go negative; cursors move with their page; expected quantities follow plans, own orders and applied pushes", arguments: StoreKind.available)
    func syncLedger(kind: StoreKind) async throws {
        let sync = try await kind.makeSyncLedger()
        func line(_ channel: MarketplaceName, _ order: String, _ sku: String, _ quantity: Int) -> OrderLine {
            OrderLine(marketplace: channel, orderID: order, lineID: "1", sku: sku, quantity: quantity, placedAt: 1_000)
        }
        #expect(try sync.cursor(job: "sync", marketplace: .ebay) == nil)
        var applied = try sync.applyOrders(OrdersPage(lines: [line(.ebay, "o1", "A", 2)], cursor: "c1"), job: "sync", marketplace: .ebay, runID: 1, at: 10)
        #expect(applied == OrderApplication(applied: 1, duplicates: 0, oversells: []))
        _ = try sync.applyOrders(OrdersPage(lines: [line(.amazon, "o3", "A", 3)], cursor: nil), job: "sync", marketplace: .amazon, runID: 1, at: 11)
        #expect(try sync.cursor(job: "sync", marketplace: .ebay) == "c1" && sync.onHand().isEmpty)

        // eBay is the stock source: its own earlier sale is already out of its live 10; Amazon's 3 is not.
        #expect(try sync.seed(["A": 10, "B": 5], from: .ebay, at: 20) == ["A", "B"])
        #expect(try sync.seed(["A": 99, "C": 4], from: .ebay, at: 21) == ["C"])
        #expect(try sync.onHand() == ["A": 7, "B": 5, "C": 4])

        applied = try sync.applyOrders(OrdersPage(lines: [line(.ebay, "o1", "A", 2), line(.ebay, "o4", "B", 6)], cursor: "c2"),
                                       job: "sync", marketplace: .ebay, runID: 2, at: 30)
        #expect(applied == OrderApplication(applied: 1, duplicates: 1,
                                            oversells: [Oversell(marketplace: .ebay, orderID: "o4", lineID: "1", sku: "B", ordered: 6, onHand: 5)]))
        #expect(try sync.onHand() == ["A": 7, "B": -1, "C": 4] && sync.cursor(job: "sync", marketplace: .ebay) == "c2")

        let price = Money(micros: 1_000_000, currency: .usd)
        try sync.recordPlan(PushPlan(marketplace: .ebay, observed: ["A": 7, "B": 3],
                                     drift: [Drift(sku: "A", live: 7, expected: 9, target: 7)],
                                     intents: [PushIntent(change: ListingChange(sku: "B", listingID: "L-B", quantity: 0), liveQuantity: 3, livePrice: price),
                                               PushIntent(change: ListingChange(sku: "A", listingID: "L-A", quantity: 6), liveQuantity: 7, livePrice: price)],
                                     dryRun: false), job: "sync", runID: 3, at: 40)
        #expect(try sync.expectedQuantities(marketplace: .ebay) == ["A": 7, "B": 3] && sync.expectedQuantities(marketplace: .amazon).isEmpty)
        // The channel's own order moves what it should show; another channel's does not.
        _ = try sync.applyOrders(OrdersPage(lines: [line(.ebay, "o5", "A", 1)], cursor: "c3"), job: "sync", marketplace: .ebay, runID: 3, at: 41)
        _ = try sync.applyOrders(OrdersPage(lines: [line(.amazon, "o6", "C", 1)], cursor: "a1"), job: "sync", marketplace: .amazon, runID: 3, at: 42)
        #expect(try sync.expectedQuantities(marketplace: .ebay) == ["A": 6, "B": 3] && sync.onHand() == ["A": 6, "B": -1, "C": 3])

        try sync.recordResults([PushResult(sku: "B", quantity: 0, outcome: .applied), PushResult(sku: "A", quantity: 5, outcome: .failed("HTTP 500"))],
                               marketplace: .ebay, runID: 3, at: 50)
        #expect(try sync.pushStatuses(runID: 3) == ["applied", "failed"])
        #expect(try sync.expectedQuantities(marketplace: .ebay) == ["A": 6, "B": 0])
        #expect(try sync.orderLineCount() == 5)
    }
}
