import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Foundation
import Logging
import Testing
import FlipSyncTestKit

/// The readiness scan end to end: the shipped job file, the three sandbox marketplaces over
/// real HTTP, the SQLite run and spend ledgers, the report read back as `flipsyncctl
/// readiness --json` prints it.
@Suite("Readiness scan, end to end", .timeLimit(.minutes(1)))
struct ReadinessScanTests {
    static let repo = URL(fileURLWithPath: packageRoot)

    /// Runs the shipped readiness-scan job once against the harness's sandbox; returns the run
    /// and the report as `flipsyncctl readiness --json` prints it (from a read-only ledger).
    static func scan(_ h: WorkflowHarness, extraConfig: String = "") async throws -> (run: RunInfo, status: RunStatus, json: String) {
        let clock = SystemSchedulerClock()
        let jobs = h.directory + "/jobs"
        try FileManager.default.createDirectory(atPath: jobs, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: jobs + "/readiness-scan.toml") {
            // The shipped job, with an API latency threshold a loaded CI machine cannot miss on
            // loopback: these tests are about what is measured and scored, not about speed.
            let shipped = try String(contentsOf: repo.appendingPathComponent("jobs/readiness-scan.toml"), encoding: .utf8)
            let job = shipped.replacingOccurrences(of: #"max_api_latency = "2s""#, with: #"max_api_latency = "60s""#)
            #expect(job != shipped, "the shipped job sets max_api_latency = \"2s\"")
            try job.write(toFile: jobs + "/readiness-scan.toml", atomically: true, encoding: .utf8)
        }
        let configPath = h.directory + "/flipsync.toml"
        try (WorkflowWorld.configText(baseURL: h.sandbox.baseURL) + extraConfig).write(toFile: configPath, atomically: true, encoding: .utf8)
        let loaded = DaemonSetup(configPath: configPath, environment: .current).load(now: clock.now())
        #expect(loaded.errors.isEmpty, "\(loaded.errors)")
        let job = try #require(loaded.catalog["readiness-scan"])
        let spend = try SpendLedger(store: h.store, budgets: SpendBudgets(config: loaded.config, jobs: [job]), clock: clock)
        let values = h.sandbox.developmentCredentials(for: loaded.config)
        let services = ChannelFactory.services(
            config: loaded.config, secret: { SecretText(values[$0] ?? "") },
            transport: URLSessionTransport(allowList: ChannelFactory.allowList(loaded.config)), recorder: spend,
            rateLimiters: RateLimiters(clock: clock), clock: clock, logger: WorkflowHarness.quietLogger)
        guard case .readinessScan(let parameters) = job.parameters else { throw CancellationError() }
        let plan = ReadinessScanPlan(parameters: parameters, ledger: h.store, database: h.store, services: services,
                                     spend: SpendEvidence(store: h.store, spend: spend), clock: clock)
        let coordinator = RunCoordinator(ledger: h.store, pool: PermitPool(permits: 8), clock: clock, plan: { _ in plan },
                                         logger: WorkflowHarness.quietLogger)
        let run = try #require(try h.store.recordFire(job: job.name, kind: job.kind.rawValue, trigger: .manual, requestedBy: nil,
                                                       scheduledAt: nil, status: .queued, skipReason: nil, summary: nil,
                                                       at: clock.wallMilliseconds(), resumes: nil))
        let status = await coordinator.execute(run: run, job: job)
        let readOnly = try RunStore(path: h.directory + "/flipsync.sqlite", mode: .readOnly)
        let latest = try #require(try ReadinessReport.latest(in: readOnly))
        #expect(latest.run.id == run.id)
        return (latest.run, status, latest.json)
    }

    static func decode(_ json: String) throws -> ReadinessReport {
        try JSONDecoder().decode(ReadinessReport.self, from: Data(json.utf8))
    }

    static let marketplaceChecks = ["amazon", "ebay", "shopify"].flatMap { name in
        ["reachable", "error_rate", "latency"].map { "marketplace.\(name).\($0)" }
    }

    @Test("with every marketplace reachable their checks pass, each with its evidence, and the report is what --json prints")
    func allReachable() async throws {
        try await WorkflowHarness.with(listings: 10) { h in
            let (run, status, json) = try await Self.scan(h)
            #expect(status == .succeeded, "\(run.error ?? "")")
            let report = try Self.decode(json)
            let checks = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.id, $0) })
            for id in Self.marketplaceChecks {
                let check = try #require(checks[id], "no check \(id)")
                #expect(check.passed, "\(id): \(check.measured) \(check.detail ?? "")")
            }
            for name in ["amazon", "ebay", "shopify"] {
                let probe = try #require(report.probes.first { $0.key == "marketplace:\(name)" })
                #expect(probe.error == nil)
                #expect(probe.evidence["reachable"] == .flag(true))
                #expect((probe.evidence["latency_ms"]?.integer ?? -1) >= 0)
                // The ping itself is a call in the spend ledger, answered.
                #expect((probe.evidence["calls"]?.integer ?? 0) >= 1)
                #expect(probe.evidence["calls.failed"] == .integer(0))
            }
            let database = try #require(report.probes.first { $0.key == "database" })
            #expect(database.evidence["operations"] == .integer(200))
            #expect(database.evidence["quick_check"] == .text("ok"))
            #expect(checks["database.integrity"]?.passed == true)
            // A fresh ledger has no runs or fires to judge: those checks fail and say so.
            #expect(checks["pool.success_rate"]?.passed == false)
            #expect(checks["pool.success_rate"]?.measured == "no samples")
            #expect(report.notes.contains("carriers: no carrier endpoint given to the scan, not probed"))
            #expect(run.summary == "readiness \(report.scoreText)/100 (\(report.checksPassed) of \(report.checksTotal) checks passed)")
            // The score is the weighted sum of the categories, from the checks listed.
            let weighted = report.categories.filter { $0.checks > 0 }.map { $0.weight * ($0.passed * 10_000 / $0.checks) }.reduce(0, +)
            #expect(report.scoreBasisPoints == weighted / report.categories.filter { $0.checks > 0 }.map(\.weight).reduce(0, +))
        }
    }

    @Test("a marketplace that answers 503 fails its checks with the evidence, and the score drops by exactly their share")
    func marketplaceDown() async throws {
        let healthy = try await WorkflowHarness.with(listings: 10) { h in try Self.decode(try await Self.scan(h).json) }
        try await WorkflowHarness.with(listings: 10) { h in
            h.sandbox.state.inject(SandboxFault(route: .orders, remaining: nil, status: 503, message: "eBay is down for the test"))
            let (run, status, json) = try await Self.scan(h)
            #expect(status == .succeeded, "an unreachable marketplace is evidence, not a failed scan: \(run.error ?? "")")
            let report = try Self.decode(json)
            let newlyFailed = Set(report.checks.filter { !$0.passed }.map(\.id)).subtracting(healthy.checks.filter { !$0.passed }.map(\.id))
            #expect(newlyFailed == ["marketplace.ebay.reachable", "marketplace.ebay.error_rate", "marketplace.ebay.latency"])
            let reachable = try #require(report.checks.first { $0.id == "marketplace.ebay.reachable" })
            #expect(reachable.measured == "unreachable")
            #expect(reachable.detail?.contains("503") == true, "\(reachable.detail ?? "")")
            let errorRate = try #require(report.checks.first { $0.id == "marketplace.ebay.error_rate" })
            #expect(errorRate.measured.hasPrefix("1 of 2 calls failed"), "\(errorRate.measured)")  // the token call answered, the read did not
            let ebay = try #require(report.probes.first { $0.key == "marketplace:ebay" })
            #expect(ebay.evidence["reachable"] == .flag(false))
            #expect(ebay.evidence["calls.failed"] == .integer(1))
            // The other channels are untouched.
            for id in Self.marketplaceChecks where !id.contains(".ebay.") {
                #expect(report.checks.first { $0.id == id }?.passed == true, "\(id)")
            }
            // Exactly the share of the three checks: API integration loses 2 of its checks, performance 1.
            var expected = 0
            for category in healthy.categories where category.checks > 0 {
                let lost = category.category == .apiIntegration ? 2 : (category.category == .performance ? 1 : 0)
                expected += category.weight * ((category.passed - lost) * 10_000 / category.checks)
            }
            #expect(report.scoreBasisPoints == expected / 100)
            #expect(report.scoreBasisPoints < healthy.scoreBasisPoints)
        }
    }

    @Test("a second scan judges the first: its run and tasks are the pool's evidence")
    func poolEvidenceFromTheLedger() async throws {
        try await WorkflowHarness.with(listings: 10) { h in
            let first = try await Self.scan(h)
            let firstTasks = try h.store.tasks(runID: first.run.id)
            let second = try Self.decode(try await Self.scan(h).json)
            let pool = try #require(second.probes.first { $0.key == "pool" })
            #expect(pool.evidence["runs"] == .integer(1))
            #expect(pool.evidence["succeeded"] == .integer(1))
            #expect(pool.evidence["tasks"] == .integer(Int64(firstTasks.count)))
            #expect(pool.evidence["tasks.retried"] == .integer(0))
            let checks = Dictionary(uniqueKeysWithValues: second.checks.map { ($0.id, $0) })
            #expect(checks["pool.success_rate"]?.passed == true)
            #expect(checks["pool.success_rate"]?.measured == "1 of 1 runs succeeded (100%)")
            #expect(checks["pool.retry_rate"]?.passed == true)
            // A manual run is no scheduled fire, and no business job has run.
            #expect(second.probes.first { $0.key == "scheduler" }?.evidence["fires"] == .integer(0))
            #expect(checks["workflow.recent_runs"]?.passed == false)
        }
    }

    @Test("configured carrier and LLM endpoints are probed with real calls and scored")
    func carriersAndLLMs() async throws {
        try await WorkflowHarness.with { h in
            let extra = WorkflowWorld.llmConfigText(baseURL: h.sandbox.baseURL) + """

                [carriers.easypost]
                base_url = "\(h.sandbox.baseURL)/easypost"
                credentials = { api_key = "easypost-api-key" }
                rate_limit = "1000/s"

                [prices.carrier]
                rate_quote = "0.005 USD"
                """
            let (run, _, json) = try await Self.scan(h, extraConfig: extra)
            let tasks = try h.store.tasks(runID: run.id)
            for key in ["carrier:easypost", "llm:ollama", "llm:openai"] {
                #expect(tasks.first { $0.key == key }?.status == .succeeded, "\(key): \(tasks.first { $0.key == key }?.error ?? "missing")")
            }
            #expect(h.sandbox.state.requestCounts["carrier.rates"] == 1, "one real quote")
            #expect(json.contains("carrier:easypost") && json.contains("llm:openai"))
            #expect(!json.contains("not probed"))
        }
    }
}
