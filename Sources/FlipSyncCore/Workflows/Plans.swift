/// What the readiness scan can ask of the run ledger.
public protocol LedgerProbe: Sendable {
    /// Times `count` single-row writes and reads; microseconds each.
    func timedRoundTrips(count: Int) throws -> (writes: [Int64], reads: [Int64])
    /// `PRAGMA quick_check`: "ok" when sound.
    func integrityCheck(full: Bool) throws(LedgerError) -> String
}

/// What the workflows act through: the configured channels and what they need besides.
/// Built once from the config (`ChannelDirectory` in FlipSyncMarketplaces) and shared by every run.
public struct WorkflowServices: Sendable {
    public var marketplaces: [MarketplaceName: any Marketplace]
    public var fees: [MarketplaceName: MarketplaceFees]
    public var costSources: [MarketplaceName: any UnitCostSource]
    /// Judges title-only competitor offers (`llm_matching`), when an LLM is configured.
    public var matcher: (any OfferMatcher)?
    /// Why a configured channel could not be set up (a missing credential, say), by channel:
    /// a job that needs it fails with this reason instead of a vaguer one.
    public var unavailable: [MarketplaceName: String]

    public init(marketplaces: [MarketplaceName: any Marketplace] = [:], fees: [MarketplaceName: MarketplaceFees] = [:],
                costSources: [MarketplaceName: any UnitCostSource] = [:], matcher: (any OfferMatcher)? = nil,
                unavailable: [MarketplaceName: String] = [:]) {
        self.matcher = matcher
        self.marketplaces = marketplaces
        self.fees = fees
        self.costSources = costSources
        self.unavailable = unavailable
    }
}

/// The plans this build has, one per job kind.
public struct WorkflowPlans: Sendable {
    let ledger: any RunLedger
    let probe: any LedgerProbe
    let repricing: any RepricingLedger
    let sync: any SyncLedger
    let services: WorkflowServices
    let clock: any SchedulerClock

    public init(ledger: any RunLedger, probe: any LedgerProbe, repricing: any RepricingLedger, sync: any SyncLedger,
                services: WorkflowServices, clock: any SchedulerClock) {
        self.sync = sync
        self.ledger = ledger
        self.probe = probe
        self.repricing = repricing
        self.services = services
        self.clock = clock
    }

    public func plan(for kind: JobKind) -> any WorkflowPlan {
        switch kind {
        case .readinessScan: return SelfCheckPlan(ledger: ledger, probe: probe)
        case .repricingSweep:
            return RepricingSweepPlan(marketplaces: services.marketplaces, fees: services.fees, costSources: services.costSources,
                                      ledger: repricing, clock: clock, matcher: services.matcher, unavailable: services.unavailable)
        case .marketplaceSync:
            return MarketplaceSyncPlan(marketplaces: services.marketplaces, ledger: sync, unavailable: services.unavailable)
        case .shippingArbitrage: return UnavailablePlan(kind: kind)
        }
    }
}

/// A job kind whose workflow this build does not have yet: it fails with the reason, never
/// with made-up results.
struct UnavailablePlan: WorkflowPlan {
    let kind: JobKind

    func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        [PlannedTask(key: "workflow", agent: "unavailable")]
    }

    func agent(named name: String) -> (any Agent)? { Unavailable(kind: kind) }

    struct Unavailable: Agent {
        let kind: JobKind
        var name: String { "unavailable" }
        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            throw TaskFailure.permanent("the \(kind.rawValue) workflow is not in this build yet")
        }
    }
}

/// The readiness scan's probes of the daemon itself: database round trips and integrity,
/// scheduler lateness, recent run success. Every figure is measured now, from real operations.
struct SelfCheckPlan: WorkflowPlan {
    let ledger: any RunLedger
    let probe: any LedgerProbe

    func tasks(for job: JobDefinition, runID: Int64) async throws -> [PlannedTask] {
        var operations = 200
        if case .readinessScan(let p) = job.parameters { operations = p.databaseOperations }
        return [
            PlannedTask(key: "database", agent: "database-probe", input: "\(operations)"),
            PlannedTask(key: "scheduler", agent: "scheduler-probe"),
            PlannedTask(key: "pool", agent: "pool-probe"),
        ]
    }

    func agent(named name: String) -> (any Agent)? {
        switch name {
        case "database-probe": return DatabaseProbe(probe: probe)
        case "scheduler-probe": return SchedulerProbe(ledger: ledger)
        case "pool-probe": return PoolProbe(ledger: ledger)
        default: return nil
        }
    }

    func summarize(_ tasks: [TaskInfo]) -> String {
        tasks.map { "\($0.key): \($0.status == .succeeded ? "ok" : ($0.error ?? $0.status.rawValue))" }.joined(separator: "; ")
    }

    struct DatabaseProbe: Agent {
        let probe: any LedgerProbe
        var name: String { "database-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let count = Int(task.input) ?? 200
            let (writes, reads) = try probe.timedRoundTrips(count: count)
            let check = try probe.integrityCheck(full: false)
            let w = Percentiles(writes), r = Percentiles(reads)
            let result = """
                {"operations":\(count),"write_us":{"p50":\(w.p50),"p95":\(w.p95),"max":\(w.max)},\
                "read_us":{"p50":\(r.p50),"p95":\(r.p95),"max":\(r.max)},"quick_check":\(JSON.string(check))}
                """
            guard check == "ok" else { throw TaskFailure.permanent("PRAGMA quick_check: \(check)") }
            return TaskOutput(result: result, summary: "write p95 \(w.p95)µs, read p95 \(r.p95)µs, quick_check ok")
        }
    }

    struct SchedulerProbe: Agent {
        let ledger: any RunLedger
        var name: String { "scheduler-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let runs = try ledger.recentRuns(job: nil, limit: 500)
            let lateness = runs.compactMap { run -> Int64? in
                guard run.trigger == .schedule, let due = run.scheduledAt, let started = run.startedAt else { return nil }
                return max(0, started - due * 1000)
            }
            let skipped = runs.filter { $0.status == .skipped }.count
            let missed = runs.filter { $0.skipReason == .missed }.count
            let p = Percentiles(lateness)
            let result = """
                {"fires":\(lateness.count),"lateness_ms":{"p50":\(p.p50),"p95":\(p.p95),"max":\(p.max)},\
                "skipped":\(skipped),"missed":\(missed)}
                """
            return TaskOutput(result: result, summary: "\(lateness.count) fires, lateness p95 \(p.p95)ms, \(missed) missed")
        }
    }

    struct PoolProbe: Agent {
        let ledger: any RunLedger
        var name: String { "pool-probe" }

        func perform(_ task: PlannedTask, context: AgentContext) async throws -> TaskOutput {
            let finished = try ledger.recentRuns(job: nil, limit: 200).filter {
                $0.status.isFinal && $0.status != .skipped && $0.id != context.runID
            }
            let ok = finished.filter { $0.status == .succeeded }.count
            let result = "{\"runs\":\(finished.count),\"succeeded\":\(ok)}"
            return TaskOutput(result: result, summary: "\(ok) of \(finished.count) recent runs succeeded")
        }
    }
}

/// Nearest-rank percentiles of a sample.
struct Percentiles {
    var p50: Int64 = 0, p95: Int64 = 0, max: Int64 = 0

    init(_ values: [Int64]) {
        guard !values.isEmpty else { return }
        let sorted = values.sorted()
        func rank(_ q: Double) -> Int64 { sorted[Swift.min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)] }
        p50 = rank(0.5)
        p95 = rank(0.95)
        max = sorted[sorted.count - 1]
    }
}

/// Just enough JSON writing for task results.
enum JSON {
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
