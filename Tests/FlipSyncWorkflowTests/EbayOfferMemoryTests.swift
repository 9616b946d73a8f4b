import FlipSyncCore
@testable import FlipSyncMarketplaces
import FlipSyncSandbox
import FlipSyncStore
import Testing

@Suite("eBay: offer ids remembered in the ledger", .timeLimit(.minutes(3)))
struct EbayOfferMemoryTests {
    @Test("the second sweep makes no getOffers for SKUs it knows; a stale offer id is forgotten, re-read once and the change lands")
    func offersRememberedAndStaleRecovered() async throws {
        try await CapacityWorld.with(listings: 30, limits: .generous, jobs: ["sweep": CapacityWorld.job()]) { w in
            let store = w.world.harness.store
            let sandbox = w.world.harness.sandbox.state
            let (first, status) = try await w.run("sweep")
            #expect(status == .succeeded, "\(first.error ?? "")")
            let snapshot = try store.sweepListings(sweep: first.id, marketplace: .ebay)
            try #require(snapshot.count > 10)
            let afterFirst = w.requests(.offers)
            #expect(afterFirst == sandbox.listings.count, "one getOffers per SKU the first time")
            let remembered = try store.rememberedOffers(marketplace: .ebay)
            #expect(remembered.count == snapshot.count)
            #expect(snapshot.allSatisfy { remembered[$0.sku]?.offerID == $0.listingID })

            w.clock.advance(bySeconds: 3600)
            let (second, again) = try await w.run("sweep")
            #expect(again == .succeeded, "\(second.error ?? "")")
            #expect(w.requests(.offers) == afterFirst, "the second sweep read no offer it knew")
            // The same listings, prices and quantities as a live read gives.
            let secondSnapshot = try store.sweepListings(sweep: second.id, marketplace: .ebay)
            for listing in secondSnapshot {
                let live = try #require(sandbox.listing(sku: listing.sku))
                #expect(listing.listingID == live.offerId && listing.price.micros == live.priceMicros && listing.quantity == live.quantity,
                        "\(listing.sku)")
            }

            // eBay gives the SKU a new offer: the remembered id is stale.
            let ebay = try #require(w.world.services.marketplaces[.ebay] as? EbayMarketplace)
            let target = snapshot[0], other = snapshot[1]
            let oldID = target.listingID
            let newID = try #require(sandbox.replaceOffer(sku: target.sku))
            let bulkBefore = w.requests(.bulkUpdate), offersBefore = w.requests(.offers)
            let newPrice = Money(micros: target.price.micros + 1_000_000, currency: target.price.currency)
            let otherPrice = Money(micros: other.price.micros + 1_000_000, currency: other.price.currency)
            let results = try await ebay.apply([ListingChange(sku: target.sku, listingID: oldID, price: newPrice),
                                                ListingChange(sku: other.sku, listingID: other.listingID, price: otherPrice)])
            #expect(results.map(\.outcome) == [.applied, .applied], "\(results)")
            #expect(results[0].listingID == newID)
            #expect(sandbox.listing(sku: target.sku)?.priceMicros == newPrice.micros)
            #expect(sandbox.listing(sku: other.sku)?.priceMicros == otherPrice.micros)
            #expect(w.requests(.offers) == offersBefore + 1, "only the stale SKU's offer is read again, once")
            #expect(w.requests(.bulkUpdate) == bulkBefore + 2, "the batch, then the stale SKU alone")
            let now = try store.rememberedOffers(marketplace: .ebay)
            #expect(now[target.sku]?.offerID == newID && now[target.sku]?.price == newPrice)
            #expect(now[other.sku]?.price == otherPrice, "an applied price is what is remembered")
            // The next read uses the new id without asking eBay.
            let listings = try await ebay.activeListings()
            #expect(listings.first { $0.sku == target.sku }?.listingID == newID)
            #expect(listings.first { $0.sku == target.sku }?.price == newPrice)
            #expect(w.requests(.offers) == offersBefore + 1)
        }
    }

    @Test("a listings read cut off part way (a run's timeout) keeps the offers it read, so the next read makes getOffers only for the rest")
    func offersRememberedAsRead() async throws {
        try await CapacityWorld.with(listings: 30, limits: .generous, ebayRate: (requests: 5, burst: 10), jobs: ["sweep": CapacityWorld.job()]) { w in
            let store = w.world.harness.store
            let base = try #require(w.world.services.marketplaces[.ebay] as? EbayMarketplace)
            let ebay = EbayMarketplace(client: base.client, offerReadsInFlight: 8, offerMemory: store, clock: w.clock, rememberEvery: 2)
            // 5/s with a bucket of 10 on a clock that does not move: the read stops when the bucket
            // is spent; once its 8 readers all wait for a token, no request is in flight.
            let cut = Task { try await ebay.activeListings() }
            await w.clock.waitForSleepers(8)
            cut.cancel()
            await #expect(throws: (any Error).self) { try await cut.value }
            let total = w.world.harness.sandbox.state.listings.count
            let readBefore = w.requests(.offers)
            let kept = try store.rememberedOffers(marketplace: .ebay)
            #expect(kept.count >= 2 && kept.count <= readBefore && readBefore < total, "read \(readBefore), kept \(kept.count)")

            // The next read, with the clock moved to each wait's end: only the SKUs not kept are read.
            let clock = w.clock
            let pump = Task {
                while !Task.isCancelled {
                    await clock.waitForSleepers(1)
                    if Task.isCancelled { return }
                    if let next = clock.nextWakeWallMilliseconds { clock.advance(byMilliseconds: max(1, next - clock.wallMilliseconds())) }
                }
            }
            let listings = try await ebay.activeListings()
            pump.cancel()
            #expect(listings.count == total)
            #expect(w.requests(.offers) == readBefore + (total - kept.count))
            #expect(try store.rememberedOffers(marketplace: .ebay).count == total)
        }
    }
}
