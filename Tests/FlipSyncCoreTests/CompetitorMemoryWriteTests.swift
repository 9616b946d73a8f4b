import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit
import GRDB
import Testing

/// What `rememberSearch` writes: a search found again with the same ids writes only its time.
@Suite("Competitor memory: a search found again unchanged rewrites no id", .timeLimit(.minutes(1)))
struct CompetitorMemoryWriteTests {
    /// Rows the writer connection has changed so far (SQLite's `total_changes()`).
    private func changes(_ store: RunStore) throws -> Int {
        try store.writer.write { db in db.totalChangesCount }
    }

    @Test("the same ids (duplicates dropped) change one row, the search's time; a new order, a new id or one id fewer rewrites the ids, and they read back as given")
    func unchangedSearchWritesItsTimeOnly() async throws {
        let store = try RunStore(path: TestScratch.file("competitors.sqlite"))
        try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x", "y", "x", "z"], searchedAt: 100))
        var before = try changes(store)
        try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x", "y", "x", "z"], searchedAt: 200))
        #expect(try changes(store) - before == 1)
        #expect(try store.rememberedSearches(marketplace: .ebay)["0123|1000"] == RememberedSearch(itemIDs: ["x", "y", "z"], searchedAt: 200))

        // The same ids without the duplicate: positions 0, 1, 2 where they were 0, 1, 3.
        for (ids, at) in [(["x", "y", "z"], Int64(300)), (["y", "x", "z"], 400), (["y", "x", "z", "w"], 500), (["y", "x"], 600), ([], 700)] {
            before = try changes(store)
            try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ids, searchedAt: at))
            #expect(try changes(store) - before > 1, "\(ids)")
            #expect(try store.rememberedSearches(marketplace: .ebay)["0123|1000"] == RememberedSearch(itemIDs: ids, searchedAt: at))
        }
        before = try changes(store)
        try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: [], searchedAt: 800))
        #expect(try changes(store) - before == 1)
    }

    @Test("a remembered id whose row does not decode is rewritten, not an error")
    func corruptedItemIsRewritten() async throws {
        let store = try RunStore(path: TestScratch.file("competitors.sqlite"))
        try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x", "y"], searchedAt: 100))
        try await store.writer.write { db in
            try db.execute(sql: "UPDATE competitor_items SET position = 'first' WHERE item_id = 'x'")
        }
        try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x", "y"], searchedAt: 200))
        #expect(try store.rememberedSearches(marketplace: .ebay)["0123|1000"] == RememberedSearch(itemIDs: ["x", "y"], searchedAt: 200))
    }
}
