import FlipSyncCore
import FlipSyncStore
import Foundation
import Testing

/// The sync's SQLite ledger on its own: exactly-once order lines, the seeding rule, oversells,
/// expected quantities and push records.
@Suite(.timeLimit(.minutes(2))) struct SyncStoreTests {
    static func withStore(_ body: (SyncStore, String) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "flipsync-sync-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(try SyncStore(path: directory + "/flipsync.sqlite"), directory + "/flipsync.sqlite")
    }

    static func line(_ marketplace: MarketplaceName, _ order: String, sku: String, quantity: Int) -> OrderLine {
        OrderLine(marketplace: marketplace, orderID: order, lineID: order + "-1", sku: sku, quantity: quantity, placedAt: 0)
    }

    @Test func aLineSeenAgainChangesNothingEvenFromAnotherStoreOnTheSameFile() throws {
        try Self.withStore { store, path in
            try store.seed(["A": 5], from: .ebay, at: 0)
            let page = OrdersPage(lines: [Self.line(.ebay, "1", sku: "A", quantity: 2)], cursor: "c1")
            let first = try store.applyOrders(page, job: "sync", marketplace: .ebay, runID: 1, at: 1)
            // A second process (a re-run after a crash) reading the same overlapping page.
            let again = try SyncStore(path: path).applyOrders(
                OrdersPage(lines: page.lines + [Self.line(.ebay, "2", sku: "A", quantity: 1)], cursor: "c2"),
                job: "sync", marketplace: .ebay, runID: 2, at: 2)
            #expect(first == OrderApplication(applied: 1, duplicates: 0))
            #expect(again == OrderApplication(applied: 1, duplicates: 1))
            #expect(try store.onHand() == ["A": 2])
            #expect(try store.cursor(job: "sync", marketplace: .ebay) == "c2")
            #expect(try store.cursor(job: "other", marketplace: .ebay) == nil)
            #expect(try store.orderLineCount() == 2)
        }
    }

    @Test func theSameOrderIDOnAnotherMarketplaceIsAnotherLine() throws {
        try Self.withStore { store, _ in
            try store.seed(["A": 5], from: .ebay, at: 0)
            _ = try store.applyOrders(OrdersPage(lines: [Self.line(.ebay, "1", sku: "A", quantity: 1)], cursor: nil),
                                      job: "sync", marketplace: .ebay, runID: 1, at: 1)
            let other = try store.applyOrders(OrdersPage(lines: [Self.line(.amazon, "1", sku: "A", quantity: 1)], cursor: nil),
                                              job: "sync", marketplace: .amazon, runID: 1, at: 1)
            #expect(other.applied == 1)
            #expect(try store.onHand() == ["A": 3])
        }
    }

    @Test func aLineForMoreThanIsOnHandIsAnOversellAndOnHandGoesNegative() throws {
        try Self.withStore { store, _ in
            try store.seed(["A": 1], from: .ebay, at: 0)
            let result = try store.applyOrders(OrdersPage(lines: [Self.line(.shopify, "9", sku: "A", quantity: 3)], cursor: "x"),
                                               job: "sync", marketplace: .shopify, runID: 4, at: 1)
            let expected = Oversell(marketplace: .shopify, orderID: "9", lineID: "9-1", sku: "A", ordered: 3, onHand: 1)
            #expect(result.oversells == [expected])
            #expect(try store.oversells() == [expected])
            #expect(try store.onHand() == ["A": -2])
        }
    }

    @Test func seedingSubtractsEarlierLinesFromOtherChannelsOnlyAndHappensOnce() throws {
        try Self.withStore { store, _ in
            // Lines pulled before the SKU was ever seen: the stock source's own sale is already in its
            // live quantity, Amazon's is not.
            _ = try store.applyOrders(OrdersPage(lines: [Self.line(.ebay, "1", sku: "A", quantity: 1)], cursor: nil),
                                      job: "sync", marketplace: .ebay, runID: 1, at: 1)
            _ = try store.applyOrders(OrdersPage(lines: [Self.line(.amazon, "2", sku: "A", quantity: 2)], cursor: nil),
                                      job: "sync", marketplace: .amazon, runID: 1, at: 1)
            #expect(try store.onHand().isEmpty)
            #expect(try store.seed(["A": 9, "B": 4], from: .ebay, at: 2) == ["A", "B"])
            #expect(try store.onHand() == ["A": 7, "B": 4])
            // Seen again: left alone.
            #expect(try store.seed(["A": 100], from: .ebay, at: 3).isEmpty)
            #expect(try store.onHand() == ["A": 7, "B": 4])
        }
    }

    @Test func expectedQuantityFollowsPushesObservationsAndTheChannelsOwnOrders() throws {
        try Self.withStore { store, _ in
            try store.seed(["A": 10], from: .ebay, at: 0)
            let change = ListingChange(sku: "A", listingID: "L1", quantity: 8)
            let usd = Money(micros: 5_000_000, currency: .usd)
            try store.recordPlan(PushPlan(marketplace: .amazon, observed: ["A": 10],
                                          drift: [], intents: [PushIntent(change: change, liveQuantity: 10, livePrice: usd)], dryRun: false),
                                 job: "sync", runID: 1, at: 1)
            #expect(try store.expectedQuantities(marketplace: .amazon) == ["A": 10])
            #expect(try store.pushes(runID: 1).map(\.status) == ["intent"])
            try store.recordResults([PushResult(sku: "A", quantity: 8, outcome: .applied)], marketplace: .amazon, runID: 1, at: 2)
            #expect(try store.expectedQuantities(marketplace: .amazon) == ["A": 8])
            #expect(try store.pushes(runID: 1).map(\.status) == ["applied"])
            // An Amazon sale lowers what Amazon should show; an eBay sale does not.
            _ = try store.applyOrders(OrdersPage(lines: [Self.line(.amazon, "5", sku: "A", quantity: 3),
                                                         Self.line(.amazon, "6", sku: "A", quantity: 1)], cursor: nil),
                                      job: "sync", marketplace: .amazon, runID: 2, at: 3)
            _ = try store.applyOrders(OrdersPage(lines: [Self.line(.ebay, "7", sku: "A", quantity: 1)], cursor: nil),
                                      job: "sync", marketplace: .ebay, runID: 2, at: 3)
            #expect(try store.expectedQuantities(marketplace: .amazon) == ["A": 4])
            #expect(try store.onHand() == ["A": 5])
        }
    }

    @Test func driftAndRefusedPushesAreRecordedPerRun() throws {
        try Self.withStore { store, _ in
            let usd = Money(micros: 5_000_000, currency: .usd)
            let intent = PushIntent(change: ListingChange(sku: "B", listingID: "L2", quantity: 0), liveQuantity: 3, livePrice: usd)
            try store.recordPlan(PushPlan(marketplace: .shopify, observed: ["B": 3],
                                          drift: [Drift(sku: "B", live: 3, expected: 1, target: 0)], intents: [intent], dryRun: false),
                                 job: "sync", runID: 7, at: 1)
            try store.recordResults([PushResult(sku: "B", quantity: 0, outcome: .failed("locked"))], marketplace: .shopify, runID: 7, at: 2)
            #expect(try store.drift(runID: 7) == [.shopify: [Drift(sku: "B", live: 3, expected: 1, target: 0)]])
            #expect(try store.drift(runID: 8).isEmpty)
            let push = try #require(try store.pushes(runID: 7).first)
            #expect(push.status == "failed" && push.error == "locked")
            // A refused push leaves the expected quantity at what was seen.
            #expect(try store.expectedQuantities(marketplace: .shopify) == ["B": 3])
        }
    }
}
