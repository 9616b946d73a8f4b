/// Readiness scan: probes that measure the system and a weighted 0–100 score computed from
/// their evidence every time (`ReadinessScanPlan`, `ReadinessScoring`).
public enum ReadinessScan {
    public enum Probe: String, CaseIterable, Sendable, Hashable {
        case database, marketplaces, carriers, llm, scheduler, pool, spend
    }

    public enum Category: String, CaseIterable, Sendable, Hashable, Codable {
        case infrastructure
        case apiIntegration = "api_integration"
        case agentArchitecture = "agent_architecture"
        case performance
        case businessWorkflows = "business_workflows"

        /// The weights of the original assessment.
        public var defaultWeight: Int {
            switch self {
            case .infrastructure: return 15
            case .apiIntegration: return 20
            case .agentArchitecture: return 25
            case .performance: return 20
            case .businessWorkflows: return 20
            }
        }
    }

    /// A readiness-scan job's `[params]`: which probes run, the thresholds each check is held
    /// to, and the category weights (`[params.weights]`, adding up to 100).
    public struct Parameters: Sendable, Hashable {
        public var probes: [Probe]
        /// Timed single-row writes and reads of the database probe.
        public var databaseOperations: Int
        public var weights: [Category: Int]
        /// How far back the ledger-based probes look (runs, fires, tasks, call errors).
        public var window: TimeSpan
        public var maxTaskLatencyP95: TimeSpan
        /// For the p95 of database writes and of reads.
        public var maxDatabaseLatency: TimeSpan
        /// For one authenticated read call to a marketplace, carrier or LLM endpoint.
        public var maxAPILatency: TimeSpan
        /// For the p95 of scheduled fires' lateness.
        public var maxFireLateness: TimeSpan
        public var maxMissedFires: Int
        /// Runs that succeeded, of those finished (the pool, and each business job kind).
        public var minSuccessRate: Percent
        /// A provider's calls with no answer or a status of 400 or more, of all its calls.
        public var maxErrorRate: Percent
        /// Tasks that needed more than one attempt, of all tasks.
        public var maxRetryRate: Percent

        public init(probes: [Probe] = Probe.allCases, databaseOperations: Int = 200,
                    weights: [Category: Int] = Dictionary(uniqueKeysWithValues: Category.allCases.map { ($0, $0.defaultWeight) }),
                    window: TimeSpan = TimeSpan(milliseconds: 86_400_000), maxTaskLatencyP95: TimeSpan = .seconds(1),
                    maxDatabaseLatency: TimeSpan = TimeSpan(milliseconds: 100), maxAPILatency: TimeSpan = .seconds(2),
                    maxFireLateness: TimeSpan = .seconds(10), maxMissedFires: Int = 0,
                    minSuccessRate: Percent = Percent(partsPerMillion: 950_000),
                    maxErrorRate: Percent = Percent(partsPerMillion: 50_000),
                    maxRetryRate: Percent = Percent(partsPerMillion: 100_000)) {
            self.probes = probes
            self.databaseOperations = databaseOperations
            self.weights = weights
            self.window = window
            self.maxTaskLatencyP95 = maxTaskLatencyP95
            self.maxDatabaseLatency = maxDatabaseLatency
            self.maxAPILatency = maxAPILatency
            self.maxFireLateness = maxFireLateness
            self.maxMissedFires = maxMissedFires
            self.minSuccessRate = minSuccessRate
            self.maxErrorRate = maxErrorRate
            self.maxRetryRate = maxRetryRate
        }

        init?(reading r: inout TableReader) {
            var probes: [Probe] = []
            if let list = r.strings("probes") {
                for item in list.value {
                    guard let probe = Probe(rawValue: item.value) else {
                        r.error(item.line, Suggestion.unknown("probe", item.value, options: Probe.allCases.map(\.rawValue)))
                        continue
                    }
                    if !probes.contains(probe) { probes.append(probe) }
                }
            }
            let operations = r.integer("database_operations", in: 10...100_000)
            var weights = Dictionary(uniqueKeysWithValues: Category.allCases.map { ($0, $0.defaultWeight) })
            if var w = r.table("weights") {
                for category in Category.allCases {
                    if let value = w.integer(category.rawValue, in: 0...100) { weights[category] = value.value }
                }
                w.finish()
                let total = weights.values.reduce(0, +)
                if total != 100 { r.error(w.line, "[params.weights] must add up to 100, they add up to \(total)") }
            }
            let window = r.duration("window", in: TimeSpan(milliseconds: 60_000)...TimeSpan.seconds(90 * 86_400))
            let p95 = r.duration("max_task_latency_p95", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(3600))
            let db = r.duration("max_database_latency", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(60))
            let api = r.duration("max_api_latency", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(600))
            let lateness = r.duration("max_fire_lateness", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(86_400))
            let missed = r.integer("max_missed_fires", in: 0...1_000_000)
            let success = r.percent("min_success_rate", in: 0...1_000_000)
            let errors = r.percent("max_error_rate", in: 0...1_000_000)
            let retries = r.percent("max_retry_rate", in: 0...1_000_000)
            r.finish()
            if r.log.hasErrors { return nil }
            let defaults = Parameters()
            self.init(probes: probes.isEmpty ? Probe.allCases : probes,
                      databaseOperations: operations?.value ?? defaults.databaseOperations, weights: weights,
                      window: window?.value ?? defaults.window,
                      maxTaskLatencyP95: p95?.value ?? defaults.maxTaskLatencyP95,
                      maxDatabaseLatency: db?.value ?? defaults.maxDatabaseLatency,
                      maxAPILatency: api?.value ?? defaults.maxAPILatency,
                      maxFireLateness: lateness?.value ?? defaults.maxFireLateness,
                      maxMissedFires: missed?.value ?? defaults.maxMissedFires,
                      minSuccessRate: success?.value ?? defaults.minSuccessRate,
                      maxErrorRate: errors?.value ?? defaults.maxErrorRate,
                      maxRetryRate: retries?.value ?? defaults.maxRetryRate)
        }
    }
}
