import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// The sweep sized from what its job has left: the real sandbox (production-equivalent eBay
/// quotas, shrunk so a test can run out), real SQLite, the quota ledger, all on one manual clock.
struct CapacityWorld: Sendable {
    let world: WorkflowWorld
    let quota: QuotaStore
    let events: EventLog
    let clock: ManualClock
    /// What the runs use (`clock`, unless a test loads a world on another).
    let runClock: any SchedulerClock

    static let browse = QuotaKey(provider: "ebay", api: "browse")
    static let getItems = QuotaKey(provider: "ebay", api: "browse_get_items")

    /// 2026-06-10 18:00 UTC is 11:00 in Los Angeles; eBay's day ends at 07:00 UTC.
    static let start = QuotaTests.at(2026, 6, 10, 18)

    static func with(listings: Int = 40, seed: UInt64 = 11, sharedGTINPercent: Int = 0, limits: SandboxLimits, extraConfig: String = "",
                     ebayRate: (requests: Int, burst: Int)? = nil, ebayMarketplaceID: String? = nil, ebayRefreshTaskListings: Int? = nil, ebaySearchTaskGTINs: Int? = nil,
                     jobs: [String: String], _ body: @Sendable (CapacityWorld) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "flipsync-capacity-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock(start)
        var configuration = SandboxConfiguration(port: 0, seed: seed, listings: listings)
        configuration.limits = limits
        configuration.sharedGTINPercent = sharedGTINPercent
        let sandbox = try await SandboxServer.start(configuration, clock: clock, logger: WorkflowHarness.quietLogger)
        do {
            let harness = WorkflowHarness(sandbox: sandbox, store: try RunStore(path: directory + "/flipsync.sqlite"), directory: directory)
            try await body(try load(harness, clock: clock, extraConfig: extraConfig, jobs: jobs, ebayRate: ebayRate, ebayMarketplaceID: ebayMarketplaceID,
                                    ebayRefreshTaskListings: ebayRefreshTaskListings, ebaySearchTaskGTINs: ebaySearchTaskGTINs))
            await sandbox.stop()
        } catch {
            await sandbox.stop()
            throw error
        }
    }

    /// The daemon's assembly over `harness`: config and jobs loaded from files, the quota ledger
    /// with the config's limits and reserves, the channels' requests counted by it, and plans
    /// given the ledger and the competitor memory (as `Runtime.open` does).
    static func load(_ harness: WorkflowHarness, clock: ManualClock, runClock: (any SchedulerClock)? = nil, extraConfig: String,
                     jobs: [String: String], offerMemory: Bool = true, ebayRate: (requests: Int, burst: Int)? = nil,
                     ebayMarketplaceID: String? = nil, ebayRefreshTaskListings: Int? = nil, ebaySearchTaskGTINs: Int? = nil) throws -> CapacityWorld {
        let clock0 = clock
        let clock = runClock ?? clock0
        let base = try WorkflowWorld.load(harness, jobs: jobs, extraConfig: extraConfig, clock: clock)
        // eBay's token bucket as production.example.toml has it (`rate_limit = "5/s"`, `burst = 10`), not the harness's 1000/s.
        var config = base.config
        if let ebayRate {
            config.marketplaces[.ebay]?.rateLimit.requests = ebayRate.requests
            config.marketplaces[.ebay]?.rateLimit.per = .seconds(1)
            config.marketplaces[.ebay]?.rateLimit.burst = ebayRate.burst
        }
        // Another eBay site than the sandbox's offers (EBAY_US): no SKU has a published offer there.
        if let ebayMarketplaceID { config.marketplaces[.ebay]?.marketplaceID = ebayMarketplaceID }
        if let ebayRefreshTaskListings { config.marketplaces[.ebay]?.refreshTaskListings = ebayRefreshTaskListings }
        if let ebaySearchTaskGTINs { config.marketplaces[.ebay]?.searchTaskGTINs = ebaySearchTaskGTINs }
        let quota = QuotaStore(store: harness.store, policy: QuotaPolicy(config: config, jobs: base.catalog.jobs), clock: clock)
        let values = harness.sandbox.developmentCredentials(for: config)
        let services = ChannelFactory.services(
            config: config,
            secret: { name in
                guard let value = values[name] else { throw WorkflowWorld.LoadError(diagnostics: ["no development value for \(name)"]) }
                return SecretText(value)
            },
            transport: URLSessionTransport(allowList: ChannelFactory.allowList(config)), recorder: base.spend,
            rateLimiters: RateLimiters(clock: clock), clock: clock, matchCache: harness.store, quota: quota,
            offerMemory: offerMemory ? harness.store : nil, logger: WorkflowHarness.quietLogger)
        let world = WorkflowWorld(harness: harness, config: config, catalog: base.catalog, services: services, spend: base.spend, clock: clock)
        return CapacityWorld(world: world, quota: quota, events: EventLog(), clock: clock0, runClock: clock)
    }

    var plans: WorkflowPlans {
        let h = world.harness
        return WorkflowPlans(ledger: h.store, probe: h.store, repricing: h.store, sync: SyncStore(store: h.store), shipping: h.store,
                             spend: SpendEvidence(store: h.store, spend: world.spend), services: world.services, clock: runClock,
                             quota: quota, competitors: h.store)
    }

    /// Runs `job` while moving the manual clock to each wake-up the run waits for (a rate
    /// limiter's), never past what it waits for: the run's own timeout is one more sleeper, so
    /// the clock moves only while something else sleeps too, and the timeout fires only if the
    /// waits add up to it.
    func runPumping(_ job: String) async throws -> (run: RunInfo, status: RunStatus) {
        let clock = self.clock
        let pump = Task {
            while !Task.isCancelled {
                await clock.waitForSleepers(2)
                if Task.isCancelled { return }
                if let next = clock.nextWakeWallMilliseconds { clock.advance(byMilliseconds: max(1, next - clock.wallMilliseconds())) }
            }
        }
        defer { pump.cancel() }
        return try await run(job)
    }

    func run(_ job: String) async throws -> (run: RunInfo, status: RunStatus) {
        let plans = self.plans
        let coordinator = RunCoordinator(ledger: world.harness.store, pool: PermitPool(permits: 64), clock: runClock,
                                         plan: { plans.plan(for: $0) }, logger: events.logger)
        return try await world.run(job, coordinator: coordinator)
    }

    /// The sandbox's count of requests to a route (every one, refused or not).
    func requests(_ route: SandboxRoute) -> Int { world.harness.sandbox.state.requestCounts[route.rawValue] ?? 0 }

    /// What the sweep reads competition for: a listing with a known cost and stock.
    func needsRead(_ listing: MarketplaceListing) throws -> Bool {
        try world.harness.store.unitCost(sku: listing.sku) != nil && listing.quantity > 0
    }

    static func job(_ extra: String = "", marketplaces: String = #"["ebay"]"#, timeout: String = "5m") -> String {
        """
        name = "sweep"
        kind = "repricing-sweep"
        schedule = "daily"
        timeout = "\(timeout)"
        concurrency = 16

        [params]
        marketplaces = \(marketplaces)
        cost_source = "shopify"
        shipping_cost = "4.50 USD"
        dry_run = true
        \(extra)
        """
    }

    static let syncJob = """
        name = "hourly-sync"
        kind = "marketplace-sync"
        schedule = "hourly"

        [params]
        marketplaces = ["ebay", "shopify"]
        """

    /// Production limits with eBay's Browse search quota shrunk to `browse` (and getItems' to `getItems`).
    static func production(browse: Int, getItems: Int = 5_000) -> SandboxLimits {
        var limits = SandboxLimits.production
        limits.routes[.search]?.dailyQuota = browse
        limits.routes[.getItems]?.dailyQuota = getItems
        return limits
    }

    /// The same daily limits in FlipSync's config.
    static func quotaConfig(browse: Int, getItems: Int = 5_000) -> String {
        "\n[marketplaces.ebay.daily_quota]\nbrowse = \(browse)\nbrowse_get_items = \(getItems)\n"
    }
}

@Suite("Repricing sweep sized from the quota and the timeout", .timeLimit(.minutes(3)))
struct SweepCapacityTests {
    /// The oracle: in coverage order (here never checked, so by SKU), listings are taken while
    /// the distinct GTIN searches of those needing a read fit `calls`; after the first that does
    /// not fit, only listings needing no read are taken. Every sandbox listing has its own GTIN.
    static func expected(_ listings: [MarketplaceListing], calls: Int, needsRead: (MarketplaceListing) throws -> Bool) rethrows -> Set<String> {
        var left = calls, full = false
        var taken: Set<String> = []
        for listing in listings.sorted(by: { $0.sku < $1.sku }) {
            if try needsRead(listing) {
                if full || left == 0 { full = true; continue }
                left -= 1
            }
            taken.insert(listing.sku)
        }
        return taken
    }

    @Test("more GTINs than Browse calls left: exactly the listings whose searches fit are decided, no call goes past the quota, the summary names the bound; the next Pacific day takes the carried ones")
    func quotaBoundsTheSweep() async throws {
        let q = 10
        try await CapacityWorld.with(limits: CapacityWorld.production(browse: q), extraConfig: CapacityWorld.quotaConfig(browse: q),
                                     jobs: ["sweep": CapacityWorld.job()]) { w in
            let store = w.world.harness.store
            let (run, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let snapshot = try store.sweepListings(sweep: run.id, marketplace: .ebay)
            let reading = try snapshot.filter { try w.needsRead($0) }
            try #require(reading.count > 2 * q, "the catalog must have more GTINs to search than two days' calls")
            let decided = Set(try store.decisions(sweep: run.id).map(\.sku))
            #expect(decided == (try Self.expected(snapshot, calls: q, needsRead: w.needsRead)))
            #expect(try snapshot.filter { decided.contains($0.sku) }.filter { try w.needsRead($0) }.count == q)
            // Exactly q searches reached the sandbox, each answered (the sandbox's quota is q: one more would be a 429).
            #expect(w.requests(.search) == q)
            #expect(w.quota.usage().first { $0.key == CapacityWorld.browse }?.used == Int64(q))
            #expect(w.quota.usage().first { $0.key == CapacityWorld.browse }?.exhaustedUntil == nil)
            let carried = snapshot.count - decided.count
            #expect(run.summary?.contains("checked \(decided.count) of \(snapshot.count) listings; \(carried) carried to the next run") == true,
                    "\(run.summary ?? "")")
            #expect(run.summary?.hasSuffix("; limited by ebay/browse quota (\(q) calls left)") == true, "\(run.summary ?? "")")
            let plan = try #require(w.events.named("sweep-plan").first)
            #expect(plan["limited_by"] == "ebay/browse quota (\(q) calls left)" && plan["calls_planned.ebay/browse"] == "\(q)"
                    && plan["calls_left.ebay/browse"] == "\(q)" && plan["selected"] == "\(decided.count)", "\(plan)")

            // Same Pacific day: nothing left, nothing searched, nothing past the quota.
            w.clock.advance(bySeconds: 3600)
            let (again, _) = try await w.run("sweep")
            #expect(w.requests(.search) == q)
            // Only listings already searched today come again (refreshed by getItems, whose quota is its own).
            #expect(try store.decisions(sweep: again.id).filter { try w.needsRead($0.listing(in: snapshot)) }.allSatisfy { decided.contains($0.sku) })
            #expect(again.summary?.contains("limited by ebay/browse quota (0 calls left)") == true, "\(again.summary ?? "")")

            // Past midnight in Los Angeles (07:00 UTC): a fresh quota, and the carried listings go first.
            w.clock.advance(to: QuotaTests.at(2026, 6, 11, 7, 1))
            let (next, nextStatus) = try await w.run("sweep")
            #expect(nextStatus == .succeeded, "\(next.error ?? "")")
            let second = Set(try store.decisions(sweep: next.id).map(\.sku))
            let unread = reading.filter { !decided.contains($0.sku) }.sorted { $0.sku < $1.sku }
            #expect(Set(unread.prefix(q).map(\.sku)).isSubset(of: second), "the next day must start with the carried listings")
            #expect(w.requests(.search) == 2 * q)
            #expect(w.quota.usage().first { $0.key == CapacityWorld.browse }?.used == Int64(q))
        }
    }

    @Test("a reserve for marketplace-sync: the sweep stops at limit − reserve and sync still has its calls")
    func reserveKeepsSyncCalls() async throws {
        let q = 10
        let config = CapacityWorld.quotaConfig(browse: q) + "\n[quotas]\nreserve = { marketplace-sync = \"20%\" }\n"
        try await CapacityWorld.with(limits: CapacityWorld.production(browse: q), extraConfig: config,
                                     jobs: ["sweep": CapacityWorld.job(), "hourly-sync": CapacityWorld.syncJob]) { w in
            let (run, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            #expect(w.requests(.search) == 8)
            #expect(run.summary?.hasSuffix("limited by ebay/browse quota (8 calls left)") == true, "\(run.summary ?? "")")
            #expect(w.quota.remaining(for: "sweep")[CapacityWorld.browse] == 0)
            #expect(w.quota.remaining(for: "hourly-sync")[CapacityWorld.browse] == 2)
            // A marketplace-sync run afterwards still makes its two Browse calls, over real HTTP.
            let ebay = try #require(w.world.services.marketplaces[.ebay] as? EbayMarketplace)
            try await SpendContext.$current.withValue(SpendContext(job: "hourly-sync", runID: 0, taskKey: "probe")) {
                for _ in 0..<2 { _ = try await ebay.client.searchPage(BrowseQuery(.keywords("acme"))) }
            }
            #expect(w.requests(.search) == 10)
            #expect(w.quota.usage().first { $0.key == CapacityWorld.browse }?.used == 10)
        }
    }

    @Test("within research_days the sweep refreshes known competitors with getItems (20 ids a call) instead of searching; prices match a full search; an ended item is dropped")
    func getItemsRefresh() async throws {
        try await CapacityWorld.with(limits: CapacityWorld.production(browse: 5_000), extraConfig: CapacityWorld.quotaConfig(browse: 5_000),
                                     jobs: ["sweep": CapacityWorld.job("research_days = 3")]) { w in
            let store = w.world.harness.store
            let (first, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(first.error ?? "")")
            let snapshot = try store.sweepListings(sweep: first.id, marketplace: .ebay)
            let reading = try snapshot.filter { try w.needsRead($0) }
            let searches = w.requests(.search)
            #expect(searches == reading.count)  // one GTIN search each; every sandbox listing has its own GTIN
            #expect(w.requests(.getItems) == 0)
            var remembered = try store.rememberedSearches(marketplace: .ebay)
            #expect(remembered.count == reading.count)
            // End the cheapest remembered competitor of one product.
            let (_, withItems) = try #require(remembered.filter { $0.value.itemIDs.count >= 2 }.min { $0.key < $1.key })
            let competitors = w.world.harness.sandbox.state.competitors
            let ended = try #require(withItems.itemIDs.min { a, b in
                let pa = competitors.first { $0.itemId == a }!, pb = competitors.first { $0.itemId == b }!
                return (pa.landedMicros, a) < (pb.landedMicros, b)
            })
            w.world.harness.sandbox.state.endCompetitorItem(ended)
            let ids = Set(remembered.values.flatMap(\.itemIDs))

            // Two days later (within research_days = 3): getItems, no search.
            w.clock.advance(byMilliseconds: 2 * 86_400_000)
            let (second, secondStatus) = try await w.run("sweep")
            #expect(secondStatus == .succeeded, "\(second.error ?? "")")
            #expect(w.requests(.search) == searches, "a GTIN searched within research_days was searched again")
            #expect(w.requests(.getItems) == (ids.count + 19) / 20)
            #expect(w.quota.usage().first { $0.key == CapacityWorld.getItems }?.used == Int64((ids.count + 19) / 20))
            remembered = try store.rememberedSearches(marketplace: .ebay)
            #expect(!remembered.values.contains { $0.itemIDs.contains(ended) }, "the ended item is still remembered")
            #expect(Set(remembered.values.flatMap(\.itemIDs)) == ids.subtracting([ended]))
            let plan = try #require(w.events.named("sweep-plan").last)
            #expect(plan["calls_planned.ebay/browse_get_items"] == "\((ids.count + 19) / 20)" && plan["calls_planned.ebay/browse"] == nil,
                    "\(plan)")

            // The same decisions as a sweep that searches everything (a fresh ledger remembers nothing).
            let directory = w.world.harness.directory + "/fresh"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let fresh = WorkflowHarness(sandbox: w.world.harness.sandbox, store: try RunStore(path: directory + "/flipsync.sqlite"),
                                        directory: directory)
            let other = try CapacityWorld.load(fresh, clock: w.clock, extraConfig: CapacityWorld.quotaConfig(browse: 5_000),
                                               jobs: ["sweep": CapacityWorld.job("research_days = 3")])
            let (full, fullStatus) = try await other.run("sweep")
            #expect(fullStatus == .succeeded, "\(full.error ?? "")")
            #expect(w.requests(.search) == 2 * searches)
            func comparable(_ d: PricingDecision) -> String {
                "\(d.sku) \(d.newPrice?.micros ?? -1) \(d.lowestCompetitorLanded?.micros ?? -1) \(d.offersConsidered) \(d.offersExcluded.sorted { $0.key < $1.key }) \(d.reason.rawValue)"
            }
            let refreshed = try store.decisions(sweep: second.id).map(comparable)
            let searched = try fresh.store.decisions(sweep: full.id).map(comparable)
            #expect(refreshed.count == snapshot.count)
            #expect(refreshed == searched)
            // Past research_days the GTINs are searched again.
            w.clock.advance(byMilliseconds: 2 * 86_400_000)
            let (third, _) = try await w.run("sweep")
            #expect(third.error == nil)
            #expect(w.requests(.search) == 3 * searches)
        }
    }

    @Test("a refresh is cut into tasks of refresh_task_listings listings, each reading only its GTINs' searches: getItems pooled per task exactly as the plan counted, the same decisions as one task")
    func refreshCutIntoTasks() async throws {
        struct Night: Sendable {
            var decisions: [String] = [], tasks: [[String]] = [], getItems = 0, planned: String?, ids: [String: [String]] = [:]
        }
        func night(_ refreshTask: Int?) async throws -> Night {
            let result = Mutex(Night())
            try await CapacityWorld.with(limits: CapacityWorld.production(browse: 5_000), extraConfig: CapacityWorld.quotaConfig(browse: 5_000),
                                         ebayRefreshTaskListings: refreshTask, jobs: ["sweep": CapacityWorld.job("research_days = 3")]) { w in
                var out = Night()
                defer { result.withLock { $0 = out } }
                let store = w.world.harness.store
                let (first, status) = try await w.run("sweep")
                #expect(status == .succeeded, "\(first.error ?? "")")
                let remembered = try store.rememberedSearches(marketplace: .ebay)
                w.clock.advance(byMilliseconds: 86_400_000)
                let (second, secondStatus) = try await w.run("sweep")
                #expect(secondStatus == .succeeded, "\(second.error ?? "")")
                for task in try store.tasks(runID: second.id) where task.key.contains(":refresh-") {
                    let input = try #require(task.input.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
                    out.tasks.append(try #require(input["skus"] as? [String]))
                }
                // Each listing's remembered ids (every sandbox listing has a GTIN of its own, searched once).
                for listing in try store.sweepListings(sweep: second.id, marketplace: .ebay) where try w.needsRead(listing) {
                    let gtin = try #require(listing.gtin)
                    let searches = remembered.filter { $0.key.hasPrefix(gtin + "|") }
                    #expect(searches.count == 1, "\(gtin): \(searches.keys.sorted())")
                    out.ids[listing.sku] = searches.first?.value.itemIDs
                }
                out.getItems = w.requests(.getItems)
                out.planned = try #require(w.events.named("sweep-plan").last)["calls_planned.ebay/browse_get_items"]
                out.decisions = try store.decisions(sweep: second.id).map {
                    "\($0.sku) \($0.newPrice?.micros ?? -1) \($0.lowestCompetitorLanded?.micros ?? -1) \($0.offersConsidered) \($0.reason.rawValue)"
                }.sorted()
            }
            return result.withLock { $0 }
        }
        let cut = try await night(7)
        #expect(cut.tasks.count >= 3 && cut.tasks.allSatisfy { $0.count <= 7 }, "\(cut.tasks.map(\.count))")
        // Each task pools its own listings' ids, 20 a call; the plan counted the same.
        let expected = cut.tasks.map { skus in (Set(skus.flatMap { cut.ids[$0] ?? [] }).count + 19) / 20 }.reduce(0, +)
        #expect(expected > (Set(cut.ids.values.flatMap { $0 }).count + 19) / 20, "the cut should cost calls a single pool would not")
        #expect(cut.getItems == expected && cut.planned == "\(expected)", "made \(cut.getItems), planned \(cut.planned ?? "-"), expected \(expected)")
        let whole = try await night(nil)
        #expect(whole.tasks.count == 1)
        #expect(whole.getItems == (Set(whole.ids.values.flatMap { $0 }).count + 19) / 20)
        #expect(cut.decisions == whole.decisions && cut.decisions.count == 40)
    }

    @Test("research_days = 0: every sweep searches every GTIN again and never calls getItems")
    func researchDaysZeroAlwaysSearches() async throws {
        try await CapacityWorld.with(limits: CapacityWorld.production(browse: 5_000), extraConfig: CapacityWorld.quotaConfig(browse: 5_000),
                                     jobs: ["sweep": CapacityWorld.job("research_days = 0")]) { w in
            let (first, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(first.error ?? "")")
            let searches = w.requests(.search)
            #expect(searches > 0)
            w.clock.advance(byMilliseconds: 60_000)
            let (second, secondStatus) = try await w.run("sweep")
            #expect(secondStatus == .succeeded, "\(second.error ?? "")")
            #expect(w.requests(.search) == 2 * searches)
            #expect(w.requests(.getItems) == 0)
        }
    }

    @Test("Amazon: with a short timeout the sweep plans only the getListingOffersBatch requests that fit and says limited by timeout")
    func timeoutBoundsAmazon() async throws {
        // The Amazon client learns its rates from the sandbox's headers and waits on them: the
        // manual clock is moved to each wait's end, so the 4 s timeout is the clock's, not the machine's.
        try await CapacityWorld.with(listings: 100, limits: .generous,
                                     jobs: ["sweep": CapacityWorld.job(marketplaces: #"["amazon"]"#, timeout: "4s")]) { w in
            let (run, status) = try await w.runPumping("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let snapshot = try w.world.harness.store.sweepListings(sweep: run.id, marketplace: .amazon)
            // 80% of 4 s at 0.5 requests/s with a burst of 1: 1 + ⌊3.2 × 0.5⌋ = 2 requests of 20 SKUs.
            try #require(snapshot.count > 40)
            let decisions = try w.world.harness.store.decisions(sweep: run.id)
            #expect(decisions.count == 40)
            #expect(Set(decisions.map(\.sku)) == Set(snapshot.map(\.sku).sorted().prefix(40)))
            #expect((w.world.harness.sandbox.state.requestCounts["amazon.listing_offers_batch"] ?? 0) == 2)
            #expect(run.summary?.hasSuffix("; limited by timeout") == true, "\(run.summary ?? "")")
            let plan = try #require(w.events.named("sweep-plan").first)
            #expect(plan["timeout_requests"] == "2" && plan["timeout_listings"] == "40" && plan["limited_by"] == "timeout", "\(plan)")
        }
    }

    @Test("eBay at its configured rate (5/s, burst 10): with a short timeout the sweep plans exactly the listings whose Browse searches fit in 80% of the time left, runs within the timeout and says limited by timeout")
    func timeoutBoundsEbay() async throws {
        try await CapacityWorld.with(listings: 120, limits: CapacityWorld.production(browse: 5_000),
                                     extraConfig: CapacityWorld.quotaConfig(browse: 5_000), ebayRate: (requests: 5, burst: 10),
                                     jobs: ["sweep": CapacityWorld.job("research_days = 0", timeout: "10s")]) { w in
            // The offers are read and remembered first (as a first night does), so the sweep's
            // listings read takes no wait and the whole 10 s are left when the decide wave is planned.
            let ebay = try #require(w.world.services.marketplaces[.ebay] as? EbayMarketplace)
            let clock = w.clock
            let pump = Task {
                while !Task.isCancelled {
                    await clock.waitForSleepers(1)
                    if Task.isCancelled { return }
                    if let next = clock.nextWakeWallMilliseconds { clock.advance(byMilliseconds: max(1, next - clock.wallMilliseconds())) }
                }
            }
            let live = try await SpendContext.$current.withValue(SpendContext(job: "warm-up", runID: 0, taskKey: "listings")) {
                try await ebay.activeListings()
            }
            pump.cancel()
            try #require(live.count == 120)
            w.clock.advance(bySeconds: 3600)  // the token bucket full again

            let (run, status) = try await w.runPumping("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let store = w.world.harness.store
            let snapshot = try store.sweepListings(sweep: run.id, marketplace: .ebay)
            let reading = try snapshot.filter { try w.needsRead($0) }
            // 80% of 10 s at 5 requests/s from a bucket of 10: 10 + ⌊8 × 5⌋ = 50 Browse calls, one GTIN search each.
            let calls = 50
            try #require(reading.count > calls, "the catalog must have more GTINs to search than the timeout has room for")
            let decided = Set(try store.decisions(sweep: run.id).map(\.sku))
            #expect(decided == (try Self.expected(snapshot, calls: calls, needsRead: w.needsRead)))
            #expect(w.requests(.search) == calls)
            #expect(run.summary?.hasSuffix("; limited by timeout") == true, "\(run.summary ?? "")")
            let plan = try #require(w.events.named("sweep-plan").first)
            #expect(plan["limited_by"] == "timeout" && plan["timeout_requests"] == "\(calls)" && plan["timeout_operation"] == "browse"
                    && plan["calls_planned.ebay/browse"] == "\(calls)" && plan["selected"] == "\(decided.count)", "\(plan)")
            // The carried listings lead the next night.
            w.clock.advance(to: QuotaTests.at(2026, 6, 11, 7, 1))
            let (next, _) = try await w.runPumping("sweep")
            let second = Set(try store.decisions(sweep: next.id).map(\.sku))
            let unread = reading.filter { !decided.contains($0.sku) }.sorted { $0.sku < $1.sku }
            #expect(Set(unread.prefix(calls).map(\.sku)).isSubset(of: second), "the next night must start with the carried listings")
        }
    }
}

extension PricingDecision {
    func listing(in snapshot: [MarketplaceListing]) throws -> MarketplaceListing {
        try #require(snapshot.first { $0.sku == sku })
    }
}
