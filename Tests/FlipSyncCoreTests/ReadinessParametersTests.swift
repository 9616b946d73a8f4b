import Testing
@testable import FlipSyncCore

@Suite("Readiness parameters", .timeLimit(.minutes(2)))
struct ReadinessParametersTests {
    static let head = "name = \"ready\"\nkind = \"readiness-scan\"\nschedule = \"daily\"\n[params]\n"

    func parameters(_ params: String) -> ReadinessScan.Parameters? {
        let (jobs, errors) = check(Self.head + params)
        #expect(errors.isEmpty, "\(errors)")
        guard case .readinessScan(let p)? = jobs.first?.parameters else { return nil }
        return p
    }

    @Test("no [params] gives every probe, the original weights and the documented thresholds")
    func defaults() throws {
        let p = try #require(parameters(""))
        #expect(p == ReadinessScan.Parameters())
        #expect(p.probes == ReadinessScan.Probe.allCases)
        #expect(p.weights == [.infrastructure: 15, .apiIntegration: 20, .agentArchitecture: 25, .performance: 20, .businessWorkflows: 20])
        #expect(p.maxTaskLatencyP95 == .seconds(1) && p.maxDatabaseLatency == TimeSpan(milliseconds: 100))
        #expect(p.window == TimeSpan(milliseconds: 86_400_000) && p.maxAPILatency == .seconds(2) && p.maxFireLateness == .seconds(10))
        #expect(p.maxMissedFires == 0 && p.minSuccessRate == Percent(partsPerMillion: 950_000))
        #expect(p.maxErrorRate == Percent(partsPerMillion: 50_000) && p.maxRetryRate == Percent(partsPerMillion: 100_000))
    }

    @Test("every threshold and weight is read from the job file")
    func configured() throws {
        let p = try #require(parameters("""
            probes = ["database", "pool"]
            window = "6h"
            max_api_latency = "750ms"
            max_fire_lateness = "30s"
            max_missed_fires = 2
            max_error_rate = "1.5%"
            max_retry_rate = "20%"
            [params.weights]
            infrastructure = 40
            api_integration = 0
            agent_architecture = 30
            performance = 30
            business_workflows = 0
            """))
        #expect(p.probes == [.database, .pool])
        #expect(p.window == TimeSpan(milliseconds: 6 * 3_600_000) && p.maxAPILatency == TimeSpan(milliseconds: 750))
        #expect(p.maxFireLateness == .seconds(30) && p.maxMissedFires == 2)
        #expect(p.maxErrorRate == Percent(partsPerMillion: 15_000) && p.maxRetryRate == Percent(partsPerMillion: 200_000))
        #expect(p.weights[.infrastructure] == 40 && p.weights[.apiIntegration] == 0)
    }

    @Test("an out-of-range threshold is an error at its line", arguments: [
        ("max_error_rate = \"101%\"", "max_error_rate"), ("window = \"10s\"", "window"), ("max_missed_fires = -1", "max_missed_fires"),
    ])
    func outOfRange(_ line: String, _ key: String) {
        let (_, errors) = check(Self.head + line)
        #expect(errors.count == 1 && errors.first?.hasPrefix("5: ") == true && errors.first?.contains(key) == true, "\(errors)")
    }
}
