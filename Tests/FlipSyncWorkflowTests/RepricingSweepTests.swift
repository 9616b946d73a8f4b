import FlipSyncCore
import FlipSyncSandbox
import Synchronization
import Foundation
import Testing

/// The repricing sweep end to end: the sandbox's listings, competition and costs over real
/// HTTP, decisions in SQLite, changes applied through the real APIs, the sandbox's update log
/// as the witness of what was applied.
@Suite("Repricing sweep, end to end", .timeLimit(.minutes(1)))
struct RepricingSweepTests {
    static func job(_ extra: String = "", marketplaces: String = #"["ebay", "amazon"]"#, concurrency: Int = 16) -> String {
        """
        name = "sweep"
        kind = "repricing-sweep"
        schedule = "daily"
        timeout = "5m"
        concurrency = \(concurrency)

        [params]
        marketplaces = \(marketplaces)
        cost_source = "shopify"
        shipping_cost = "4.50 USD"
        strategy = "beat-lowest"
        undercut = "1%"
        min_margin = "15%"
        max_change = "10%"
        rounding = ".99"
        \(extra)
        """
    }

    /// Three attempts, 50–100 ms apart: a failed decide task is retried at once.
    static let quickRetry = """

        [retry]
        attempts = 3
        backoff = "50ms"
        max_backoff = "100ms"
        """

    @Test("every listing gets a decision within its bounds, and exactly the changes decided are applied, once each")
    func sweepAppliesExactlyItsDecisions() async throws {
        try await WorkflowHarness.with(listings: 60) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job()])
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let decisions = try h.store.decisions(sweep: run.id)
            let ebay = h.sandbox.state.listings, amazon = h.sandbox.state.channelListings(.amazon)
            #expect(decisions.count == ebay.count + amazon.count)
            let changed = decisions.filter { $0.newPrice?.micros != nil }
            #expect(!changed.isEmpty)
            for d in changed {
                let new = try #require(d.newPrice?.micros), floor = try #require(d.floor?.micros), ceiling = try #require(d.ceiling?.micros)
                #expect(floor <= new && new <= ceiling, "\(d.sku): \(floor) ≤ \(new) ≤ \(ceiling)")
                #expect(abs(new - d.oldPrice.micros) * 10 <= d.oldPrice.micros, "\(d.sku): moved more than 10%")
                #expect(new % 10_000 == 0, "\(d.sku): not whole cents")
                #expect(d.state == .applied, "\(d.sku): \(d.state) \(d.apiResult ?? "")")
            }
            // The witness: one update per applied decision, to its new price, and nothing else.
            let updates = h.sandbox.state.updates
            #expect(updates.count == changed.count)
            let applied = Dictionary(uniqueKeysWithValues: changed.map { ("\($0.marketplace.rawValue)/\($0.sku)", $0.newPrice!.micros) })
            for update in updates {
                #expect(applied["\(update.marketplace.rawValue)/\(update.sku)"] == update.newPriceMicros)
            }
            for d in changed where d.marketplace == .ebay {
                #expect(h.sandbox.state.listing(sku: d.sku)?.priceMicros == d.newPrice?.micros)
            }
            for d in changed where d.marketplace == .amazon {
                #expect(h.sandbox.state.channelListing(.amazon, sku: d.sku)?.priceMicros == d.newPrice?.micros)
            }
            // Holds say why, and every decision used the sandbox's cost (no "no-cost" holds).
            #expect(!decisions.contains { $0.reason.rawValue == "no-cost" })
            #expect(decisions.filter { $0.newPrice?.micros == nil }.allSatisfy { $0.state == .hold && !$0.explanation.isEmpty })
            // The decide wave's cut was in the ledger only while the wave ran.
            #expect(try h.store.cutDecideWave(sweep: run.id, marketplace: .ebay) == 0)
            #expect(try h.store.cutDecideWave(sweep: run.id, marketplace: .amazon) == 0)
        }
    }

    @Test("a dry run decides and records everything and applies nothing")
    func dryRunAppliesNothing() async throws {
        try await WorkflowHarness.with(listings: 30) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("dry_run = true")])
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let decisions = try h.store.decisions(sweep: run.id)
            #expect(decisions.contains { $0.state == .dryRun })
            #expect(decisions.allSatisfy { $0.state == .dryRun || $0.state == .hold })
            #expect(h.sandbox.state.updates.isEmpty)
            #expect(try h.store.cutDecideWave(sweep: run.id, marketplace: .ebay) == 0)
        }
    }

    @Test("when too many prices would drop sharply, the breaker applies nothing and fails the run with the reason")
    func circuitBreakerBlocksTheSweep() async throws {
        try await WorkflowHarness.with(listings: 40) { h in
            // A 40% undercut with room to move 60% and no margin: a price war the breaker must stop.
            let job = Self.job("", marketplaces: #"["ebay"]"#)
                .replacingOccurrences(of: #"undercut = "1%""#, with: #"undercut = "40%""#)
                .replacingOccurrences(of: #"max_change = "10%""#, with: #"max_change = "60%""#)
                .replacingOccurrences(of: #"min_margin = "15%""#, with: #"min_margin = "0%""#)
                + "\nbreaker_share = \"5%\"\nbreaker_drop = \"20%\"\n"
            let world = try WorkflowWorld.load(h, jobs: ["sweep": job])
            let (run, status) = try await world.run("sweep")
            #expect(status == .failed)
            #expect(run.error?.contains("circuit breaker") == true, "\(run.error ?? "")")
            #expect(h.sandbox.state.updates.isEmpty)
            let decisions = try h.store.decisions(sweep: run.id)
            #expect(decisions.contains { $0.state == .blocked })
            #expect(!decisions.contains { $0.state == .planned || $0.state == .applied })
        }
    }

    /// Runs the sweep until the sandbox holds its first bulk update (long enough to cancel the
    /// run while it is in flight), cancels it, and waits for the held batch to land anyway:
    /// the cancelled run and its decisions left `sending`.
    static func cancelWhileBatchHeld(_ h: WorkflowHarness, _ world: WorkflowWorld) async throws -> (RunInfo, [PricingDecision]) {
        h.sandbox.state.inject(SandboxFault(route: .bulkUpdate, remaining: 1, latencyMilliseconds: 300))
        let first = Task { try await world.run("sweep") }
        await h.sandbox.state.waitUntilHeld(.bulkUpdate)
        first.cancel()
        let (cancelled, status) = try await first.value
        #expect(status == .cancelled)
        let sending = try h.store.decisions(sweep: cancelled.id).filter { $0.state == .sending }
        try #require(!sending.isEmpty)
        await h.sandbox.state.waitForUpdates(count: sending.count)
        return (cancelled, sending)
    }

    @Test("a sweep cancelled while a batch is in flight, then resumed, applies no change twice")
    func resumedSweepAppliesNoChangeTwice() async throws {
        try await WorkflowHarness.with(listings: 60) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("", marketplaces: #"["ebay"]"#)])
            let (cancelled, _) = try await Self.cancelWhileBatchHeld(h, world)

            let (resumed, resumedStatus) = try await world.run("sweep", resumes: cancelled.id)
            #expect(resumedStatus == .succeeded, "\(resumed.error ?? "")")
            let decisions = try h.store.decisions(sweep: cancelled.id)
            let changed = decisions.filter { $0.newPrice?.micros != nil }
            #expect(changed.allSatisfy { $0.state == .applied })
            let perSKU = Dictionary(grouping: h.sandbox.state.updates, by: \.sku)
            #expect(perSKU.values.allSatisfy { $0.count == 1 }, "an update was applied twice")
            #expect(perSKU.count == changed.count)
            #expect(decisions.contains { $0.apiResult?.contains("already live") == true })
        }
    }

    @Test("an interrupted change is judged on eBay's live price, not on an offer remembered from before it landed")
    func resumedSweepIgnoresStaleRememberedOffers() async throws {
        try await WorkflowHarness.with(listings: 60) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("", marketplaces: #"["ebay"]"#)], offerMemory: true)
            let (cancelled, sending) = try await Self.cancelWhileBatchHeld(h, world)
            // Another reader (a sync's listings read) asked for these offers before the held
            // batch landed: the memory does not take its answers, the change being in flight.
            let stale = sending.map { d in
                RememberedOffer(sku: d.sku, offerID: d.listingID, marketplaceID: "EBAY_US", price: d.oldPrice,
                                availableQuantity: nil, domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 1)
            }
            try await h.store.rememberOffers(marketplace: .ebay, stale)
            #expect(try h.store.rememberedOffers(marketplace: .ebay, skus: sending.map(\.sku)).isEmpty)
            // However the memory came to hold the old prices, the check reads eBay's.
            try h.store.settleOffers(marketplace: .ebay, skus: [], offers: stale, at: 1)
            #expect(try h.store.rememberedOffers(marketplace: .ebay, skus: sending.map(\.sku)).count == sending.count)
            for d in sending { #expect(h.sandbox.state.listing(sku: d.sku)?.priceMicros == d.newPrice?.micros, "\(d.sku) landed") }

            let (resumed, resumedStatus) = try await world.run("sweep", resumes: cancelled.id)
            #expect(resumedStatus == .succeeded, "\(resumed.error ?? "")")
            let decisions = try h.store.decisions(sweep: cancelled.id)
            let perSKU = Dictionary(grouping: h.sandbox.state.updates, by: \.sku)
            for d in sending {
                #expect(perSKU[d.sku]?.count == 1, "\(d.sku) updated \(perSKU[d.sku]?.count ?? 0) times")
                #expect(decisions.first { $0.sku == d.sku }?.apiResult?.hasPrefix("already live") == true)
            }
            #expect(h.sandbox.state.updates.allSatisfy { $0.priceSent && !$0.quantitySent })
        }
    }

    @Test("a pending eBay listing's offer and its competition are read at the same time: with one task at a time, a getOffers and a Browse search are held together")
    func offerReadOverlapsCompetitionRead() async throws {
        try await WorkflowHarness.with(listings: 4) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job(marketplaces: #"["ebay"]"#, concurrency: 1)])
            // Every offer read and every search is held 10 s. One task at a time, so the only way
            // both are held at once is one task's two calls in flight together; read one after
            // the other, a search is held only once its offer read has ended.
            h.sandbox.state.inject(SandboxFault(route: .offers, latencyMilliseconds: 10_000))
            h.sandbox.state.inject(SandboxFault(route: .search, latencyMilliseconds: 10_000))
            let run = Task { try await world.run("sweep") }
            // Whichever reaches the sandbox first, the other is held while it still is.
            await h.sandbox.state.waitUntilHeld(.search)
            await h.sandbox.state.waitUntilHeld(.offers)
            #expect(h.sandbox.state.heldCount(.search) == 1 && h.sandbox.state.heldCount(.offers) == 1,
                    "the listing's offer is being read while its competition is searched")
            run.cancel()
            let (cancelled, status) = try await run.value
            #expect(status == .cancelled, "\(cancelled.error ?? "")")
        }
    }

    @Test("a decide task retried after its competition search failed does not read its listing's offer again: one getOffers a listing")
    func retryAfterFailedSearchKeepsTheOffer() async throws {
        try await WorkflowHarness.with(listings: 4) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job(Self.quickRetry, marketplaces: #"["ebay"]"#, concurrency: 1)])
            // The first Browse search answers 500: its task fails after its offer read, and is retried.
            h.sandbox.state.inject(SandboxFault(route: .search, remaining: 1, status: 500))
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            #expect(h.sandbox.state.faultsApplied.byRoute["search"] == 1)
            let retried = try h.store.tasks(runID: run.id).filter { $0.key.hasPrefix("decide:") && $0.attempts > 1 }
            #expect(retried.count == 1 && retried.allSatisfy { $0.attempts == 2 && $0.status == .succeeded }, "\(retried)")
            // Every listing was pending on this first night: each offer read once, none again on the retry.
            let listings = h.sandbox.state.listings.count
            #expect(h.sandbox.state.requestCounts["offers"] == listings, "\(h.sandbox.state.requestCounts)")
            #expect(try h.store.decisions(sweep: run.id).count == listings)
        }
    }

    @Test("eBay decide tasks take search_task_gtins GTINs each and search them one after the other: one Browse search a GTIN, and a task retried after its second search failed searches only what it had not decided")
    func packedSearchTasks() async throws {
        try await WorkflowHarness.with(listings: 30) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job(Self.quickRetry, marketplaces: #"["ebay"]"#, concurrency: 1)],
                                               ebaySearchTaskGTINs: 4)
            // The first search is held until the second fault is in place: the first task's
            // first GTIN is searched, decided and saved, and its second search answers 500.
            h.sandbox.state.inject(SandboxFault(route: .search, remaining: 1, latencyMilliseconds: 300))
            let running = Task { try await world.run("sweep") }
            await h.sandbox.state.waitUntilHeld(.search)
            h.sandbox.state.inject(SandboxFault(route: .search, remaining: 1, status: 500))
            let (run, status) = try await running.value
            #expect(status == .succeeded, "\(run.error ?? "")")
            #expect(h.sandbox.state.faultsApplied.byRoute["search"] == 2)
            let listings = h.sandbox.state.listings
            // Listings sharing a GTIN are one group; searched are the GTINs of listings in stock.
            let groups = Set(listings.map(\.gtin)).count
            let searched = Set(listings.filter { $0.quantity > 0 }.map(\.gtin)).count
            let decide = try h.store.tasks(runID: run.id).filter { $0.key.hasPrefix("decide:") }
            #expect(decide.count == (groups + 3) / 4, "\(decide.count) tasks for \(groups) GTINs")
            #expect(decide.allSatisfy { $0.key.range(of: #"^decide:ebay:group-[0-9a-f]{16}$"#, options: .regularExpression) != nil })
            let retried = decide.filter { $0.attempts > 1 }
            #expect(retried.count == 1 && retried.allSatisfy { $0.attempts == 2 && $0.status == .succeeded }, "\(retried)")
            // Every GTIN searched once, but the one whose search failed: the retry did not search
            // the GTIN its first attempt had decided (a retried task searching all of its GTINs
            // again would make it searched + 2).
            #expect(h.sandbox.state.requestCounts["search"] == searched + 1, "\(h.sandbox.state.requestCounts), \(searched) GTINs in stock")
            #expect(h.sandbox.state.requestCounts["offers"] == listings.count, "\(h.sandbox.state.requestCounts)")
            let decisions = try h.store.decisions(sweep: run.id)
            #expect(decisions.count == listings.count && Set(decisions.map(\.sku)).count == listings.count)
        }
    }

    @Test("a decide task packs search_task_gtins groups only while the job's concurrency stays busy: ⌊groups ÷ concurrency⌋, within 1…search_task_gtins")
    func packKeepsConcurrencyBusy() async throws {
        #expect(RepricingSweepPlan.pack(8, of: 10_000, concurrency: 64) == 8)
        #expect(RepricingSweepPlan.pack(8, of: 300, concurrency: 64) == 4)
        #expect(RepricingSweepPlan.pack(8, of: 100, concurrency: 64) == 1)
        #expect(RepricingSweepPlan.pack(8, of: 0, concurrency: 64) == 1)
        #expect(RepricingSweepPlan.pack(1, of: 10_000, concurrency: 1) == 1)
        // End to end: 40 listings, 16 at once, 8 a task allowed: 2 groups a task, so 16 or more tasks.
        try await WorkflowHarness.with(listings: 40) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("dry_run = true", marketplaces: #"["ebay"]"#, concurrency: 16)],
                                               ebaySearchTaskGTINs: 8)
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let groups = Set(h.sandbox.state.listings.map(\.gtin)).count
            let decide = try h.store.tasks(runID: run.id).filter { $0.key.hasPrefix("decide:") }
            let pack = Swift.max(1, Swift.min(8, groups / 16))
            #expect(decide.count == (groups + pack - 1) / pack && decide.count >= 16, "\(decide.count) tasks for \(groups) GTINs, \(pack) a task")
            #expect(groups < 32 || pack == 2)
            #expect(try h.store.decisions(sweep: run.id).count == 40)
        }
    }

    @Test("packing GTINs into tasks changes no decision: search_task_gtins 1 and 7 decide every listing the same over the same sandbox")
    func packedTasksDecideTheSame() async throws {
        var byPack: [Int: [String: String]] = [:]
        for pack in [1, 7] {
            byPack[pack] = try await WorkflowHarness.with(listings: 40, seed: 424_242) { h in
                let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("dry_run = true", marketplaces: #"["ebay"]"#, concurrency: 1)],
                                                   ebaySearchTaskGTINs: pack)
                let (run, status) = try await world.run("sweep")
                #expect(status == .succeeded, "\(run.error ?? "")")
                let decide = try h.store.tasks(runID: run.id).filter { $0.key.hasPrefix("decide:") }
                let groups = Set(h.sandbox.state.listings.map(\.gtin)).count
                #expect(decide.count == (groups + pack - 1) / pack, "\(decide.count) tasks for \(groups) GTINs, \(pack) a task")
                return Dictionary(uniqueKeysWithValues: try h.store.decisions(sweep: run.id).map {
                    ($0.sku, "\($0.state) \($0.reason) \($0.newPrice?.micros ?? -1) \($0.explanation)")
                })
            }
        }
        #expect(byPack[1]?.count == 40)
        #expect(byPack[1] == byPack[7])
    }

    @Test("a resumed sweep plans decide tasks for exactly the listings its chain left undecided, keyed by their listings; every listing ends decided once")
    func resumedSweepPlansOnlyUndecided() async throws {
        try await WorkflowHarness.with(listings: 60) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("", marketplaces: #"["ebay"]"#)])
            // One search is held for 5 s: the run is cancelled while it waits, with the tasks that
            // did not need it decided.
            h.sandbox.state.inject(SandboxFault(route: .search, remaining: 1, latencyMilliseconds: 5_000))
            let first = Task { try await world.run("sweep") }
            await h.sandbox.state.waitUntilHeld(.search)
            let deadline = ContinuousClock.now + .seconds(20)
            let sweep = try #require(try h.store.recentRuns(job: "sweep", limit: 1).first).id
            while try h.store.decisions(sweep: sweep).count < 20, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))  // real HTTP work, not a scheduler
            }
            first.cancel()
            let (cancelled, status) = try await first.value
            #expect(status == .cancelled)
            let snapshot = Set(try h.store.sweepListings(sweep: cancelled.id, marketplace: .ebay).map(\.sku))
            let decidedBefore = Set(try h.store.decisions(sweep: cancelled.id).map(\.sku))
            #expect(decidedBefore.count >= 20 && decidedBefore.count < snapshot.count, "\(decidedBefore.count) of \(snapshot.count)")
            // Cancelled inside its decide wave: the wave's cut is still in the ledger, and the resume replaces it.
            #expect(try h.store.decideCutTasks(sweep: cancelled.id, marketplace: .ebay, tasks: 0..<1_000).count > 0)

            let (resumed, resumedStatus) = try await world.run("sweep", resumes: cancelled.id)
            #expect(resumedStatus == .succeeded, "\(resumed.error ?? "")")
            var planned: [String] = []
            for task in try h.store.tasks(runID: resumed.id) where task.key.hasPrefix("decide:") {
                let input = try #require(task.input.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
                let skus = try #require(input["skus"] as? [String])
                planned += skus
                if skus.count > 1 || task.key.contains(":refresh-") {
                    #expect(task.key.range(of: #"^decide:ebay:(group|refresh)-[0-9a-f]{16}$"#, options: .regularExpression) != nil, "\(task.key)")
                } else {
                    #expect(task.key == "decide:ebay:\(skus[0])")
                }
            }
            #expect(planned.count == Set(planned).count)
            #expect(Set(planned) == snapshot.subtracting(decidedBefore))
            let decisions = try h.store.decisions(sweep: cancelled.id)
            #expect(decisions.count == snapshot.count && Set(decisions.map(\.sku)) == snapshot)
            #expect(try h.store.decideCutTasks(sweep: cancelled.id, marketplace: .ebay, tasks: 0..<1_000).isEmpty)
        }
    }

    @Test("Amazon beat-lowest compares landed to landed: after applying, our price + our shipping re-read from getItemOffers is below the lowest competitor's landed price")
    func amazonBeatLowestBeatsLanded() async throws {
        try await WorkflowHarness.with(listings: 300, seed: 913_377) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("ceiling_markup = \"200%\"", marketplaces: #"["amazon"]"#)])
            let (run, status) = try await world.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let decisions = try h.store.decisions(sweep: run.id)
            let amazon = try #require(world.services.marketplaces[.amazon])
            let live = Dictionary(uniqueKeysWithValues: try await amazon.activeListings().map { ($0.sku, $0) })
            let filterFeedback = try Percent(parsing: "95%")
            var checked = 0
            for d in decisions where d.reason == .followedCompetition {
                // Every followed decision knew our shipping: Amazon's listings never say it, so it came from MyOffer.
                let charged = try #require(d.shippingCharged?.micros, "\(d.sku): followed competition without our shipping")
                #expect(d.state == .applied, "\(d.sku): \(d.state)")
                let listing = try #require(live[d.sku])
                #expect(listing.price.micros == d.newPrice?.micros)
                let offers = try await amazon.competition(for: listing).offers
                let ours = try #require(offers.first { $0.isOurs }, "\(d.sku): our offer is not shown after the change")
                #expect(ours.price.micros == d.newPrice?.micros && ours.shipping.micros == charged)
                let lowest = try #require(CompetitorFilter(condition: listing.condition, currency: listing.price.currency,
                                                           minSellerFeedback: filterFeedback, llmMatching: false,
                                                           acceptedTitleMatches: []).apply(to: offers).lowestLanded)
                #expect(lowest.micros == d.lowestCompetitorLanded?.micros)
                #expect(ours.landed < lowest, "\(d.sku): landed \(ours.landed) is not below the lowest competitor \(lowest)")
                checked += 1
            }
            #expect(checked >= 5, "only \(checked) Amazon decisions followed the competition")
            // A listing whose own offer Amazon does not show holds rather than assuming free shipping.
            for d in decisions where d.reason.rawValue == "own-shipping-unknown" { #expect(d.newPrice?.micros == nil) }
            // Out-of-stock listings are decided (a hold row) without reading their competition.
            for d in decisions where d.reason.rawValue == "out-of-stock" { #expect(d.newPrice?.micros == nil && d.offersConsidered == 0) }
        }
    }

    @Test("Amazon competition through getListingOffersBatch (20 SKUs a request) decides exactly as getItemOffers does on the same data")
    func batchAndPerItemDecideAlike() async throws {
        try await WorkflowHarness.with(listings: 200, seed: 913_377) { h in
            let batchWorld = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("ceiling_markup = \"200%\"\ndry_run = true", marketplaces: #"["amazon"]"#)])
            let (batchRun, batchStatus) = try await batchWorld.run("sweep")
            #expect(batchStatus == .succeeded, "\(batchRun.error ?? "")")
            let counts = h.sandbox.state.requestCounts
            let batchCalls = counts[SandboxRoute.amazonListingOffersBatch.rawValue] ?? 0
            #expect(counts[SandboxRoute.amazonOffers.rawValue] == nil, "the sweep called getItemOffers")
            let amazonListings = h.sandbox.state.channelListings(.amazon).count
            #expect(batchCalls >= 1 && batchCalls <= (amazonListings + 19) / 20)

            // The same sweep with a client that only knows getItemOffers, one listing at a time.
            var services = batchWorld.services
            services.marketplaces[.amazon] = PerItemMarketplace(base: try #require(services.marketplaces[.amazon]))
            let perItemWorld = WorkflowWorld(harness: h, config: batchWorld.config, catalog: batchWorld.catalog, services: services,
                                             spend: batchWorld.spend, clock: batchWorld.clock)
            let (itemRun, itemStatus) = try await perItemWorld.run("sweep")
            #expect(itemStatus == .succeeded, "\(itemRun.error ?? "")")
            let itemCalls = h.sandbox.state.requestCounts[SandboxRoute.amazonOffers.rawValue] ?? 0
            #expect(h.sandbox.state.requestCounts[SandboxRoute.amazonListingOffersBatch.rawValue] == batchCalls)
            #expect(itemCalls > batchCalls * 10, "\(itemCalls) getItemOffers calls against \(batchCalls) batches")

            func comparable(_ d: PricingDecision) -> String {
                [d.sku, "\(d.newPrice?.micros ?? -1)", "\(d.floor?.micros ?? -1)", "\(d.ceiling?.micros ?? -1)", "\(d.lowestCompetitorLanded?.micros ?? -1)",
                 "\(d.buyBox?.micros ?? -1)", "\(d.offersConsidered)", "\(d.offersExcluded.sorted { $0.key < $1.key })", d.reason.rawValue, d.explanation,
                 d.state.rawValue, "\(d.shippingCharged?.micros ?? -1)"].joined(separator: "|")
            }
            let batched = try h.store.decisions(sweep: batchRun.id).sorted { $0.sku < $1.sku }.map(comparable)
            let perItem = try h.store.decisions(sweep: itemRun.id).sorted { $0.sku < $1.sku }.map(comparable)
            #expect(batched.count == amazonListings)
            #expect(batched == perItem)
            #expect(batched.contains { $0.contains("followed-competition") }, "no decision followed the competition")
            #expect(batched.contains { $0.contains("own-shipping-unknown") } == perItem.contains { $0.contains("own-shipping-unknown") })
        }
    }
}

extension RepricingSweepTests {
    @Test("max_listings_per_run: each run checks the N never or longest unchecked, carries the rest, and every listing is checked within ⌈M/N⌉ runs")
    func rollingCoverage() async throws {
        try await WorkflowHarness.with(listings: 30) { h in
            let clock = NightClock()
            let n = 8
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("dry_run = true\nmax_listings_per_run = \(n)", marketplaces: #"["ebay"]"#)],
                                               clock: clock)
            let m = h.sandbox.state.listings.count
            let runs = (m + n - 1) / n
            try #require(runs >= 3)
            var firstChecked: [String: Int] = [:]
            for night in 0..<runs {
                let neverBefore = h.sandbox.state.listings.map(\.sku).filter { firstChecked[$0] == nil }.sorted()
                let (run, status) = try await world.run("sweep")
                #expect(status == .succeeded, "\(run.error ?? "")")
                let skus = try h.store.decisions(sweep: run.id).map(\.sku)
                #expect(skus.count == n, "night \(night)")
                // Never-checked listings go first, by SKU; a run with fewer of them fills up with the oldest.
                #expect(Set(neverBefore.prefix(n)).isSubset(of: Set(skus)), "night \(night): not the first never-checked SKUs")
                for sku in skus where firstChecked[sku] == nil { firstChecked[sku] = night }
                let never = m - firstChecked.count
                var summary = "checked \(n) of \(m) listings; \(m - n) carried to the next run"
                if never > 0 { summary += "; oldest unchecked: never checked (\(never))" }
                #expect(run.summary?.hasSuffix(summary) == true || never == 0, "\(run.summary ?? "")")
                clock.nextNight()
            }
            #expect(firstChecked.count == m, "\(m - firstChecked.count) listings never checked in \(runs) runs")
            // From then on each night checks the longest unchecked and says how old the rest are.
            let before = try h.store.coverage(marketplace: .ebay).sorted { ($0.value.lastChecked, $0.key) < ($1.value.lastChecked, $1.key) }
            let (run, _) = try await world.run("sweep")
            let again = Set(try h.store.decisions(sweep: run.id).map(\.sku))
            #expect(again == Set(before.prefix(n).map(\.key)))
            let oldestRest = try #require(before.dropFirst(n).map(\.value.lastChecked).min())
            let nights = (clock.wallMilliseconds() - oldestRest) / 86_400_000
            #expect(nights >= 1)
            #expect(run.summary?.hasSuffix("checked \(n) of \(m) listings; \(m - n) carried to the next run; oldest unchecked: \(nights) nights") == true,
                    "\(run.summary ?? "")")
            // The ledger keeps when each was checked.
            let coverage = try h.store.coverage(marketplace: .ebay)
            #expect(coverage.count == m)
            let now = clock.wallMilliseconds()
            #expect(again.allSatisfy { c in coverage[c].map { now - $0.lastChecked < 60_000 } == true })
        }
    }

}

extension RepricingSweepTests {
    @Test("eBay: listings sharing a GTIN are decided together from one Browse search per GTIN and condition")
    func ebaySearchesPerGTIN() async throws {
        try await WorkflowHarness.with(listings: 40) { h in
            let world = try WorkflowWorld.load(h, jobs: ["sweep": Self.job("dry_run = true", marketplaces: #"["ebay"]"#)])
            var services = world.services
            services.marketplaces[.ebay] = SharedGTINMarketplace(base: try #require(services.marketplaces[.ebay]), distinct: 5)
            let shared = WorkflowWorld(harness: h, config: world.config, catalog: world.catalog, services: services,
                                       spend: world.spend, clock: world.clock)
            let (run, status) = try await shared.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let listings = Dictionary(uniqueKeysWithValues: try h.store.sweepListings(sweep: run.id, marketplace: .ebay).map { ($0.sku, $0) })
            let decisions = try h.store.decisions(sweep: run.id)
            #expect(decisions.count == listings.count)
            let read = decisions.filter { !["no-cost", "out-of-stock"].contains($0.reason.rawValue) }.compactMap { listings[$0.sku] }
            let gtins = Set(read.compactMap(\.gtin)), pairs = Set(read.map { "\($0.gtin ?? "")|\($0.condition)" })
            let searches = h.sandbox.state.requestCounts[SandboxRoute.search.rawValue] ?? 0
            #expect(gtins.count <= 5 && read.count > 10)
            #expect(searches >= gtins.count && searches <= pairs.count, "\(searches) searches, \(gtins.count) GTINs, \(read.count) listings read")
            #expect(decisions.contains { $0.reason.rawValue == "followed-competition" || $0.offersConsidered > 0 })
        }
    }
}

/// eBay's listings as if only `distinct` products were listed, several times each: listing i
/// carries the GTIN of listing i mod `distinct`. Everything else is the real client's.
struct SharedGTINMarketplace: Marketplace {
    let base: any Marketplace
    let distinct: Int
    var name: MarketplaceName { base.name }
    func activeListings() async throws -> [MarketplaceListing] {
        let listings = try await base.activeListings()
        return listings.enumerated().map { index, listing in
            var copy = listing
            copy.gtin = listings[index % distinct].gtin
            return copy
        }
    }
    func competition(for listing: MarketplaceListing) async throws -> Competition { try await base.competition(for: listing) }
    func competitions(for listings: [MarketplaceListing], titleMatches: Bool) async throws -> [CompetitionLookup] {
        try await base.competitions(for: listings, titleMatches: titleMatches)
    }
    func competitionGrouper(options: CompetitionOptions) -> any CompetitionGrouper {
        base.competitionGrouper(options: CompetitionOptions(titleMatches: options.titleMatches))
    }
    func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] { try await base.apply(changes) }
    func orders(since cursor: String?) async throws -> OrdersPage { try await base.orders(since: cursor) }
}

/// The machine's clock, whose wall time the test moves a night ahead between runs; monotonic
/// time and sleeps are the machine's, so rate limits and token lifetimes are unaffected.
final class NightClock: SchedulerClock {
    private let offset = Mutex<Int64>(0)
    private let system = SystemSchedulerClock()
    func wallMilliseconds() -> Int64 { system.wallMilliseconds() + offset.withLock { $0 } }
    func monotonicMilliseconds() -> Int64 { system.monotonicMilliseconds() }
    func sleep(milliseconds: Int64) async throws { try await system.sleep(milliseconds: milliseconds) }
    func nextNight() { offset.withLock { $0 += 86_400_000 } }
}

/// A marketplace that reads competition one listing at a time (the protocol's default), over
/// another's calls: the per-item path for comparing with a batch one.
struct PerItemMarketplace: Marketplace {
    let base: any Marketplace
    var name: MarketplaceName { base.name }
    func activeListings() async throws -> [MarketplaceListing] { try await base.activeListings() }
    func competition(for listing: MarketplaceListing) async throws -> Competition { try await base.competition(for: listing) }
    func apply(_ changes: [ListingChange]) async throws -> [ListingChangeResult] { try await base.apply(changes) }
    func orders(since cursor: String?) async throws -> OrdersPage { try await base.orders(since: cursor) }
}
