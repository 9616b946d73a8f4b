import Synchronization

/// A sweep plan's view of the remembered searches: its grouper and its call counter are each
/// told every page of listings (`prepare`) one after the other, and each reads that page's
/// searches (`rememberedSearches(marketplace:subjects:)`, the same subjects). Here the second
/// read is answered from the first: the last answer is kept (one page's), and only while the
/// same question comes again. Only the plan uses it; nothing writes searches while it plans,
/// and every write through it forgets the kept answer all the same.
public final class PlanningSearchMemo: CompetitorMemory, Sendable {
    private struct Answer {
        var marketplace: MarketplaceName
        var subjects: [String]
        var searches: [String: RememberedSearch]
    }

    public let memory: any CompetitorMemory
    private let last = Mutex<Answer?>(nil)
    /// Questions answered by the memory itself (for tests).
    public let reads = Atomic(0)

    public init(_ memory: any CompetitorMemory) {
        self.memory = memory
    }

    public func rememberedSearches(marketplace: MarketplaceName, subjects: [String]) throws -> [String: RememberedSearch] {
        if let kept = last.withLock({ $0 }), kept.marketplace == marketplace, kept.subjects == subjects { return kept.searches }
        let searches = try memory.rememberedSearches(marketplace: marketplace, subjects: subjects)
        reads.add(1, ordering: .relaxed)
        last.withLock { $0 = Answer(marketplace: marketplace, subjects: subjects, searches: searches) }
        return searches
    }

    public func rememberedSearches(marketplace: MarketplaceName) throws -> [String: RememberedSearch] {
        try memory.rememberedSearches(marketplace: marketplace)
    }

    public func rememberSearch(marketplace: MarketplaceName, key: String, _ search: RememberedSearch) async throws {
        last.withLock { $0 = nil }
        try await memory.rememberSearch(marketplace: marketplace, key: key, search)
    }

    public func forgetItems(marketplace: MarketplaceName, itemIDs: [String]) throws {
        last.withLock { $0 = nil }
        try memory.forgetItems(marketplace: marketplace, itemIDs: itemIDs)
    }
}
