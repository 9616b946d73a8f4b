import Testing
@testable import FlipSyncCore

/// Evidence under which every check passes with the default parameters.
enum HealthyEvidence {
    static let database = ProbeOutcome(key: "database", evidence: ReadinessEvidence([
        ("operations", .integer(200)), ("write_us.p95", .integer(900)), ("read_us.p95", .integer(80)), ("quick_check", .text("ok")),
    ]))
    static let ebay = ProbeOutcome(key: "marketplace:ebay", evidence: ReadinessEvidence([
        ("reachable", .flag(true)), ("latency_ms", .integer(120)), ("calls", .integer(40)), ("calls.failed", .integer(0)),
    ]))
    static let scheduler = ProbeOutcome(key: "scheduler", evidence: ReadinessEvidence([
        ("fires", .integer(24)), ("lateness_ms.p95", .integer(40)), ("missed", .integer(0)), ("skipped", .integer(0)),
    ]))
    static let pool = ProbeOutcome(key: "pool", evidence: ReadinessEvidence([
        ("runs", .integer(20)), ("succeeded", .integer(20)), ("tasks", .integer(400)), ("tasks.retried", .integer(3)),
        ("task_ms.p95", .integer(300)), ("runs.repricing-sweep", .integer(6)), ("succeeded.repricing-sweep", .integer(6)),
    ]))
    static let spend = ProbeOutcome(key: "spend", evidence: ReadinessEvidence([
        ("currency", .text("USD")), ("today_micros", .integer(1_200_000)), ("daily_limit_micros", .integer(5_000_000)),
        ("month_micros", .integer(9_000_000)), ("monthly_limit_micros", .none),
    ]))
    static let all = [database, ebay, scheduler, pool, spend]

    static func replacing(_ key: String, with entries: [(String, EvidenceValue)], in outcomes: [ProbeOutcome] = all) -> [ProbeOutcome] {
        outcomes.map { outcome in
            guard outcome.key == key, var evidence = outcome.evidence else { return outcome }
            for (name, value) in entries { evidence[name] = value }
            return ProbeOutcome(key: key, evidence: evidence)
        }
    }
}

@Suite("Readiness scoring", .timeLimit(.minutes(2)))
struct ReadinessScoringTests {
    let defaults = ReadinessScan.Parameters()

    func check(_ report: ReadinessReport, _ id: String) -> ReadinessCheck? { report.checks.first { $0.id == id } }

    @Test("healthy evidence passes every check and scores 100")
    func healthy() {
        let report = ReadinessScoring.report(HealthyEvidence.all, parameters: defaults, measuredAt: 0)
        #expect(report.checks.filter { !$0.passed }.map(\.id) == [])
        #expect(report.checksTotal == 14)
        #expect(report.categories.map(\.checks) == [2, 2, 2, 5, 3])
        #expect(report.scoreBasisPoints == 10_000)
        #expect(report.scoreText == "100.00")
        #expect(report.categories.map(\.shareBasisPoints) == [1500, 2000, 2500, 2000, 2000])
    }

    struct WeightCase: Sendable, CustomTestStringConvertible {
        var name: String
        var probes: [String]
        var failing: [String: [(String, EvidenceValue)]]
        var weights: [ReadinessScan.Category: Int]
        var shares: [Int]
        var score: Int
        var testDescription: String { name }
    }

    static let weightCases: [WeightCase] = [
        WeightCase(name: "default weights, integrity fails: infrastructure 1 of 2 checks", probes: ["database", "marketplace:ebay", "scheduler", "pool", "spend"],
                   failing: ["database": [("quick_check", .text("*** in database main ***"))]],
                   weights: [:], shares: [1500, 2000, 2500, 2000, 2000], score: 10_000 - 1500 / 2),
        WeightCase(name: "only the database probe: infrastructure and performance share 15:20", probes: ["database"],
                   failing: [:], weights: [:], shares: [4285, 0, 0, 5714, 0], score: 10_000),
        WeightCase(name: "only the database probe, integrity fails: only infrastructure's normalised share is lost", probes: ["database"],
                   failing: ["database": [("quick_check", .text("corrupt"))]], weights: [:], shares: [4285, 0, 0, 5714, 0],
                   score: 20 * 10_000 / 35),
        WeightCase(name: "configured weights: all on performance", probes: ["database", "marketplace:ebay", "scheduler", "pool", "spend"],
                   failing: ["pool": [("task_ms.p95", .integer(1001))]],
                   weights: [.infrastructure: 0, .apiIntegration: 0, .agentArchitecture: 0, .performance: 100, .businessWorkflows: 0],
                   shares: [0, 0, 0, 10_000, 0], score: 10_000 * 4 / 5),
    ]

    @Test("weights are normalised over the categories that have checks", arguments: weightCases)
    func weights(_ c: WeightCase) {
        var parameters = defaults
        for (category, weight) in c.weights { parameters.weights[category] = weight }
        var outcomes = HealthyEvidence.all.filter { c.probes.contains($0.key) }
        for (key, entries) in c.failing { outcomes = HealthyEvidence.replacing(key, with: entries, in: outcomes) }
        let report = ReadinessScoring.report(outcomes, parameters: parameters, measuredAt: 0)
        #expect(report.categories.map(\.shareBasisPoints) == c.shares)
        #expect(report.scoreBasisPoints == c.score)
    }

    struct BoundaryCase: Sendable, CustomTestStringConvertible {
        var check: String
        var probe: String
        var entries: [(String, EvidenceValue)]
        var passes: Bool
        var testDescription: String { "\(check) \(entries.map { "\($0.0)=\($0.1)" }.joined(separator: ",")) → \(passes ? "pass" : "fail")" }
    }

    static let boundaries: [BoundaryCase] = [
        BoundaryCase(check: "database.write_p95", probe: "database", entries: [("write_us.p95", .integer(100_000))], passes: true),
        BoundaryCase(check: "database.write_p95", probe: "database", entries: [("write_us.p95", .integer(100_001))], passes: false),
        BoundaryCase(check: "database.read_p95", probe: "database", entries: [("read_us.p95", .integer(100_001))], passes: false),
        BoundaryCase(check: "pool.task_latency_p95", probe: "pool", entries: [("task_ms.p95", .integer(1000))], passes: true),
        BoundaryCase(check: "pool.task_latency_p95", probe: "pool", entries: [("task_ms.p95", .integer(1001))], passes: false),
        BoundaryCase(check: "pool.success_rate", probe: "pool", entries: [("runs", .integer(20)), ("succeeded", .integer(19))], passes: true),
        BoundaryCase(check: "pool.success_rate", probe: "pool", entries: [("runs", .integer(20)), ("succeeded", .integer(18))], passes: false),
        BoundaryCase(check: "pool.success_rate", probe: "pool", entries: [("runs", .integer(0)), ("succeeded", .integer(0))], passes: false),
        BoundaryCase(check: "pool.retry_rate", probe: "pool", entries: [("tasks", .integer(10)), ("tasks.retried", .integer(1))], passes: true),
        BoundaryCase(check: "pool.retry_rate", probe: "pool", entries: [("tasks", .integer(10)), ("tasks.retried", .integer(2))], passes: false),
        BoundaryCase(check: "marketplace.ebay.error_rate", probe: "marketplace:ebay", entries: [("calls", .integer(20)), ("calls.failed", .integer(1))], passes: true),
        BoundaryCase(check: "marketplace.ebay.error_rate", probe: "marketplace:ebay", entries: [("calls", .integer(20)), ("calls.failed", .integer(2))], passes: false),
        BoundaryCase(check: "marketplace.ebay.latency", probe: "marketplace:ebay", entries: [("latency_ms", .integer(2000))], passes: true),
        BoundaryCase(check: "marketplace.ebay.latency", probe: "marketplace:ebay", entries: [("latency_ms", .integer(2001))], passes: false),
        BoundaryCase(check: "scheduler.lateness_p95", probe: "scheduler", entries: [("lateness_ms.p95", .integer(10_000))], passes: true),
        BoundaryCase(check: "scheduler.lateness_p95", probe: "scheduler", entries: [("lateness_ms.p95", .integer(10_001))], passes: false),
        BoundaryCase(check: "scheduler.missed_fires", probe: "scheduler", entries: [("missed", .integer(1))], passes: false),
        BoundaryCase(check: "spend.daily", probe: "spend", entries: [("today_micros", .integer(5_000_000))], passes: true),
        BoundaryCase(check: "spend.daily", probe: "spend", entries: [("today_micros", .integer(5_000_001))], passes: false),
        BoundaryCase(check: "spend.monthly", probe: "spend", entries: [("month_micros", .integer(999_000_000))], passes: true),
        BoundaryCase(check: "workflow.repricing-sweep.success_rate", probe: "pool",
                     entries: [("runs.repricing-sweep", .integer(20)), ("succeeded.repricing-sweep", .integer(18))], passes: false),
    ]

    @Test("each threshold passes at its limit and fails one past it", arguments: boundaries)
    func boundary(_ c: BoundaryCase) {
        let report = ReadinessScoring.report(HealthyEvidence.replacing(c.probe, with: c.entries), parameters: defaults, measuredAt: 0)
        #expect(check(report, c.check)?.passed == c.passes)
        let failing = c.passes ? nil : check(report, c.check)?.category
        #expect(report.scoreBasisPoints == Self.expectedScore(failingOneIn: failing))
    }

    /// The healthy report's checks per category, in `Category.allCases` order.
    static let checksPerCategory = [2, 2, 2, 5, 3]

    /// The default weights' score when one check of `category` fails (category scores round down, then the sum).
    static func expectedScore(failingOneIn category: ReadinessScan.Category?) -> Int {
        let weighted = zip(ReadinessScan.Category.allCases, checksPerCategory).map { c, n in
            c.defaultWeight * (c == category ? (n - 1) * 10_000 / n : 10_000)
        }
        return weighted.reduce(0, +) / 100
    }

    @Test("thresholds come from the parameters")
    func configuredThresholds() {
        var strict = defaults
        strict.maxDatabaseLatency = TimeSpan(milliseconds: 1)
        let report = ReadinessScoring.report(HealthyEvidence.all, parameters: strict, measuredAt: 0)
        #expect(check(report, "database.write_p95")?.passed == true)  // 900 µs ≤ 1 ms
        strict.maxDatabaseLatency = TimeSpan(milliseconds: 0)
        let stricter = ReadinessScoring.report(HealthyEvidence.all, parameters: strict, measuredAt: 0)
        #expect(check(stricter, "database.write_p95")?.passed == false)
        #expect(check(stricter, "database.write_p95")?.threshold == "≤ 0")
    }

    @Test("a probe that could not run fails every check it feeds, saying why")
    func failedProbe() {
        let outcomes = HealthyEvidence.all.map { $0.key == "pool" ? ProbeOutcome(key: "pool", evidence: nil, error: "run ledger: disk I/O error") : $0 }
        let report = ReadinessScoring.report(outcomes, parameters: defaults, measuredAt: 0)
        let pool = report.checks.filter { $0.probe == "pool" }
        #expect(pool.map(\.id) == ["pool.success_rate", "pool.retry_rate", "pool.task_latency_p95", "workflow.recent_runs"])
        #expect(pool.allSatisfy { !$0.passed && $0.measured == "not measured" && $0.detail == "the pool probe could not run: run ledger: disk I/O error" })
        #expect(report.probes.first { $0.key == "pool" }?.error == "run ledger: disk I/O error")
        // Agent architecture (both its checks) is lost, and 1 of 5 performance checks, and 1 of 3 business checks.
        #expect(report.scoreBasisPoints == (15 * 10_000 + 20 * 10_000 + 25 * 0 + 20 * (4 * 10_000 / 5) + 20 * (2 * 10_000 / 3)) / 100)
    }

    @Test("an unreachable marketplace fails its reachability and its latency, with the error as evidence")
    func unreachable() {
        let outcomes = HealthyEvidence.replacing("marketplace:ebay", with: [("reachable", .flag(false)), ("error", .text("HTTP 503"))])
        let report = ReadinessScoring.report(outcomes, parameters: defaults, measuredAt: 0)
        #expect(report.checks.filter { !$0.passed }.map(\.id) == ["marketplace.ebay.reachable", "marketplace.ebay.latency"])
        #expect(report.checks.filter { !$0.passed }.allSatisfy { $0.detail == "HTTP 503" })
        #expect(report.scoreBasisPoints == (15 * 10_000 + 20 * 5000 + 25 * 10_000 + 20 * 8000 + 20 * 10_000) / 100)
    }

    @Test("a check with nothing to measure fails and says so")
    func noSamples() {
        let report = ReadinessScoring.report(HealthyEvidence.replacing("scheduler", with: [("fires", .integer(0))]), parameters: defaults, measuredAt: 0)
        #expect(check(report, "scheduler.lateness_p95")?.passed == false)
        #expect(check(report, "scheduler.lateness_p95")?.detail == "no scheduled fires in the last 1d")
    }

    @Test("no business job run in the window fails the business check")
    func noBusinessRuns() {
        let outcomes = HealthyEvidence.replacing("pool", with: [("runs.repricing-sweep", .none), ("succeeded.repricing-sweep", .none)])
        let report = ReadinessScoring.report(outcomes, parameters: defaults, measuredAt: 0)
        #expect(check(report, "workflow.recent_runs")?.passed == false)
        #expect(check(report, "workflow.repricing-sweep.success_rate") == nil)
    }

    @Test("the same evidence always gives the same report, and its JSON carries every figure")
    func deterministic() throws {
        let outcomes = HealthyEvidence.replacing("marketplace:ebay", with: [("reachable", .flag(false)), ("error", .text("HTTP 503 \"down\""))])
        let first = ReadinessScoring.report(outcomes, parameters: defaults, measuredAt: 1_700_000_000_000)
        let second = ReadinessScoring.report(outcomes, parameters: defaults, measuredAt: 1_700_000_000_000)
        #expect(first == second)
        #expect(first.json == second.json)
        let head = try #require(ReadinessReport.headline(json: first.json))
        #expect(head.scoreBasisPoints == first.scoreBasisPoints && head.passed == first.checksPassed && head.total == 14)
        #expect(first.json.contains(#""detail":"HTTP 503 \"down\"""#))
    }

    @Test("evidence survives its JSON", arguments: [
        ReadinessEvidence([("a", .integer(-12)), ("b.c", .text("quote \" back\\slash\nline\u{01} µs")), ("d", .flag(false)), ("e", .none)]),
        ReadinessEvidence(),
    ])
    func evidenceRoundTrip(_ evidence: ReadinessEvidence) {
        #expect(ReadinessEvidence(json: evidence.json) == evidence)
    }

    @Test("text that is not flat evidence is refused", arguments: ["", "{", "{\"a\":[1]}", "{\"a\":1,}", "{\"a\":1} x", "[1]"])
    func notEvidence(_ text: String) {
        #expect(ReadinessEvidence(json: text) == nil)
    }
}
