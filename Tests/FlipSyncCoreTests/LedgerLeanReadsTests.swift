import Foundation
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit

/// The sweep's reads that hold a page, not the catalog: the selection's order made in SQLite,
/// the snapshot read by SKU pages, and remembered offers read for given SKUs. Each must give
/// what the whole-catalog read it replaces gives.
@Suite("Ledger: the sweep's lean reads (selection in SQLite, snapshot pages, offers by SKU)", .timeLimit(.minutes(2)))
struct LedgerLeanReadsTests {
    static func listing(_ sku: String) -> MarketplaceListing {
        MarketplaceListing(marketplace: .ebay, sku: sku, listingID: "L-" + sku, gtin: "0001", title: "Item " + sku, condition: .new,
                           price: usd("10.00"), quantity: 1)
    }

    /// 40 listings: 10 never checked, 10 checked by this sweep (9), 20 by earlier sweeps at
    /// times with ties (so SKU decides among them).
    func ledger() throws -> (RunStore, [MarketplaceListing], Scratch) {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        let listings = (0..<40).map { Self.listing(String(format: "SKU-%02d", ($0 * 17) % 40)) }.sorted { $0.sku < $1.sku }
        try store.saveSweepListings(listings, sweep: 9, marketplace: .ebay)
        for (index, listing) in listings.enumerated() where index % 4 != 0 {
            let sweep: Int64 = index % 4 == 1 ? 9 : 3
            try store.markChecked(marketplace: .ebay, skus: [listing.sku], sweep: sweep, at: Int64(1_000 + (index * 7) % 5))
        }
        // A listing checked but no longer in the snapshot is not selected.
        try store.markChecked(marketplace: .ebay, skus: ["GONE"], sweep: 3, at: 1)
        return (store, listings, scratch)
    }

    @Test("the SKUs selected in SQLite are capacity's selection for every max, in the README's coverage order")
    func selectionMatchesCapacity() throws {
        let (store, listings, scratch) = try ledger()
        defer { _ = scratch }
        let coverage = try store.coverage(marketplace: .ebay)
        for max in 0...41 {
            let lean = try store.sweepSKUsInCoverageOrder(sweep: 9, marketplace: .ebay, limit: max)
            let reference = RepricingSweepPlan.selected(listings, coverage: coverage, sweep: 9, max: max).map(\.sku)
            #expect(lean.sorted() == reference, "max \(max)")
        }
        func rank(_ sku: String) -> (Int, Int64, String) {
            guard let c = coverage[sku] else { return (1, 0, sku) }
            return c.sweep == 9 ? (0, 0, sku) : (2, c.lastChecked, sku)
        }
        let all = try store.sweepSKUsInCoverageOrder(sweep: 9, marketplace: .ebay, limit: 100)
        #expect(all == listings.map(\.sku).sorted { rank($0) < rank($1) })
        #expect(!all.contains("GONE") && all.count == 40)
    }

    /// One quota call per distinct GTIN (as eBay's GTIN searches count).
    final class PerGTIN: CompetitionCallCounter {
        var taken = Set<String>()
        func adding(_ l: MarketplaceListing, refreshGroup: Int) -> [QuotaKey: Int64] { [Self.browse: taken.contains(l.gtin ?? l.sku) ? 0 : 1] }
        func take(_ l: MarketplaceListing, refreshGroup: Int) { taken.insert(l.gtin ?? l.sku) }
        static let browse = QuotaKey(provider: "ebay", api: "browse")
    }

    @Test("the quota-sized walk through the ledger (coverage order, 1,000 listings a read, each page's SKUs and group keys added to the ledger's cut) selects what capacity does on the whole list, and the ledger cuts it as CompetitionGroupBuilder does, for every quota and max")
    func quotaWalkMatchesCapacity() async throws {
        let (store, base, scratch) = try ledger()
        defer { _ = scratch }
        // GTINs shared by 1–3 listings, some without a unit cost or out of stock (no read needed).
        let listings = base.enumerated().map { index, listing -> MarketplaceListing in
            var copy = listing
            copy.gtin = "G\(index % 17)"
            copy.quantity = index % 9 == 0 ? 0 : 1
            return copy
        }
        try store.saveSweepListings(listings, sweep: 9, marketplace: .ebay)
        let costs = Dictionary(uniqueKeysWithValues: listings.enumerated().filter { $0.offset % 7 != 3 }.map { ($0.element.sku, usd("4.00")) })
        try store.saveUnitCosts(costs, source: "test", at: 1)
        let coverage = try store.coverage(marketplace: .ebay)
        let (jobs, errors) = check(minimalRepricing)
        guard case .repricingSweep(let parameters)? = jobs.first?.parameters else {
            Issue.record("the job did not load: \(errors)")
            return
        }
        let plan = RepricingSweepPlan(parameters: parameters, marketplaces: [:], fees: [:], costSources: [:], ledger: store,
                                      clock: ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!))
        for calls in [0, 1, 3, 8, 17, 100] {
            for max in [nil, 5, 30] {
                let reference = try RepricingSweepPlan.capacity(listings, coverage: coverage, sweep: 9, max: max, counter: PerGTIN(),
                                                            remaining: [PerGTIN.browse: Int64(calls)],
                                                            needsRead: { costs[$0.sku] != nil && $0.quantity > 0 })
                try store.clearDecideCut(sweep: 9, marketplace: .ebay)
                let walked = try await plan.quotaSizedCut(sweep: 9, marketplace: .ebay, grouper: ByGTIN(), undecided: { _ in true }) { total in
                    CapacityWalk(total: total, max: max, counter: PerGTIN(), remaining: [PerGTIN.browse: Int64(calls)])
                }
                let count = try store.cutDecideWave(sweep: 9, marketplace: .ebay)
                let cut = try store.decideCutTasks(sweep: 9, marketplace: .ebay, tasks: 0..<count)
                var expected = CompetitionGroupBuilder<String>()
                for listing in reference.selected.sorted(by: { $0.sku < $1.sku }) { expected.add(listing.sku, key: ByGTIN().key(for: listing)) }
                let (expectedSKUs, expectedCut) = expected.build()
                #expect(cut.map(\.skus) == expectedCut.map { Array(expectedSKUs[$0.range]) } && cut.map(\.task) == Array(0..<count),
                        "calls \(calls), max \(String(describing: max))")
                #expect(walked.selectedCount == reference.selected.count && walked.limitedBy == reference.limitedBy
                        && walked.planned == reference.planned && walked.total == 40, "calls \(calls), max \(String(describing: max))")
            }
        }
    }

    struct ByGTIN: CompetitionGrouper {
        func key(for listing: MarketplaceListing) -> CompetitionGroupKey? { listing.gtin.map { CompetitionGroupKey($0) } }
    }

    @Test("a decide-cut row whose refresh holds text is an error naming the column, not a task read as refresh = false")
    func decideCutBadRowIsAnError() async throws {
        let (store, listings, scratch) = try ledger()
        defer { _ = scratch }
        try store.addToDecideCut(listings.prefix(3).map { DecideCutEntry(sku: $0.sku, key: nil) }, sweep: 9, marketplace: .ebay)
        let count = try store.cutDecideWave(sweep: 9, marketplace: .ebay)
        #expect(try store.decideCutTasks(sweep: 9, marketplace: .ebay, tasks: 0..<count).map(\.skus) == listings.prefix(3).map { [$0.sku] })
        try await store.writer.write { db in
            try db.execute(sql: "UPDATE decide_cut SET refresh = 'yes' WHERE sku = ?", arguments: [listings[1].sku])
        }
        #expect {
            try store.decideCutTasks(sweep: 9, marketplace: .ebay, tasks: 0..<count)
        } throws: { error in
            "\(error)".contains("refresh holds \"yes\"") && "\(error)".contains(scratch.path)
        }
    }

    @Test("the snapshot read in pages after a SKU is the whole snapshot, in the same order, once")
    func snapshotPages() throws {
        let (store, listings, scratch) = try ledger()
        defer { _ = scratch }
        for size in [1, 7, 40, 41] {
            var read: [MarketplaceListing] = []
            var after: String?
            while true {
                let page = try store.sweepListings(sweep: 9, marketplace: .ebay, after: after, limit: size)
                #expect(page.count <= size)
                read += page
                guard page.count == size, let last = page.last else { break }
                after = last.sku
            }
            #expect(read == listings, "page size \(size)")
            #expect(try store.sweepListings(sweep: 9, marketplace: .ebay) == read)
        }
        #expect(try store.sweepListings(sweep: 8, marketplace: .ebay, after: nil, limit: 10).isEmpty)
    }

    @Test("remembered offers read for some SKUs are those of the whole map, across statements of 500 SKUs")
    func offersBySKU() async throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        let offers = (0..<1_200).map {
            RememberedOffer(sku: "S\($0)", offerID: "O\($0)", marketplaceID: "EBAY_US", price: usd("\($0 % 50 + 1).99"),
                            availableQuantity: $0 % 3, domesticShippingCost: nil, fulfillmentPolicyID: "P1", updatedAt: Int64($0))
        }
        try await store.rememberOffers(marketplace: .ebay, offers)
        let whole = try store.rememberedOffers(marketplace: .ebay)
        let asked = (0..<1_100).map { "S\($0 * 2)" } + ["missing"]
        let some = try store.rememberedOffers(marketplace: .ebay, skus: asked)
        #expect(some.count == 600)
        #expect(some == whole.filter { asked.contains($0.key) })
        #expect(try store.rememberedOffers(marketplace: .ebay, skus: []).isEmpty)
        #expect(try store.rememberedOffers(marketplace: .amazon, skus: ["S1"]).isEmpty)
    }
}
