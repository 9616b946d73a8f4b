import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Testing

/// A resumed sweep checks each `sending` decision's live price (`activeListings`) before sending
/// it again. For eBay that read trusts the remembered offers (`listing_offers`), which `apply`
/// forgets while a price call is out, so an interrupted call is judged on eBay's price.
@Suite("eBay: the live check after an interrupted price call", .timeLimit(.minutes(3)))
struct EbayResumeResendTests {
    @Test("a stale offer id re-read, the resend landing and its answer lost: the next read shows the price that landed")
    func staleOfferResendInterrupted() async throws {
        try await CapacityWorld.with(listings: 30, limits: .generous, jobs: ["sweep": CapacityWorld.job()]) { w in
            let store = w.world.harness.store
            let sandbox = w.world.harness.sandbox.state
            let (first, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(first.error ?? "")")
            let snapshot = try store.sweepListings(sweep: first.id, marketplace: .ebay)
            let ebay = try #require(w.world.services.marketplaces[.ebay] as? EbayMarketplace)
            // The SKU's offer id is stale (eBay answers 25713); its re-read offer is sent the change
            // again, and that second call lands but its answer is cut off (the process could as well
            // have died there).
            let target = try #require(snapshot.first)
            try #require(sandbox.replaceOffer(sku: target.sku) != nil)
            sandbox.inject(SandboxFault(route: .bulkUpdate, remaining: 1, kind: "first call passes"))
            sandbox.inject(SandboxFault(route: .bulkUpdate, remaining: 1, malformed: true))
            let newPrice = Money(micros: target.price.micros + 1_000_000, currency: target.price.currency)
            await #expect(throws: (any Error).self) {
                _ = try await ebay.apply([ListingChange(sku: target.sku, listingID: target.listingID, price: newPrice)])
            }
            #expect(sandbox.listing(sku: target.sku)?.priceMicros == newPrice.micros, "the resend landed")
            // What the resumed run's live check reads must be eBay's price, not the one read before
            // the resend: otherwise the same price is sent again.
            let remembered = try store.rememberedOffers(marketplace: .ebay)[target.sku]
            let live = try await ebay.activeListings().first { $0.sku == target.sku }
            // The stale-offer path must not remember the re-read (pre-change) offer while the
            // resend is out: an interrupted resend would then look not yet live.
            #expect(remembered == nil || remembered?.price == newPrice, "remembered \(String(describing: remembered?.price)) while the call was out")
            #expect(live?.price == newPrice)
        }
    }
}
