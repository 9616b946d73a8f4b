/// The readiness scan: probes that measure the system, then a `score` wave that turns their
/// evidence into the report (`ReadinessScoring`).
///
/// First wave, one task per probe the job enables: `database`, one `marketplace:NAME` per
/// configured marketplace (set up or not), one `carrier:NAME` / `llm:NAME` per endpoint given,
/// `scheduler`, `pool`, `spend`. Each records its raw evidence as its result; a probe throws
/// only when it cannot measure at all (the ledger unreadable, say) — an endpoint that is down
/// is evidence, not a probe failure. Second wave: `score`, whose result is the report's JSON,
/// computed from the probes' recorded results, so a failed probe's checks score zero with its
/// error, and the same evidence always gives the same score.
public struct ReadinessScanPlan: WorkflowPlan {
    /// The key of the task whose result is the report.
    public static let scoreKey = "score"

    /// The job's `[params]`: the plan is built for one job's parameters.
    let parameters: ReadinessScan.Parameters
    let ledger: any RunLedger
    let database: any LedgerProbe
    let marketplaces: [MarketplaceName: any ReachabilityProbe]
    let unavailable: [MarketplaceName: String]
    let carriers: [String: any ReachabilityProbe]
    let llms: [String: any ReachabilityProbe]
    let spend: (any SpendEvidenceSource)?

    /// `marketplaces`: a ping per marketplace set up; `unavailable`: marketplaces configured but
    /// not set up, with the reason (they are probed, and fail with it). `spend`: the spend
    /// ledger; without it the error-rate and spend checks fail saying so.
    public init(parameters: ReadinessScan.Parameters, ledger: any RunLedger, database: any LedgerProbe,
                marketplaces: [MarketplaceName: any ReachabilityProbe],
                unavailable: [MarketplaceName: String] = [:], carriers: [String: any ReachabilityProbe] = [:],
                llms: [String: any ReachabilityProbe] = [:], spend: (any SpendEvidenceSource)?) {
        self.parameters = parameters
        self.ledger = ledger
        self.database = database
        self.marketplaces = marketplaces
        self.unavailable = unavailable
        self.carriers = carriers
        self.llms = llms
        self.spend = spend
    }

    /// The services' marketplaces, each pinged with `RecentOrdersPing`, and their carrier and
    /// LLM probes.
    public init(parameters: ReadinessScan.Parameters, ledger: any RunLedger, database: any LedgerProbe,
                services: WorkflowServices, spend: (any SpendEvidenceSource)?, clock: any SchedulerClock) {
        self.init(parameters: parameters, ledger: ledger, database: database,
                  marketplaces: services.marketplaces.mapValues { RecentOrdersPing(marketplace: $0, clock: clock) },
                  unavailable: services.unavailable, carriers: services.carrierProbes, llms: services.llmProbes, spend: spend)
    }

    var endpointPings: [String: any ReachabilityProbe] {
        var pings: [String: any ReachabilityProbe] = [:]
        for (name, ping) in marketplaces { pings["marketplace:\(name.rawValue)"] = ping }
        for (name, ping) in carriers { pings["carrier:\(name)"] = ping }
        for (name, ping) in llms { pings["llm:\(name)"] = ping }
        return pings
    }

    public func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        let enabled = parameters.probes
        var tasks: [PlannedTask] = []
        for probe in ReadinessScan.Probe.allCases where enabled.contains(probe) {
            switch probe {
            case .database: tasks.append(PlannedTask(key: "database", agent: "database-probe"))
            case .marketplaces:
                for name in Set(marketplaces.keys).union(unavailable.keys).sorted() {
                    tasks.append(PlannedTask(key: "marketplace:\(name.rawValue)", agent: "endpoint-probe"))
                }
            case .carriers:
                tasks += carriers.keys.sorted().map { PlannedTask(key: "carrier:\($0)", agent: "endpoint-probe") }
            case .llm:
                tasks += llms.keys.sorted().map { PlannedTask(key: "llm:\($0)", agent: "endpoint-probe") }
            case .scheduler: tasks.append(PlannedTask(key: "scheduler", agent: "scheduler-probe"))
            case .pool: tasks.append(PlannedTask(key: "pool", agent: "pool-probe"))
            case .spend: tasks.append(PlannedTask(key: "spend", agent: "spend-probe"))
            }
        }
        return tasks
    }

    public func followUp(after tasks: [TaskInfo], job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        tasks.contains { $0.key == Self.scoreKey } ? [] : [PlannedTask(key: Self.scoreKey, agent: "readiness-score")]
    }

    public func agent(named name: String) -> (any Agent)? {
        switch name {
        case "database-probe": return DatabaseProbe(database: database, operations: parameters.databaseOperations)
        case "endpoint-probe":
            return EndpointProbe(pings: endpointPings,
                                 unavailable: Dictionary(uniqueKeysWithValues: unavailable.map { ("marketplace:\($0.key.rawValue)", $0.value) }),
                                 spend: spend, window: parameters.window)
        case "scheduler-probe": return SchedulerProbe(ledger: ledger, window: parameters.window)
        case "pool-probe": return PoolProbe(ledger: ledger, window: parameters.window)
        case "spend-probe": return SpendProbe(spend: spend)
        case "readiness-score": return Score(ledger: ledger, parameters: parameters, notes: notes)
        default: return nil
        }
    }

    /// What the scan could not probe because nothing was configured for it.
    var notes: @Sendable (ReadinessScan.Parameters) -> [String] {
        let (noMarketplaces, noCarriers, noLLMs) = (marketplaces.isEmpty && unavailable.isEmpty, carriers.isEmpty, llms.isEmpty)
        return { p in
            var notes: [String] = []
            if p.probes.contains(.marketplaces), noMarketplaces { notes.append("marketplaces: none configured, nothing to probe") }
            if p.probes.contains(.carriers), noCarriers { notes.append("carriers: no carrier endpoint given to the scan, not probed") }
            if p.probes.contains(.llm), noLLMs { notes.append("llm: no LLM endpoint given to the scan, not probed") }
            return notes
        }
    }

    public func summarize(_ tasks: [TaskInfo]) -> String {
        if let report = tasks.first(where: { $0.key == Self.scoreKey && $0.status == .succeeded })?.result,
           let head = ReadinessReport.headline(json: report) {
            return "readiness \(ReadinessReport.points(head.scoreBasisPoints))/100 (\(head.passed) of \(head.total) checks passed)"
        }
        let failed = tasks.filter { $0.status != .succeeded }.map(\.key)
        return "no readiness report" + (failed.isEmpty ? "" : "; not finished: \(failed.joined(separator: ", "))")
    }

    /// Reads the probes' recorded results and computes the report.
    struct Score: Agent {
        let ledger: any RunLedger
        let parameters: ReadinessScan.Parameters
        let notes: @Sendable (ReadinessScan.Parameters) -> [String]
        var name: String { "readiness-score" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let p = parameters
            let probes = try ledger.tasks(runID: context.runID).filter { $0.key != ReadinessScanPlan.scoreKey }.map { t in
                guard t.status == .succeeded else {
                    return ProbeOutcome(key: t.key, evidence: nil, error: t.error ?? "ended \(t.status.rawValue)")
                }
                guard let evidence = t.result.flatMap(ReadinessEvidence.init(json:)) else {
                    return ProbeOutcome(key: t.key, evidence: nil, error: "its result is not readable evidence")
                }
                return ProbeOutcome(key: t.key, evidence: evidence)
            }
            let report = ReadinessScoring.report(probes, parameters: p, measuredAt: context.clock.wallMilliseconds(), notes: notes(p))
            return TaskOutput(result: TaskPayload(json: report.json),
                              summary: "readiness \(report.scoreText)/100 (\(report.checksPassed) of \(report.checksTotal) checks passed)")
        }
    }
}
