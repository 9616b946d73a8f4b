import Logging
import Synchronization
import Testing
@testable import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit

/// A plan whose tasks and agent behaviour the test writes. The agent records how many tasks
/// were in flight at once.
struct ScriptedPlan: WorkflowPlan {
    let keys: [String]
    let agent: ScriptedAgent

    func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        keys.map { PlannedTask(key: $0, agent: "scripted", input: $0) }
    }

    func agent(named name: String) -> (any Agent)? { name == "scripted" ? agent : nil }
}

final class ScriptedAgent: Agent {
    struct State {
        var inFlight = 0
        var maxInFlight = 0
        var calls: [String: Int] = [:]
    }

    let state = Mutex(State())
    /// Given the task key and its attempt number (1-based), what to do.
    let behaviour: @Sendable (String, Int, AgentContext) async throws -> TaskOutput
    var name: String { "scripted" }

    init(_ behaviour: @escaping @Sendable (String, Int, AgentContext) async throws -> TaskOutput) {
        self.behaviour = behaviour
    }

    func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
        let attempt = state.withLock { s in
            s.inFlight += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
            s.calls[task.key, default: 0] += 1
            return s.calls[task.key]!
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        // Let the other tasks of the group start, so the in-flight count means something.
        await Task.yield()
        return try await behaviour(task.key, attempt, context)
    }
}

let ok = TaskOutput(result: ["ok": true], summary: "ok")

/// A coordinator over a real SQLite ledger and a manual clock, running one job.
struct CoordinatorHarness {
    let scratch = Scratch()
    let store: RunStore
    let clock = ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!)
    let job: JobDefinition

    init(_ extra: String = "") throws {
        store = try RunStore(path: scratch.path + "/ledger.sqlite")
        let file = scratch.write("job.toml", """
            name = "probe"
            kind = "readiness-scan"
            schedule = "daily"
            timezone = "UTC"
            \(extra)
            """)
        let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: clock.now())
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        job = try #require(catalog.jobs.first)
    }

    func coordinator(_ plan: any WorkflowPlan, pool: Int = 64) -> RunCoordinator {
        RunCoordinator(ledger: store, pool: PermitPool(permits: pool), clock: clock, plan: { _ in plan },
                       logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    func newRun(resumes: Int64? = nil) throws -> RunInfo {
        try #require(try store.recordFire(job: job.name, kind: job.kind.rawValue, trigger: .manual, requestedBy: 0, scheduledAt: nil,
                                          status: .queued, skipReason: nil, summary: nil, at: clock.wallMilliseconds(), resumes: resumes))
    }
}

@Suite("Run coordinator", .timeLimit(.minutes(2)))
struct RunCoordinatorTests {
    @Test("a run whose tasks all succeed is succeeded, with every task a row")
    func allSucceed() async throws {
        let h = try CoordinatorHarness()
        let plan = ScriptedPlan(keys: (1...20).map { "t\($0)" }, agent: ScriptedAgent { _, _, _ in ok })
        let run = try h.newRun()
        let status = await h.coordinator(plan).execute(run: run, job: h.job)
        #expect(status == .succeeded)
        let tasks = try h.store.tasks(runID: run.id)
        #expect(tasks.map(\.key) == plan.keys)
        #expect(tasks.allSatisfy { $0.status == .succeeded && $0.attempts == 1 && $0.result == ok.result.json && $0.result == #"{"ok":true}"# })
        let recorded = try #require(try h.store.run(id: run.id))
        #expect(recorded.status == .succeeded)
        #expect(recorded.summary == "20 of 20 tasks succeeded")
        #expect(recorded.startedAt != nil && recorded.finishedAt != nil)
    }

    @Test("a permanent failure fails the run, names the task, and the other tasks still run")
    func permanentFailure() async throws {
        let h = try CoordinatorHarness()
        let agent = ScriptedAgent { key, _, _ in
            if key == "bad" { throw TaskFailure.permanent("HTTP 400: invalid SKU") }
            return ok
        }
        let run = try h.newRun()
        let status = await h.coordinator(ScriptedPlan(keys: ["a", "bad", "c"], agent: agent)).execute(run: run, job: h.job)
        #expect(status == .failed)
        #expect(try h.store.run(id: run.id)?.error == "task bad: HTTP 400: invalid SKU")
        #expect(try h.store.tasks(runID: run.id).map(\.status) == [.succeeded, .failed, .succeeded])
        #expect(agent.state.withLock { $0.calls["bad"] } == 1, "a permanent failure is not retried")
    }

    @Test("a transient failure is retried after a backoff on the clock, never sooner than Retry-After")
    func transientRetried() async throws {
        let h = try CoordinatorHarness("[retry]\nattempts = 3\nbackoff = \"1s\"\nmax_backoff = \"2s\"")
        let agent = ScriptedAgent { _, attempt, _ in
            if attempt == 1 { throw TaskFailure.transient("HTTP 429", retryAfter: .seconds(30)) }
            return ok
        }
        let run = try h.newRun()
        let coordinator = h.coordinator(ScriptedPlan(keys: ["only"], agent: agent))
        let job = h.job
        let result = Task { await coordinator.execute(run: run, job: job) }
        await h.clock.waitForSleepers(2)  // the run's timeout, and the backoff
        h.clock.advance(bySeconds: 29)
        #expect(agent.state.withLock { $0.calls["only"] } == 1, "Retry-After 30 s is honoured")
        h.clock.advance(bySeconds: 1)
        #expect(await result.value == .succeeded)
        let task = try #require(try h.store.tasks(runID: run.id).first)
        #expect(task.attempts == 2)
        #expect(task.status == .succeeded)
    }

    @Test("a task that keeps failing transiently fails after the configured attempts")
    func transientExhausted() async throws {
        let h = try CoordinatorHarness("[retry]\nattempts = 2\nbackoff = \"1s\"\nmax_backoff = \"1s\"")
        let agent = ScriptedAgent { _, _, _ in throw TaskFailure.transient("HTTP 503", retryAfter: nil) }
        let run = try h.newRun()
        let coordinator = h.coordinator(ScriptedPlan(keys: ["flaky"], agent: agent))
        let job = h.job
        let result = Task { await coordinator.execute(run: run, job: job) }
        await h.clock.waitForSleepers(2)
        h.clock.advance(bySeconds: 1)
        #expect(await result.value == .failed)
        let task = try #require(try h.store.tasks(runID: run.id).first)
        #expect(task.attempts == 2)
        #expect(task.error == "HTTP 503")
    }

    @Test("no more tasks are in flight than the job's concurrency, nor than the daemon's pool")
    func bounded() async throws {
        let keys = (1...200).map { "t\($0)" }
        for (concurrency, pool, bound) in [(4, 64, 4), (16, 3, 3)] {
            let h = try CoordinatorHarness("concurrency = \(concurrency)")
            let agent = ScriptedAgent { _, _, _ in
                for _ in 0..<3 { await Task.yield() }
                return ok
            }
            let status = await h.coordinator(ScriptedPlan(keys: keys, agent: agent), pool: pool).execute(run: try h.newRun(), job: h.job)
            #expect(status == .succeeded)
            let peak = agent.state.withLock { $0.maxInFlight }
            #expect(peak <= bound)
            #expect(peak >= 1)
        }
    }

    @Test("a run that outlives its timeout ends timed_out and its tasks are cancelled")
    func timeout() async throws {
        let h = try CoordinatorHarness("timeout = \"5m\"")
        let agent = ScriptedAgent { _, _, context in
            try await context.clock.sleep(milliseconds: 3_600_000)  // a request that never answers
            return ok
        }
        let run = try h.newRun()
        let coordinator = h.coordinator(ScriptedPlan(keys: ["stuck-1", "stuck-2"], agent: agent))
        let job = h.job
        let result = Task { await coordinator.execute(run: run, job: job) }
        await h.clock.waitForSleepers(3)  // the timeout and both tasks
        h.clock.advance(bySeconds: 300)
        #expect(await result.value == .timedOut)
        #expect(try h.store.run(id: run.id)?.status == .timedOut)
        #expect(try h.store.tasks(runID: run.id).map(\.status) == [.cancelled, .cancelled])
    }

    @Test("a run that ends other than succeeded leaves no task pending: the planned tasks it never started are cancelled, saying why")
    func endedRunClosesItsTasks() async throws {
        let h = try CoordinatorHarness("timeout = \"5m\"\nconcurrency = 1")
        let agent = ScriptedAgent { key, _, context in
            if key == "first" { return ok }
            try await context.clock.sleep(milliseconds: 3_600_000)  // a request that never answers
            return ok
        }
        let run = try h.newRun()
        let coordinator = h.coordinator(ScriptedPlan(keys: ["first", "stuck", "never-1", "never-2"], agent: agent), pool: 1)
        let job = h.job
        let result = Task { await coordinator.execute(run: run, job: job) }
        await h.clock.waitForSleepers(2)  // the timeout and the stuck task
        h.clock.advance(bySeconds: 300)
        #expect(await result.value == .timedOut)
        let tasks = try h.store.tasks(runID: run.id)
        #expect(tasks.map(\.key) == ["first", "stuck", "never-1", "never-2"])
        #expect(tasks.map(\.status) == [.succeeded, .cancelled, .cancelled, .cancelled])
        #expect(tasks.suffix(2).allSatisfy { $0.error == "the run ended timed_out before this task did" && $0.finishedAt != nil })
    }

    @Test("a spend budget reached ends the run budget_exhausted with the results it has, and its spend recorded")
    func budgetExhausted() async throws {
        let h = try CoordinatorHarness("budget = \"0.03 USD\"\nconcurrency = 1")
        let spend = try SpendLedger(store: h.store, budgets: SpendBudgets(config: .defaults(environment: .current), jobs: [h.job]),
                                    clock: h.clock)
        let agent = ScriptedAgent { _, _, _ in
            let cent = Money(micros: 10_000, currency: .usd)
            let reservation = try spend.reserve(provider: "carrier", operation: "rate_quote", estimate: cent)
            await spend.record(MeteredCall(provider: "carrier", operation: "rate_quote", cost: cent, status: 200), settling: reservation)
            return ok
        }
        let run = try h.newRun()
        let coordinator = RunCoordinator(ledger: h.store, pool: PermitPool(permits: 4), clock: h.clock,
                                         plan: { _ in ScriptedPlan(keys: ["a", "b", "c", "d", "e"], agent: agent) },
                                         logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                         runSpend: { (try? spend.spent(runID: $0).micros) ?? 0 })
        let status = await coordinator.execute(run: run, job: h.job)
        #expect(status == .budgetExhausted)
        let recorded = try #require(try h.store.run(id: run.id))
        #expect(recorded.spendMicros == 30_000)
        #expect(recorded.error?.contains("0.03") == true, "\(recorded.error ?? "")")
        #expect(try h.store.tasks(runID: run.id).prefix(3).allSatisfy { $0.status == .succeeded })
    }

    @Test("a run resuming an interrupted one runs only the tasks that had not succeeded")
    func resume() async throws {
        let h = try CoordinatorHarness()
        let first = try h.newRun()
        let failing = ScriptedAgent { key, _, _ in
            if key == "c" { throw TaskFailure.permanent("crashed here") }
            return ok
        }
        _ = await h.coordinator(ScriptedPlan(keys: ["a", "b", "c"], agent: failing)).execute(run: first, job: h.job)
        let agent = ScriptedAgent { _, _, _ in ok }
        let second = try h.newRun(resumes: first.id)
        let status = await h.coordinator(ScriptedPlan(keys: ["a", "b", "c"], agent: agent)).execute(run: second, job: h.job)
        #expect(status == .succeeded)
        #expect(agent.state.withLock { $0.calls } == ["c": 1])
        #expect(try h.store.tasks(runID: second.id).map(\.status) == [.succeeded, .succeeded, .succeeded])
    }

    @Test("the readiness self-check measures the real database and records its evidence")
    func selfCheck() async throws {
        let h = try CoordinatorHarness("[params]\ndatabase_operations = 25")
        let plans = WorkflowPlans(ledger: h.store, probe: h.store, repricing: h.store, sync: SyncStore(store: h.store),
                                  shipping: h.store, spend: nil, services: WorkflowServices(), clock: h.clock)
        let coordinator = RunCoordinator(ledger: h.store, pool: PermitPool(permits: 4), clock: h.clock,
                                         plan: { plans.plan(for: $0) }, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let run = try h.newRun()
        // Without a spend ledger the spend probe cannot run (and says so); the database probe must.
        _ = await coordinator.execute(run: run, job: h.job)
        let database = try #require(try h.store.tasks(runID: run.id).first { $0.key == "database" })
        #expect(database.status == .succeeded)
        #expect(try h.store.tasks(runID: run.id).first { $0.key == "spend" }?.status == .failed)
        let result = try #require(database.result)
        #expect(result.contains("\"operations\":25"))
        #expect(result.contains("\"quick_check\":\"ok\""))
    }
}

/// A plan whose second wave's tasks hold what the test says (`PlannedTask.holds`), under a
/// wave's `holdLimit`; the agent records what the tasks in flight held at once.
struct HoldingPlan: WorkflowPlan {
    let holds: [Int]
    let limit: Int
    let agent: HoldingAgent

    func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        [PlannedTask(key: "start", agent: "holding", input: "start")]
    }

    func followUpWave(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> PlannedWave {
        guard tasks.count == 1 else { return .empty }
        let planned = holds.enumerated().map { PlannedTask(key: "t\($0.offset)", agent: "holding", input: "t", holds: $0.element) }
        return PlannedWave(count: planned.count, holdLimit: limit) { offset, limit in
            Array(planned[min(offset, planned.count)..<min(planned.count, offset + limit)])
        }
    }

    func agent(named name: String) -> (any Agent)? { name == "holding" ? agent : nil }
}

final class HoldingAgent: Agent {
    struct State {
        var inFlight = 0, held = 0, maxInFlight = 0, maxHeld = 0
        /// The most held at once while more than one task was in flight.
        var maxHeldShared = 0
        var started: [String] = []
    }

    let state = Mutex(State())
    var name: String { "holding" }

    func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
        state.withLock { s in
            s.inFlight += 1
            s.held += task.holds
            s.started.append(task.key)
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
            s.maxHeld = max(s.maxHeld, s.held)
            if s.inFlight > 1 { s.maxHeldShared = max(s.maxHeldShared, s.held) }
        }
        for _ in 0..<5 { await Task.yield() }
        state.withLock { s in
            s.inFlight -= 1
            s.held -= task.holds
        }
        return ok
    }
}

@Suite("Run coordinator: what the tasks in flight hold", .timeLimit(.minutes(2)))
struct RunCoordinatorHoldTests {
    @Test("a wave's tasks in flight never hold more than its limit together; one larger than the limit runs alone; every task runs once")
    func holdLimit() async throws {
        let h = try CoordinatorHarness("concurrency = 16")
        // Small tasks (many fit side by side), tasks that fill the limit, and two larger than it.
        var holds = Array(repeating: 1, count: 40) + Array(repeating: 7, count: 12) + [25, 3, 3, 40] + Array(repeating: 2, count: 30)
        holds.shuffle()
        let agent = HoldingAgent()
        let plan = HoldingPlan(holds: holds, limit: 20, agent: agent)
        let run = try h.newRun()
        #expect(await h.coordinator(plan).execute(run: run, job: h.job) == .succeeded)
        let s = agent.state.withLock { $0 }
        #expect(s.maxHeldShared <= 20, "tasks side by side held \(s.maxHeldShared) > 20")
        #expect(s.maxHeld == 40, "the task of 40 ran, alone")
        #expect(s.maxInFlight > 1 && s.maxInFlight <= 16)
        #expect(s.started.sorted() == (["start"] + holds.indices.map { "t\($0)" }).sorted(), "every task ran once")
        let tasks = try h.store.tasks(runID: run.id)
        #expect(tasks.map(\.key) == ["start"] + holds.indices.map { "t\($0)" })
        #expect(tasks.allSatisfy { $0.status == .succeeded })
    }

    @Test("without a limit, only the job's concurrency bounds the tasks in flight")
    func noLimit() async throws {
        let h = try CoordinatorHarness("concurrency = 8")
        let agent = HoldingAgent()
        let plan = HoldingPlan(holds: Array(repeating: 500, count: 64), limit: .max, agent: agent)
        #expect(await h.coordinator(plan).execute(run: try h.newRun(), job: h.job) == .succeeded)
        let s = agent.state.withLock { $0 }
        #expect(s.maxInFlight > 1 && s.maxInFlight <= 8)
        #expect(s.maxHeld == 500 * s.maxInFlight)
    }
}
