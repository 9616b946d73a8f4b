import Dispatch
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit
import GRDB
import Synchronization
import Testing

/// A decide task's remembered state (offers, searches, the snapshot's completed listings) goes
/// behind it: queued in the group commit, not waited for one by one; `WriteBehind.run` returns
/// once all of it is committed, and fails when any of it failed.
@Suite("Write behind: a task's remembered state is committed behind it, and its failure is the task's", .timeLimit(.minutes(1)))
struct WriteBehindTests {
    /// Waits (at most 20 s) until `flag` is set; whether it was.
    private func waitFor(_ flag: Flag) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while !flag.isSet, ContinuousClock.now < deadline { await Task.yield() }
        return flag.isSet
    }

    private let offer = RememberedOffer(sku: "A1", offerID: "o-1", marketplaceID: "EBAY_US", price: Money(micros: 12_500_000, currency: .usd),
                                        availableQuantity: 3, domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 100)

    @Test("with the drainer held, the writes return at once and are not yet visible; run returns once they are committed")
    func writesDoNotWaitForTheirCommit() async throws {
        let store = try RunStore(path: TestScratch.file("behind.sqlite"))
        let gate = DispatchSemaphore(value: 0)
        let entered = Flag(), passed = Flag()
        async let held: Void = store.groupWrite { _ in
            entered.value.store(true, ordering: .releasing)
            gate.wait()
        }
        #expect(await waitFor(entered))
        let spend = try SpendLedger(store: store, budgets: SpendBudgets(currency: .usd, timezone: .utc),
                                    clock: ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!))
        async let task: Int = WriteBehind.run {
            try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x", "y"], searchedAt: 100))
            try await store.rememberOffers(marketplace: .ebay, [offer])
            await spend.record(MeteredCall(provider: "ebay", operation: "browse.item_summary.search", cost: Money(micros: 2_500, currency: .usd),
                                           status: 200), settling: nil)
            try await store.saveDecisions([decision], sweep: 1, checkedAt: 200)
            passed.value.store(true, ordering: .releasing)
            return 7
        }
        let returned = await waitFor(passed)
        #expect(returned, "a write under WriteBehind.run waited for its commit")
        #expect(store.group.waiting == 4)
        #expect(try store.rememberedSearches(marketplace: .ebay).isEmpty)
        #expect(try store.rememberedOffers(marketplace: .ebay).isEmpty)
        #expect(try spendRows(store) == 0)
        #expect(try store.decisions(sweep: 1, marketplace: .ebay, skus: ["A1"]).isEmpty)
        gate.signal()
        #expect(try await task == 7)
        try await held
        #expect(try store.rememberedSearches(marketplace: .ebay)["0123|1000"] == RememberedSearch(itemIDs: ["x", "y"], searchedAt: 100))
        #expect(try store.rememberedOffers(marketplace: .ebay)["A1"]?.offerID == "o-1")
        #expect(try spendRows(store) == 1)
        #expect(try store.decisions(sweep: 1, marketplace: .ebay, skus: ["A1"]).map(\.newPrice) == [decision.newPrice])
    }

    private func spendRows(_ store: RunStore) throws -> Int {
        try store.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM spend") ?? -1 }
    }

    private let decision = PricingDecision(
        sku: "A1", marketplace: .ebay, listingID: "L1", oldPrice: Money(micros: 12_500_000, currency: .usd),
        newPrice: Money(micros: 11_990_000, currency: .usd), floor: Money(micros: 9_000_000, currency: .usd), ceiling: nil,
        lowestCompetitorLanded: Money(micros: 12_000_000, currency: .usd), buyBox: nil, offersConsidered: 1, offersExcluded: [:],
        strategy: .beatLowest, reason: .followedCompetition, explanation: "test")

    @Test("a spend row that fails is told (not counted), and does not fail the run")
    func failedSpendRowIsTold() async throws {
        let store = try RunStore(path: TestScratch.file("behind.sqlite"))
        let told = Mutex<[SpendEvent]>([])
        let spend = try SpendLedger(store: store, budgets: SpendBudgets(currency: .usd, timezone: .utc),
                                    clock: ManualClock(Timestamp(parsing: "2026-11-25T12:00:00Z")!),
                                    onEvent: { event in told.withLock { $0.append(event) } })
        try await store.writer.write { db in try db.execute(sql: "DROP TABLE spend") }
        try await WriteBehind.run {
            await spend.record(MeteredCall(provider: "ebay", operation: "browse.item_summary.search", cost: Money(micros: 2_500, currency: .usd),
                                           status: 200), settling: nil)
        }
        let events = told.withLock { $0 }
        #expect(events.count == 1)
        if case .notCounted(let reason)? = events.first { #expect(reason.contains("not recorded")) } else { Issue.record("\(events)") }
    }

    @Test("a write that fails fails the run with the ledger's error, after the body; the other writes commit")
    func failedWriteFailsTheRun() async throws {
        let store = try RunStore(path: TestScratch.file("behind.sqlite"))
        try await store.writer.write { db in try db.execute(sql: "DROP TABLE competitor_items") }
        let finished = Flag()
        await #expect(throws: LedgerError.self) {
            try await WriteBehind.run {
                try await store.rememberOffers(marketplace: .ebay, [offer])
                try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x"], searchedAt: 100))
                finished.value.store(true, ordering: .releasing)
            }
        }
        #expect(finished.isSet)
        #expect(try store.rememberedOffers(marketplace: .ebay)["A1"]?.offerID == "o-1")
    }

    @Test("the body's own error comes first, once its writes are settled")
    func bodyErrorWins() async throws {
        struct Stop: Error {}
        let store = try RunStore(path: TestScratch.file("behind.sqlite"))
        try await store.writer.write { db in try db.execute(sql: "DROP TABLE competitor_items") }
        await #expect(throws: Stop.self) {
            try await WriteBehind.run {
                try await store.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x"], searchedAt: 100))
                try await store.rememberOffers(marketplace: .ebay, [offer])
                throw Stop()
            }
        }
        // Settled before run returned: the offer is there without waiting.
        #expect(try store.rememberedOffers(marketplace: .ebay)["A1"]?.offerID == "o-1")
        #expect(store.group.waiting == 0)
    }

    @Test("outside run, a write waits for its commit, as before")
    func outsideRunWaits() async throws {
        let store = try RunStore(path: TestScratch.file("behind.sqlite"))
        #expect(WriteBehind.current == nil)
        try await store.rememberOffers(marketplace: .ebay, [offer])
        #expect(try store.rememberedOffers(marketplace: .ebay)["A1"]?.offerID == "o-1")
    }
}

extension Flag {
    var isSet: Bool { value.load(ordering: .acquiring) }
}
