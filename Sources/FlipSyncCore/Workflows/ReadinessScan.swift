/// Readiness scan: probes that measure the system and a weighted 0–100 score computed from
/// their evidence every time.
public enum ReadinessScan {
    public enum Probe: String, CaseIterable, Sendable, Hashable {
        case database, marketplaces, carriers, llm, scheduler, pool, spend
    }

    public enum Category: String, CaseIterable, Sendable, Hashable {
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

    public struct Parameters: Sendable, Hashable {
        public var probes: [Probe]
        public var databaseOperations: Int
        public var weights: [Category: Int]
        public var maxTaskLatencyP95: TimeSpan
        public var maxDatabaseLatency: TimeSpan
        public var minSuccessRate: Percent

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
            let p95 = r.duration("max_task_latency_p95", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(3600))
            let db = r.duration("max_database_latency", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(60))
            let success = r.percent("min_success_rate", in: 0...1_000_000)
            r.finish()
            if r.log.hasErrors { return nil }
            self.probes = probes.isEmpty ? Probe.allCases : probes
            self.databaseOperations = operations?.value ?? 200
            self.weights = weights
            self.maxTaskLatencyP95 = p95?.value ?? .seconds(1)
            self.maxDatabaseLatency = db?.value ?? TimeSpan(milliseconds: 100)
            self.minSuccessRate = success?.value ?? Percent(partsPerMillion: 950_000)
        }
    }
}
