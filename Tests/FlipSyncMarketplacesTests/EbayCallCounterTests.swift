import FlipSyncCore
@testable import FlipSyncMarketplaces
import Testing

@Suite("eBay: the Browse and getItems calls a sweep's listings take", .timeLimit(.minutes(1)))
struct EbayCallCounterTests {
    static func listing(_ sku: String, gtin: String?, condition: ItemCondition = .new) -> MarketplaceListing {
        MarketplaceListing(marketplace: .ebay, sku: sku, listingID: sku, gtin: gtin, title: "Acme widget \(sku)", condition: condition,
                           price: Money(micros: 10_000_000, currency: .usd), quantity: 1)
    }

    @Test("a search per distinct GTIN whatever the condition, as many pages as last time; fresh searches by getItems, 20 ids a call across GTINs; a keyword search without GTIN")
    func counts() throws {
        let browse = EbayCallCounter.browse, getItems = EbayCallCounter.getItems
        let a = Self.listing("A", gtin: "111"), a2 = Self.listing("A2", gtin: "111"), used = Self.listing("AU", gtin: "111", condition: .used)
        let big = Self.listing("B", gtin: "222"), f1 = Self.listing("F1", gtin: "333"), f2 = Self.listing("F2", gtin: "444")
        let bare = Self.listing("N", gtin: nil)
        let key = { (l: MarketplaceListing) in try #require(EbayMarketplace.searchKey(l)) }
        let remembered: [String: RememberedSearch] = [
            try key(big): RememberedSearch(itemIDs: (0..<250).map { "b\($0)" }, searchedAt: 100),   // stale: 2 pages
            try key(f1): RememberedSearch(itemIDs: (0..<15).map { "x\($0)" }, searchedAt: 900),
            try key(f2): RememberedSearch(itemIDs: (10..<22).map { "x\($0)" }, searchedAt: 900),   // 5 ids shared with F1
        ]
        let counter = EbayCallCounter(remembered: remembered, refreshSince: 500, titleMatches: false, maxResultsPerSearch: 400)
        func take(_ l: MarketplaceListing) -> [QuotaKey: Int64] {
            let adds = counter.adding(l)
            counter.take(l)
            return adds
        }
        #expect(take(a) == [browse: 1, getItems: 0])   // never searched: one page
        #expect(take(a2) == [browse: 0, getItems: 0])  // same search
        #expect(take(used) == [browse: 0, getItems: 0]) // another condition: the same search (split by conditionId)
        #expect(take(big) == [browse: 2, getItems: 0])  // 250 results last time: two pages of 200
        #expect(take(f1) == [browse: 0, getItems: 1])   // 15 ids: one getItems call
        #expect(take(f2) == [browse: 0, getItems: 1])   // 7 new ids: 22 in all, ⌈22/20⌉ = 2
        #expect(take(bare) == [browse: 1, getItems: 0]) // no GTIN: its keyword search
        let capped = EbayCallCounter(remembered: remembered, refreshSince: 500, titleMatches: true, maxResultsPerSearch: 200)
        #expect(capped.adding(big) == [browse: 2, getItems: 0])  // one page at most, plus the keyword search
    }

    @Test("getItems ids are pooled within a refresh group only: a new group starts an empty pool, the old group's ids count again")
    func refreshGroups() throws {
        let getItems = EbayCallCounter.getItems
        let f1 = Self.listing("F1", gtin: "333"), f2 = Self.listing("F2", gtin: "444"), f3 = Self.listing("F3", gtin: "555")
        let key = { (l: MarketplaceListing) in try #require(EbayMarketplace.searchKey(l)) }
        let remembered: [String: RememberedSearch] = [
            try key(f1): RememberedSearch(itemIDs: (0..<15).map { "x\($0)" }, searchedAt: 900),
            try key(f2): RememberedSearch(itemIDs: (10..<22).map { "x\($0)" }, searchedAt: 900),   // 5 ids shared with F1
            try key(f3): RememberedSearch(itemIDs: (0..<15).map { "x\($0)" } + ["x15"], searchedAt: 900),
        ]
        let counter = EbayCallCounter(remembered: remembered, refreshSince: 500, titleMatches: false, maxResultsPerSearch: 400)
        func take(_ l: MarketplaceListing, _ group: Int) -> Int64? {
            let adds = counter.adding(l, refreshGroup: group)
            counter.take(l, refreshGroup: group)
            return adds[getItems]
        }
        #expect(take(f1, 0) == 1)   // 15 ids
        #expect(counter.adding(f2, refreshGroup: 0)[getItems] == 1)   // pooled with F1: 22 ids, ⌈22/20⌉ − 1
        #expect(counter.adding(f2, refreshGroup: 1)[getItems] == 1)   // alone in a new group: 12 ids
        #expect(take(f2, 1) == 1)
        #expect(take(f3, 1) == 1)   // 10 of its 16 ids are new to group 1: 22 ids, ⌈22/20⌉ − 1
        #expect(take(f1, 2) == 1)   // group 2 starts empty: F1's 15 ids count again
    }
}
