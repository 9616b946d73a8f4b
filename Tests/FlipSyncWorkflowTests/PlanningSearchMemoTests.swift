import FlipSyncCore
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import Synchronization
import Testing

/// The ledger's remembered searches, counting the lookups by subject that reach it.
private final class CountingMemory: CompetitorMemory, Sendable {
    let store: RunStore
    let lookups = Atomic(0)
    init(_ store: RunStore) { self.store = store }
    func rememberedSearches(marketplace: MarketplaceName) throws -> [String: RememberedSearch] {
        try store.rememberedSearches(marketplace: marketplace)
    }
    func rememberedSearches(marketplace: MarketplaceName, subjects: [String]) throws -> [String: RememberedSearch] {
        lookups.add(1, ordering: .relaxed)
        return try store.rememberedSearches(marketplace: marketplace, subjects: subjects)
    }
    func rememberSearch(marketplace: MarketplaceName, key: String, _ search: RememberedSearch) async throws {
        try await store.rememberSearch(marketplace: marketplace, key: key, search)
    }
    func forgetItems(marketplace: MarketplaceName, itemIDs: [String]) throws {
        try store.forgetItems(marketplace: marketplace, itemIDs: itemIDs)
    }
}

@Suite("The plan's remembered searches: one read per page for its grouper and call counter", .timeLimit(.minutes(1)))
struct PlanningSearchMemoTests {
    @Test("the same question twice is read once; another question, another marketplace, or a write in between read again, and the answer is the ledger's")
    func answersTheRepeatOnly() async throws {
        let path = TestScratch.file("memo.sqlite")
        let store = try RunStore(path: path)
        try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["a", "b"], searchedAt: 10))
        try await store.rememberSearch(marketplace: .ebay, key: "0456|1000", RememberedSearch(itemIDs: ["c"], searchedAt: 11))
        let counting = CountingMemory(store)
        let memo = PlanningSearchMemo(counting)

        let page = try memo.rememberedSearches(marketplace: .ebay, subjects: ["0123", "0456"])
        #expect(try memo.rememberedSearches(marketplace: .ebay, subjects: ["0123", "0456"]) == page)
        #expect(counting.lookups.load(ordering: .relaxed) == 1 && memo.reads.load(ordering: .relaxed) == 1)
        #expect(page == (try store.rememberedSearches(marketplace: .ebay, subjects: ["0123", "0456"])) && page.count == 2)

        _ = try memo.rememberedSearches(marketplace: .ebay, subjects: ["0456"])
        _ = try memo.rememberedSearches(marketplace: .amazon, subjects: ["0456"])
        _ = try memo.rememberedSearches(marketplace: .ebay, subjects: ["0123", "0456"])
        #expect(counting.lookups.load(ordering: .relaxed) == 4, "only the last answer is kept")

        try await memo.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["z"], searchedAt: 20))
        let after = try memo.rememberedSearches(marketplace: .ebay, subjects: ["0123", "0456"])
        #expect(counting.lookups.load(ordering: .relaxed) == 5 && after["0123|1000"] == RememberedSearch(itemIDs: ["z"], searchedAt: 20))
        try memo.forgetItems(marketplace: .ebay, itemIDs: ["c"])
        #expect(try memo.rememberedSearches(marketplace: .ebay, subjects: ["0123", "0456"])["0456|1000"]?.itemIDs == [])
        #expect(counting.lookups.load(ordering: .relaxed) == 6)
    }
}
