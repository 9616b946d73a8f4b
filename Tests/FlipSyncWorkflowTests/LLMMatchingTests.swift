import FlipSyncCore
import FlipSyncSandbox
import FlipSyncStore
import Foundation
import Testing

/// `llm_matching`: title-only competitor offers judged by the local model first, escalated to
/// the paid one when unsure, cached in SQLite; savings measured from the spend ledger.
@Suite("LLM-assisted competitor matching, end to end", .timeLimit(.minutes(1)))
struct LLMMatchingTests {
    static let job = RepricingSweepTests.job("llm_matching = true\ndry_run = true", marketplaces: #"["ebay"]"#)

    @Test("title-only offers are judged once, escalated only when unsure, and answered from the cache on the next sweep")
    func judgedOnceThenCached() async throws {
        try await WorkflowHarness.with(listings: 40) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job], extraConfig: WorkflowWorld.llmConfigText(baseURL: h.sandbox.baseURL))
            let since = world.clock.wallMilliseconds()
            let (first, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(first.error ?? "")")
            let calls = try world.spend.history.calls(runID: first.id)
            let ollama = calls.filter { $0.call.provider == "ollama" }.count
            let openai = calls.filter { $0.call.provider == "openai" }.count
            #expect(ollama > 0, "the local model judges first")
            #expect(openai > 0 && openai <= ollama, "only unsure answers escalate, at most once each: \(openai) of \(ollama)")
            #expect(calls.filter { $0.call.provider == "openai" }.allSatisfy { $0.call.cost.micros > 0 })

            // The same sweep again: every judgement comes from the cache, no model is asked.
            let (second, secondStatus) = try await world.run("sweep")
            #expect(secondStatus == .succeeded)
            let again = try world.spend.history.calls(runID: second.id)
            #expect(!again.contains { ($0.call.provider == "ollama" || $0.call.provider == "openai") && !$0.call.servedFromCache })
            #expect(again.filter(\.call.servedFromCache).count == ollama, "one cache hit per judgement")

            // Savings, measured: what the calls cost against every judgement on the premium model, uncached.
            let savings = try h.store.llmSavings(since: since, premiumInputPerMillion: Money(micros: 150_000, currency: .usd),
                                                 premiumOutputPerMillion: Money(micros: 600_000, currency: .usd))
            #expect(savings.cacheHits == ollama)
            #expect(savings.modelCalls["ollama"] == ollama && savings.modelCalls["openai"] == openai)
            #expect(savings.actualMicros == calls.filter { $0.call.provider == "openai" }.reduce(0) { $0 + $1.call.cost.micros })
            #expect(savings.premiumMicros > savings.actualMicros)
        }
    }

    @Test("with llm_matching off, no model is asked and title-only offers are left out")
    func offMeansNoCalls() async throws {
        try await WorkflowHarness.with(listings: 20) { h in
            let job = Self.job.replacingOccurrences(of: "llm_matching = true", with: "llm_matching = false")
            let world = try WorkflowWorld.load(h, jobs: ["sweep": job], extraConfig: WorkflowWorld.llmConfigText(baseURL: h.sandbox.baseURL))
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded)
            #expect(!(try world.spend.history.calls(runID: run.id)).contains { $0.call.provider == "ollama" || $0.call.provider == "openai" })
            let decisions = try h.store.decisions(sweep: run.id)
            // Title-only offers could not count, so the keyword searches that find them are not
            // made: one GTIN search per distinct GTIN, and no title-only offer is even seen.
            #expect(decisions.allSatisfy { ($0.offersExcluded[.titleOnly] ?? 0) == 0 })
            let searches = h.sandbox.state.requestCounts[SandboxRoute.search.rawValue] ?? 0
            #expect(searches > 0 && searches <= Set(h.sandbox.state.listings.map(\.gtin)).count)
        }
    }
}
