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
}
