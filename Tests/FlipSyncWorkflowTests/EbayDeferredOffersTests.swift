import FlipSyncCore
import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Testing

@Suite("eBay: offers read only for the listings a sweep selects", .timeLimit(.minutes(3)))
struct EbayDeferredOffersTests {
    @Test("a first night whose every getOffers would not fit the timeout succeeds: offers are read only for the selected listings, which are checked at their live offer; the next night reads the rest")
    func firstNightReadsOnlySelectedOffers() async throws {
        let count = 120
        // eBay at production.example.toml's 5/s, burst 10, a 20 s timeout and nothing remembered:
        // reading every offer before planning (as the listings read did) takes (120 − 10) ÷ 5 =
        // 22 s of getOffers alone. The plan has room for 10 + ⌊5 × 16⌋ = 90 offer reads in 80% of it.
        let room = 90
        #expect(Double(count - 10) / 5 > 20)
        try await CapacityWorld.with(listings: count, limits: CapacityWorld.production(browse: 5_000),
                                     extraConfig: CapacityWorld.quotaConfig(browse: 5_000), ebayRate: (requests: 5, burst: 10),
                                     jobs: ["sweep": CapacityWorld.job("research_days = 0", timeout: "20s")]) { w in
            let store = w.world.harness.store
            let sandbox = w.world.harness.sandbox.state
            let before = Dictionary(uniqueKeysWithValues: sandbox.listings.map { ($0.sku, $0) })
            try #require(before.count == count)

            let (run, status) = try await w.runPumping("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let decisions = try store.decisions(sweep: run.id)
            let firstSKUs = before.keys.sorted().prefix(room)
            #expect(Set(decisions.map(\.sku)) == Set(firstSKUs), "the never-checked listings by SKU, as many as the offer reads that fit")
            #expect(w.requests(.offers) == room, "one getOffers per selected listing, none for the \(count - room) carried")
            #expect(w.requests(.search) <= room)
            // Each decision is on the offer eBay has, at its live price.
            for decision in decisions {
                let live = try #require(before[decision.sku])
                #expect(decision.listingID == live.offerId && decision.oldPrice.micros == live.priceMicros, "\(decision.sku)")
            }
            // The snapshot: the selected listings completed, the rest still pending; the offers read are remembered.
            let snapshot = try store.sweepListings(sweep: run.id, marketplace: .ebay)
            #expect(snapshot.count == count)
            #expect(snapshot.filter(\.offerPending).count == count - room)
            #expect(snapshot.filter { !$0.offerPending }.allSatisfy { $0.listingID == before[$0.sku]?.offerId })
            #expect(try store.rememberedOffers(marketplace: .ebay).count == room)
            #expect(try store.coverage(marketplace: .ebay).count == room)
            #expect(run.summary?.hasSuffix("; limited by timeout") == true, "\(run.summary ?? "")")
            let plan = try #require(w.events.named("sweep-plan").first)
            #expect(plan["offer_reads_planned"] == "\(room)" && plan["offer_reads_room"] == "\(room)" && plan["limited_by"] == "timeout"
                    && plan["selected"] == "\(room)", "\(plan)")

            // The next night: the carried listings first; only their offers are read.
            w.clock.advance(to: QuotaTests.at(2026, 6, 11, 7, 1))
            let (next, nextStatus) = try await w.runPumping("sweep")
            #expect(nextStatus == .succeeded, "\(next.error ?? "")")
            #expect(w.requests(.offers) == count, "night 2 read only the \(count - room) offers night 1 did not")
            #expect(Set(try store.decisions(sweep: next.id).map(\.sku)).isSuperset(of: before.keys.sorted().dropFirst(room)))
            #expect(try store.coverage(marketplace: .ebay).count == count, "every listing checked within two nights")
        }
    }

    @Test("a SKU whose getOffers finds no published offer on the sweep's eBay site is not decided, leaves the snapshot, and waits its turn: the next run reads the never-checked SKUs first")
    func skuWithoutPublishedOffer() async throws {
        // The sandbox's offers are all on EBAY_US; the sweep's client asks for EBAY_GB.
        try await CapacityWorld.with(listings: 20, limits: .generous, ebayMarketplaceID: "EBAY_GB",
                                     jobs: ["sweep": CapacityWorld.job("max_listings_per_run = 10")]) { w in
            let store = w.world.harness.store
            let skus = w.world.harness.sandbox.state.listings.map(\.sku).sorted()
            try #require(skus.count == 20)
            let (first, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(first.error ?? "")")
            #expect(w.requests(.offers) == 10, "offers read only for the 10 selected")
            #expect(try store.decisions(sweep: first.id).isEmpty)
            let left = try store.sweepListings(sweep: first.id, marketplace: .ebay)
            #expect(left.map(\.sku) == Array(skus.dropFirst(10)) && left.allSatisfy(\.offerPending), "the 10 without an offer left the snapshot")
            #expect(Set(try store.coverage(marketplace: .ebay).keys) == Set(skus.prefix(10)))

            w.clock.advance(bySeconds: 3600)
            let (second, again) = try await w.run("sweep")
            #expect(again == .succeeded, "\(second.error ?? "")")
            #expect(w.requests(.offers) == 20, "the next run read the 10 never looked at, not the same 10 again")
            #expect(Set(try store.coverage(marketplace: .ebay).keys) == Set(skus))
            #expect(try store.sweepListings(sweep: second.id, marketplace: .ebay).map(\.sku) == Array(skus.prefix(10)))
        }
    }
}
