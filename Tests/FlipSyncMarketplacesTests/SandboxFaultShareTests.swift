import FlipSyncCore
@testable import FlipSyncSandbox
import Testing

/// Faults injected on a share of a route's requests (`SandboxFault.percent`), as the reliability
/// harness uses them (issue 14, item 11: its polling fault driver injected 4% where it said 20%).
@Suite("Sandbox faults on a share of requests", .timeLimit(.minutes(1)))
struct SandboxFaultShareTests {
    static func state(seed: UInt64 = 5) -> SandboxState {
        SandboxState(catalog: SeededCatalog(seed: seed, listings: 4), credentials: .development, tokenLifetime: .seconds(7200),
                     clock: SystemSchedulerClock(), seed: seed)
    }

    @Test("a 20% fault hits about 20% of 2,000 requests, counted by route and kind, the same draws for the same seed")
    func shareIsWhatItSays() {
        func draws(_ state: SandboxState) -> [Bool] {
            state.inject(SandboxFault(route: .search, status: 503, percent: 20, kind: "503"))
            return (0..<2_000).map { _ in state.begin(.search) != nil }
        }
        let state = Self.state()
        let hits = draws(state)
        let applied = hits.filter { $0 }.count
        // Binomial(2000, 0.2): mean 400, standard deviation ~18; ±100 is over 5 deviations.
        #expect((300...500).contains(applied), "\(applied) of 2000")
        #expect(state.faultsApplied.byRoute == ["search": applied])
        #expect(state.faultsApplied.byKind == ["503": applied])
        #expect(state.requestCounts["search"] == 2_000)
        #expect(draws(Self.state()) == hits, "same seed, same requests: same faults")
        #expect(draws(Self.state(seed: 6)) != hits)
        // Other routes are untouched.
        #expect(state.begin(.offers) == nil)
    }

    @Test("a share fault with `remaining` applies that many times and is gone; a missed draw uses none up")
    func remainingCountsOnlyApplied() {
        let state = Self.state()
        state.inject(SandboxFault(route: .offers, remaining: 2, status: 429, retryAfterSeconds: 1, percent: 10, kind: "429"))
        var applied = 0
        for _ in 0..<1_000 where state.begin(.offers) != nil { applied += 1 }
        #expect(applied == 2)
        #expect(state.faultsApplied.byKind == ["429": 2])
    }

    @Test("the first of a route's faults that applies is used: a missed share fault lets the next one apply")
    func firstApplyingFaultWins() throws {
        let state = Self.state()
        state.inject(SandboxFault(route: .search, status: 500, percent: 0, kind: "never"))
        state.inject(SandboxFault(route: .search, remaining: 1, status: 503, kind: "always"))
        let fault = try #require(state.begin(.search))
        #expect(fault.status == 503)
        #expect(state.begin(.search) == nil)
        #expect(state.faultsApplied.byKind == ["always": 1])
    }
}
