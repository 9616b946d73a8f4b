/// One check of the readiness report: what was measured, the threshold, pass or fail.
public struct ReadinessCheck: Sendable, Hashable, Codable {
    /// `database.write_p95`, `marketplace.ebay.reachable`, …
    public var id: String
    public var category: ReadinessScan.Category
    /// The key of the probe task whose evidence it reads.
    public var probe: String
    public var passed: Bool
    /// The measured figure as people read it: `812 µs`, `3 of 40 calls failed (7.5%)`.
    public var measured: String
    public var threshold: String
    /// Why it failed (an error, "no samples …") or a remark; nil when there is nothing to add.
    public var detail: String?
}

/// One category's part of the score.
public struct ReadinessCategoryScore: Sendable, Hashable, Codable {
    public var category: ReadinessScan.Category
    /// As configured in `[params.weights]`.
    public var weight: Int
    /// The weight normalised over the categories that had checks, in basis points of the score.
    public var shareBasisPoints: Int
    public var passed: Int
    public var checks: Int
    /// `passed × 10000 / checks`, 0 with no checks.
    public var scoreBasisPoints: Int

    enum CodingKeys: String, CodingKey {
        case category, weight, passed, checks
        case shareBasisPoints = "share_bp"
        case scoreBasisPoints = "score_bp"
    }
}

/// A probe's raw evidence as the report carries it.
public struct ReadinessProbeRecord: Sendable, Hashable, Codable {
    public var key: String
    /// Why the probe could not run; nil when it ran.
    public var error: String?
    public var evidence: ReadinessEvidence
}

/// The readiness scan's report: the score, each category, each check and each probe's raw
/// evidence. It is the `score` task's result (JSON), so it stays in the run ledger beside the
/// probes' own results.
public struct ReadinessReport: Sendable, Hashable, Codable {
    /// 0…10000: the score in hundredths of a point.
    public var scoreBasisPoints: Int
    public var checksPassed: Int
    public var checksTotal: Int
    /// Wall-clock milliseconds since the epoch.
    public var measuredAt: Int64
    public var categories: [ReadinessCategoryScore]
    public var checks: [ReadinessCheck]
    public var probes: [ReadinessProbeRecord]
    public var notes: [String]

    /// `87.50`
    public var scoreText: String { Self.points(scoreBasisPoints) }

    enum CodingKeys: String, CodingKey {
        case categories, checks, probes, notes
        case scoreBasisPoints = "score_bp"
        case checksPassed = "checks_passed"
        case checksTotal = "checks_total"
        case measuredAt = "measured_at_ms"
    }

    /// The report as JSON, keys as `CodingKeys` name them (plus `score`, the whole points).
    public var json: String {
        func object(_ fields: [(String, String)]) -> String {
            "{" + fields.map { JSONText.string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
        }
        func optional(_ s: String?) -> String { s.map(JSONText.string) ?? "null" }
        let categories = self.categories.map { c in
            object([("category", JSONText.string(c.category.rawValue)), ("weight", "\(c.weight)"), ("share_bp", "\(c.shareBasisPoints)"),
                    ("passed", "\(c.passed)"), ("checks", "\(c.checks)"), ("score_bp", "\(c.scoreBasisPoints)")])
        }
        let checks = self.checks.map { c in
            object([("id", JSONText.string(c.id)), ("category", JSONText.string(c.category.rawValue)), ("probe", JSONText.string(c.probe)),
                    ("passed", c.passed ? "true" : "false"), ("measured", JSONText.string(c.measured)),
                    ("threshold", JSONText.string(c.threshold)), ("detail", optional(c.detail))])
        }
        let probes = self.probes.map { p in
            object([("key", JSONText.string(p.key)), ("error", optional(p.error)), ("evidence", p.evidence.json)])
        }
        return object([
            ("score", "\(scoreBasisPoints / 100)"), ("score_bp", "\(scoreBasisPoints)"),
            ("checks_passed", "\(checksPassed)"), ("checks_total", "\(checksTotal)"), ("measured_at_ms", "\(measuredAt)"),
            ("categories", "[" + categories.joined(separator: ",") + "]"),
            ("checks", "[" + checks.joined(separator: ",") + "]"),
            ("probes", "[" + probes.joined(separator: ",") + "]"),
            ("notes", "[" + notes.map(JSONText.string).joined(separator: ",") + "]"),
        ])
    }

    /// The leading figures of a report's JSON (`score`, `score_bp`, `checks_passed`,
    /// `checks_total`), for a run's one-line summary; nil if it is not a report.
    public static func headline(json: String) -> (scoreBasisPoints: Int, passed: Int, total: Int)? {
        guard let head = ReadinessEvidence(leadingScalarsOf: json),
              let bp = head["score_bp"]?.integer, let passed = head["checks_passed"]?.integer,
              let total = head["checks_total"]?.integer else { return nil }
        return (Int(bp), Int(passed), Int(total))
    }

    /// Rows for a table of the categories (with a header row).
    public var categoryRows: [[String]] {
        [["CATEGORY", "WEIGHT", "SHARE", "CHECKS", "SCORE"]] + categories.map { c in
            [c.category.rawValue, "\(c.weight)", c.checks == 0 ? "-" : Self.points(c.shareBasisPoints),
             "\(c.passed)/\(c.checks)", c.checks == 0 ? "-" : Self.points(c.scoreBasisPoints)]
        }
    }

    /// Rows for a table of the checks (with a header row), failed checks first.
    public var checkRows: [[String]] {
        let ordered = checks.filter { !$0.passed } + checks.filter(\.passed)
        return [["CHECK", "CATEGORY", "RESULT", "MEASURED", "THRESHOLD", "DETAIL"]] + ordered.map { c in
            [c.id, c.category.rawValue, c.passed ? "pass" : "FAIL", c.measured, c.threshold, c.detail ?? ""]
        }
    }

    /// Basis points as points with two decimals: 8750 → `87.50`.
    static func points(_ basisPoints: Int) -> String {
        "\(basisPoints / 100).\(basisPoints % 100 < 10 ? "0" : "")\(basisPoints % 100)"
    }
}

extension ReadinessReport {
    /// The newest finished readiness-scan run that has a report, with the report's JSON as
    /// recorded; nil when no scan has produced one. Reads `ledger` only.
    public static func latest(in ledger: any RunLedger, scanning limit: Int = 500) throws -> (run: RunInfo, json: String)? {
        for run in try ledger.recentRuns(job: nil, limit: limit)
        where run.kind == JobKind.readinessScan.rawValue && run.status.isFinal {
            if let score = try ledger.tasks(runID: run.id).first(where: { $0.key == ReadinessScanPlan.scoreKey && $0.status == .succeeded }),
               let json = score.result {
                return (run, json)
            }
        }
        return nil
    }
}

extension ReadinessEvidence: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes an object of scalars; the order of its keys is not kept.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        self.init(try container.allKeys.sorted { $0.stringValue < $1.stringValue }.map { key in
            (key.stringValue, try container.decode(EvidenceValue.self, forKey: key))
        })
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for entry in entries { try container.encode(entry.value, forKey: Key(stringValue: entry.name)) }
    }
}
