import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Testing

@Suite("eBay: one Browse search per GTIN, split by condition", .timeLimit(.minutes(3)))
struct EbayConditionSplitTests {
    @Test("listings sharing a GTIN in two conditions: one search for the GTIN, each priced only against offers in its own condition")
    func oneSearchPerGTINSplitByCondition() async throws {
        try await CapacityWorld.with(listings: 60, seed: 11, sharedGTINPercent: 60, limits: .generous,
                                     jobs: ["sweep": CapacityWorld.job()]) { w in
            let store = w.world.harness.store
            let (run, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(run.error ?? "")")
            let snapshot = try store.sweepListings(sweep: run.id, marketplace: .ebay)
            let reading = try snapshot.filter { try w.needsRead($0) }
            // Exactly one search per distinct GTIN, whatever the conditions its listings are in.
            #expect(w.requests(.search) == Set(reading.compactMap(\.gtin)).count)
            let byGTIN = Dictionary(grouping: reading.filter { $0.gtin != nil }, by: { $0.gtin! })
            let mixed = byGTIN.filter { Set($0.value.map(\.condition)).count > 1 }
            try #require(!mixed.isEmpty, "the catalog must have a GTIN listed in two conditions, both read")
            #expect(w.requests(.search) < reading.count)

            let decisions = Dictionary(try store.decisions(sweep: run.id).map { ($0.sku, $0) }, uniquingKeysWith: { a, _ in a })
            var differing = 0
            for listing in mixed.values.flatMap({ $0 }) {
                let decision = try #require(decisions[listing.sku])
                // The lowest eligible offer the sandbox has for this GTIN in exactly this condition (what a
                // search filtered by this condition alone would give).
                let eligible = w.world.harness.sandbox.state.competitors(gtin: listing.gtin!).filter {
                    EbayCondition.condition(id: $0.condition.id) == listing.condition
                        && (Double($0.feedbackPercentage) ?? 0) >= 95.0 && $0.currency == "USD"
                }
                #expect(decision.lowestCompetitorLanded?.micros == eligible.map(\.landedMicros).min(), "\(listing.sku) \(listing.condition)")
                #expect(decision.offersConsidered == eligible.count, "\(listing.sku)")
                // Offers of the GTIN's other listings' conditions never reach this listing's decision.
                #expect(decision.offersExcluded[.otherCondition, default: 0] == 0, "\(listing.sku): \(decision.offersExcluded)")
                let all = w.world.harness.sandbox.state.competitors(gtin: listing.gtin!)
                if all.contains(where: { EbayCondition.condition(id: $0.condition.id) != listing.condition }) { differing += 1 }
            }
            #expect(differing > 0, "some GTIN has offers in a condition other than a listing's own")
            // The decided prices: a followed-competition price's landed price is at most L − undercut (1% default) and
            // every decided price stays at or above the floor.
            for listing in mixed.values.flatMap({ $0 }) {
                let d = try #require(decisions[listing.sku])
                if let new = d.newPrice?.micros, let floor = d.floor?.micros { #expect(new >= floor) }
                if d.reason == .followedCompetition, let new = d.newPrice?.micros, let low = d.lowestCompetitorLanded?.micros {
                    #expect(new + (d.shippingCharged?.micros ?? 0) <= low, "\(listing.sku)")
                }
            }
        }
    }
}
