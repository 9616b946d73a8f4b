/// What one probe task came back with: its evidence, or why it could not run.
public struct ProbeOutcome: Sendable, Hashable {
    /// The probe task's key: `database`, `scheduler`, `pool`, `spend`, `marketplace:NAME`,
    /// `carrier:NAME`, `llm:NAME`.
    public var key: String
    public var evidence: ReadinessEvidence?
    /// Set when the probe could not run (its task failed); every check it feeds then fails with it.
    public var error: String?

    public init(key: String, evidence: ReadinessEvidence?, error: String? = nil) {
        self.key = key
        self.evidence = evidence
        self.error = error
    }
}

/// Turns probes' evidence into the readiness report: every check held to its threshold from
/// the job's `[params]`, each category scored, and the 0–100 score from the weights.
///
/// Pure and in integers, so the same evidence and parameters always give the same report:
/// - a check passes or fails (no partial credit); a check with nothing to measure fails and
///   says so; every check of a probe that could not run fails with the probe's error;
/// - a category scores `passed × 10000 / checks` basis points (rounded down);
/// - categories with no checks at all (their probes not enabled) are left out and the weights
///   of the others normalised: the score is `Σ weight × category / Σ weight` basis points
///   (rounded down), shown as a number from 0 to 100 with two decimals.
public enum ReadinessScoring {
    public static func report(_ probes: [ProbeOutcome], parameters: ReadinessScan.Parameters, measuredAt: Int64,
                              notes: [String] = []) -> ReadinessReport {
        var checks: [ReadinessCheck] = []
        for probe in probes {
            for rule in rules(for: probe.key, parameters: parameters, evidence: probe.evidence) {
                let verdict: Verdict
                if let evidence = probe.evidence {
                    verdict = rule.evaluate(evidence)
                } else {
                    verdict = Verdict(false, "not measured", "the \(probe.key) probe could not run: \(probe.error ?? "no result")")
                }
                checks.append(ReadinessCheck(id: rule.id, category: rule.category, probe: probe.key, passed: verdict.passed,
                                             measured: verdict.measured, threshold: rule.threshold, detail: verdict.detail))
            }
        }
        var notes = notes
        var categories: [ReadinessCategoryScore] = []
        var totalWeight = 0
        for category in ReadinessScan.Category.allCases {
            let mine = checks.filter { $0.category == category }
            let passed = mine.filter(\.passed).count
            let weight = max(0, parameters.weights[category] ?? 0)
            if mine.isEmpty {
                notes.append("\(category.rawValue): no checks ran, so its weight \(weight) is left out and the others normalised")
            } else {
                totalWeight += weight
            }
            categories.append(ReadinessCategoryScore(category: category, weight: weight, shareBasisPoints: 0, passed: passed,
                                                     checks: mine.count,
                                                     scoreBasisPoints: mine.isEmpty ? 0 : passed * 10_000 / mine.count))
        }
        var weighted = 0
        for index in categories.indices where categories[index].checks > 0 && totalWeight > 0 {
            categories[index].shareBasisPoints = categories[index].weight * 10_000 / totalWeight
            weighted += categories[index].weight * categories[index].scoreBasisPoints
        }
        let score = totalWeight == 0 ? 0 : weighted / totalWeight
        let records = probes.map { ReadinessProbeRecord(key: $0.key, error: $0.error, evidence: $0.evidence ?? ReadinessEvidence()) }
        return ReadinessReport(scoreBasisPoints: score, checksPassed: checks.filter(\.passed).count, checksTotal: checks.count,
                               measuredAt: measuredAt, categories: categories, checks: checks, probes: records, notes: notes)
    }

    /// The business job kinds whose recent runs are checked.
    static let businessKinds = JobKind.allCases.filter { $0 != .readinessScan }

    struct Verdict {
        var passed: Bool
        var measured: String
        var detail: String?

        init(_ passed: Bool, _ measured: String, _ detail: String? = nil) {
            self.passed = passed
            self.measured = measured
            self.detail = detail
        }
    }

    struct Rule {
        var id: String
        var category: ReadinessScan.Category
        var threshold: String
        var evaluate: (ReadinessEvidence) -> Verdict
    }

    /// The checks a probe feeds. `evidence` only decides which business job kinds have runs.
    static func rules(for key: String, parameters p: ReadinessScan.Parameters, evidence: ReadinessEvidence?) -> [Rule] {
        let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts[0], parts.count == 2 ? parts[1] : nil) {
        case ("database", nil):
            let limitMicros = p.maxDatabaseLatency.milliseconds * 1000
            return [
                Rule(id: "database.integrity", category: .infrastructure, threshold: "ok") { e in
                    let result = e["quick_check"]?.text
                    return Verdict(result == "ok", "PRAGMA quick_check: \(result ?? "no answer")")
                },
                Rule(id: "database.write_p95", category: .performance, threshold: "≤ \(p.maxDatabaseLatency)") { e in
                    atMost(e["write_us.p95"]?.integer, limitMicros, unit: "µs", samples: e["operations"]?.integer, nothing: "no writes timed")
                },
                Rule(id: "database.read_p95", category: .performance, threshold: "≤ \(p.maxDatabaseLatency)") { e in
                    atMost(e["read_us.p95"]?.integer, limitMicros, unit: "µs", samples: e["operations"]?.integer, nothing: "no reads timed")
                },
            ]
        case ("marketplace", let name?), ("carrier", let name?), ("llm", let name?):
            let prefix = "\(parts[0]).\(name)"
            var rules = [
                Rule(id: "\(prefix).reachable", category: .apiIntegration, threshold: "a token and one read call succeed") { e in
                    e["reachable"]?.flag == true ? Verdict(true, "reachable")
                                                 : Verdict(false, "unreachable", e["error"]?.text ?? "no answer")
                },
                Rule(id: "\(prefix).latency", category: .performance, threshold: "≤ \(p.maxAPILatency)") { e in
                    guard e["reachable"]?.flag == true else { return Verdict(false, "no successful call", e["error"]?.text) }
                    return atMost(e["latency_ms"]?.integer, p.maxAPILatency.milliseconds, unit: "ms", samples: 1, nothing: "")
                },
            ]
            if parts[0] == "marketplace" {
                rules.insert(Rule(id: "\(prefix).error_rate", category: .apiIntegration,
                                  threshold: "≤ \(p.maxErrorRate) of calls in \(p.window)") { e in
                    if let error = e["calls.error"]?.text { return Verdict(false, "not measured", error) }
                    return rate(e["calls.failed"]?.integer, of: e["calls"]?.integer, atMost: p.maxErrorRate, what: "calls failed")
                }, at: 1)
            }
            return rules
        case ("scheduler", nil):
            return [
                Rule(id: "scheduler.missed_fires", category: .infrastructure, threshold: "≤ \(p.maxMissedFires) in \(p.window)") { e in
                    atMost(e["missed"]?.integer, Int64(p.maxMissedFires), unit: "missed", samples: 1, nothing: "")
                },
                Rule(id: "scheduler.lateness_p95", category: .performance, threshold: "≤ \(p.maxFireLateness)") { e in
                    atMost(e["lateness_ms.p95"]?.integer, p.maxFireLateness.milliseconds, unit: "ms", samples: e["fires"]?.integer,
                           nothing: "no scheduled fires in the last \(p.window)")
                },
            ]
        case ("pool", nil):
            var rules = [
                Rule(id: "pool.success_rate", category: .agentArchitecture, threshold: "≥ \(p.minSuccessRate) of runs") { e in
                    rate(e["succeeded"]?.integer, of: e["runs"]?.integer, atLeast: p.minSuccessRate, what: "runs succeeded")
                },
                Rule(id: "pool.retry_rate", category: .agentArchitecture, threshold: "≤ \(p.maxRetryRate) of tasks") { e in
                    rate(e["tasks.retried"]?.integer, of: e["tasks"]?.integer, atMost: p.maxRetryRate, what: "tasks retried")
                },
                Rule(id: "pool.task_latency_p95", category: .performance, threshold: "≤ \(p.maxTaskLatencyP95)") { e in
                    atMost(e["task_ms.p95"]?.integer, p.maxTaskLatencyP95.milliseconds, unit: "ms", samples: e["tasks"]?.integer,
                           nothing: "no finished tasks in the last \(p.window)")
                },
            ]
            let ran = businessKinds.filter { (evidence?["runs.\($0.rawValue)"]?.integer ?? 0) > 0 }
            for kind in ran {
                rules.append(Rule(id: "workflow.\(kind.rawValue).success_rate", category: .businessWorkflows,
                                  threshold: "≥ \(p.minSuccessRate) of runs") { e in
                    rate(e["succeeded.\(kind.rawValue)"]?.integer, of: e["runs.\(kind.rawValue)"]?.integer, atLeast: p.minSuccessRate,
                         what: "runs succeeded")
                })
            }
            if ran.isEmpty {
                rules.append(Rule(id: "workflow.recent_runs", category: .businessWorkflows, threshold: "a business job ran") { _ in
                    Verdict(false, "0 runs", "no \(businessKinds.map(\.rawValue).joined(separator: ", ")) run finished in the last \(p.window)")
                })
            }
            return rules
        case ("spend", nil):
            return [("daily", "today"), ("monthly", "month")].map { period, field in
                Rule(id: "spend.\(period)", category: .businessWorkflows, threshold: "≤ the \(period) budget") { e in
                    guard let spent = e["\(field)_micros"]?.integer, let code = e["currency"]?.text else {
                        return Verdict(false, "not measured", "no \(field)'s spend in the evidence")
                    }
                    let money = { (micros: Int64) in Currency(code: code).map { "\(Money(micros: micros, currency: $0))" } ?? "\(micros) µ\(code)" }
                    guard let limit = e["\(period)_limit_micros"]?.integer else {
                        return Verdict(true, money(spent), "no \(period) budget is set")
                    }
                    return Verdict(spent <= limit, "\(money(spent)) of \(money(limit))")
                }
            }
        default:
            return []
        }
    }

    /// `value ≤ limit`; fails with `nothing` when there were no samples.
    static func atMost(_ value: Int64?, _ limit: Int64, unit: String, samples: Int64?, nothing: String) -> Verdict {
        guard (samples ?? 0) > 0 else { return Verdict(false, "no samples", nothing) }
        guard let value else { return Verdict(false, "not measured", "the evidence has no figure") }
        return Verdict(value <= limit, "\(value) \(unit)")
    }

    /// `part / whole` against a share, compared exactly (`part × 10⁶` against `share × whole`).
    static func rate(_ part: Int64?, of whole: Int64?, atLeast: Percent? = nil, atMost: Percent? = nil, what: String) -> Verdict {
        guard let whole, whole > 0 else { return Verdict(false, "no samples", "nothing to count in the window") }
        guard let part else { return Verdict(false, "not measured", "the evidence has no figure") }
        let scaled = Int128(part) * 1_000_000
        let share = Percent(partsPerMillion: Int64(scaled / Int128(whole)))
        var passed = true
        if let atLeast { passed = passed && scaled >= Int128(atLeast.partsPerMillion) * Int128(whole) }
        if let atMost { passed = passed && scaled <= Int128(atMost.partsPerMillion) * Int128(whole) }
        return Verdict(passed, "\(part) of \(whole) \(what) (\(share))")
    }
}
