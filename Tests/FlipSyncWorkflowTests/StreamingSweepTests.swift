import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Testing

/// Issue 15 item 7: the sweep's waves are planned, written and run page by page, and its
/// listings are written page by page as eBay's inventory pages come; what stays in memory is
/// bounded by the page and the tasks in flight, not by the number of listings.
@Suite("Repricing sweep streamed in bounded memory", .timeLimit(.minutes(3)))
struct StreamingSweepTests {
    static let listings = 450
    static let page = 40

    static let job = """
        name = "sweep"
        kind = "repricing-sweep"
        schedule = "daily"
        timeout = "5m"
        concurrency = 16

        [params]
        marketplaces = ["ebay"]
        cost_source = "shopify"
        shipping_cost = "4.50 USD"
        dry_run = true
        research_days = 0
        """

    @Test("a sweep over 450 listings holds at most one page (40) and the tasks in flight (16) of a wave at once, decides every listing, and searches each GTIN once in the wave")
    func boundedWaves() async throws {
        // A task a GTIN: a wave of many tasks, paged.
        try await CapacityWorld.with(listings: Self.listings, seed: 11, sharedGTINPercent: 40, limits: .generous, ebaySearchTaskGTINs: 1,
                                     jobs: ["sweep": Self.job]) { w in
            let store = w.world.harness.store
            let gauge = WaveGauge()
            let plans = w.plans
            let coordinator = RunCoordinator(ledger: store, pool: PermitPool(permits: 64), clock: w.runClock,
                                             plan: { plans.plan(for: $0) }, logger: w.events.logger,
                                             wavePageSize: Self.page, gauge: gauge)
            let (run, status) = try await w.world.run("sweep", coordinator: coordinator)
            #expect(status == .succeeded, "\(run.error ?? "")")

            // The snapshot came in three inventory pages (200 a page), each written as read.
            let snapshot = try store.sweepListings(sweep: run.id, marketplace: .ebay)
            #expect(snapshot.count == Self.listings)
            #expect(try store.decisions(sweep: run.id).count == Self.listings, "every listing decided")

            // The decide wave is many pages; the coordinator never held more than a page and 16 in flight.
            let tasks = try store.tasks(runID: run.id)
            let decide = tasks.filter { $0.agent == "decide" }
            #expect(decide.count > 3 * (Self.page + 16), "the wave is larger than the bound, so the bound means something")
            #expect(decide.allSatisfy { $0.status == .succeeded })
            #expect(gauge.highWater > 0 && gauge.highWater <= Self.page + 16, "held at most \(gauge.highWater)")

            // One Browse search per distinct GTIN of the listings read, though the wave ran in pages.
            let reading = try snapshot.filter { try w.needsRead($0) }
            #expect(w.requests(.search) == Set(reading.compactMap(\.gtin)).count)
            #expect(w.requests(.search) < reading.count, "listings sharing a GTIN shared its search")

            // What followUp and summarize were handed: the decide wave condensed to its first task.
            let condensed = try store.tasks(runID: run.id, condensing: ["decide", "apply", "apply-bulk"])
            #expect(condensed.filter { $0.agent == "decide" }.map(\.key) == [decide[0].key])
            #expect(condensed.count == tasks.count - decide.count + 1)
            #expect(run.summary?.hasPrefix("\(Self.listings) listings decided") == true, "\(run.summary ?? "")")
            #expect(run.summary?.contains("checked \(Self.listings) of \(Self.listings) listings; 0 carried") == true, "\(run.summary ?? "")")
        }
    }

    @Test("a run's tasks read condensed keep the first succeeded task of each condensed agent, every failed one, and every task of the other agents")
    func condensedKeepsFailures() async throws {
        try await CapacityWorld.with(listings: 12, limits: .generous, jobs: ["sweep": Self.job]) { w in
            let store = w.world.harness.store
            guard let run = try store.recordFire(job: "sweep", kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                 status: .queued, skipReason: nil, summary: nil, at: 0, resumes: nil) else {
                Issue.record("no run recorded")
                return
            }
            try store.saveTasks([
                TaskInfo(runID: run.id, key: "listings:ebay", agent: "listings", status: .succeeded),
                TaskInfo(runID: run.id, key: "decide:ebay:A", agent: "decide", status: .succeeded),
                TaskInfo(runID: run.id, key: "decide:ebay:B", agent: "decide", status: .succeeded),
                TaskInfo(runID: run.id, key: "decide:ebay:C", agent: "decide", status: .failed, error: "boom"),
                TaskInfo(runID: run.id, key: "decide:ebay:D", agent: "decide", status: .succeeded),
            ])
            let condensed = try store.tasks(runID: run.id, condensing: ["decide"])
            #expect(condensed.map(\.key) == ["listings:ebay", "decide:ebay:A", "decide:ebay:C"])
            #expect(try store.tasks(runID: run.id, condensing: []).count == 5)
        }
    }
}
