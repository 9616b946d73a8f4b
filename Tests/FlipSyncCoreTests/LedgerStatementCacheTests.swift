import Foundation
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit

/// The sweep's per-task ledger reads and writes go through statements prepared once per
/// connection (`Database.cachedStatement`): a reused statement must bind each call's own
/// arguments, see every later write, and still refuse a row it cannot read.
@Suite("Ledger: per-task statements prepared once", .timeLimit(.minutes(2)))
struct LedgerStatementCacheTests {
    static func listing(_ sku: String, price: String) -> MarketplaceListing {
        MarketplaceListing(marketplace: .ebay, sku: sku, listingID: "L-" + sku, gtin: "0001", title: "Item " + sku, condition: .new,
                           price: usd(price), quantity: 2, shippingCharged: usd("3.99"))
    }

    @Test("repeated reads of one listing, one unit cost and a run's sweep see each call's arguments and every later write")
    func readsSeeWrites() async throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        try store.saveSweepListings([Self.listing("A1", price: "20.00"), Self.listing("B2", price: "12.00")], sweep: 7, marketplace: .ebay)
        for _ in 0..<3 {
            #expect(try store.sweepListing(sweep: 7, marketplace: .ebay, sku: "A1") == Self.listing("A1", price: "20.00"))
            #expect(try store.sweepListing(sweep: 7, marketplace: .ebay, sku: "B2") == Self.listing("B2", price: "12.00"))
            #expect(try store.sweepListing(sweep: 8, marketplace: .ebay, sku: "A1") == nil)
        }
        try await store.updateSweepListings([Self.listing("A1", price: "19.50")], removing: ["B2"], sweep: 7, marketplace: .ebay)
        #expect(try store.sweepListing(sweep: 7, marketplace: .ebay, sku: "A1") == Self.listing("A1", price: "19.50"))
        #expect(try store.sweepListing(sweep: 7, marketplace: .ebay, sku: "B2") == nil)

        try store.saveUnitCosts(["A1": usd("8.00"), "B2": usd("4.00")], source: "test", at: 1)
        #expect(try store.unitCost(sku: "A1") == usd("8.00") && store.unitCost(sku: "B2") == usd("4.00"))
        try store.saveUnitCosts(["A1": usd("7.25")], source: "test", at: 2)
        #expect(try store.unitCost(sku: "A1") == usd("7.25") && store.unitCost(sku: "C3") == nil)

        let first = try #require(try store.recordFire(job: "sweep", kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                      status: .queued, skipReason: nil, summary: nil, at: 1_000, resumes: nil))
        let second = try #require(try store.recordFire(job: "sweep", kind: "repricing-sweep", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                       status: .queued, skipReason: nil, summary: nil, at: 2_000, resumes: first.id))
        #expect(try store.sweepID(ofRun: second.id) == first.id && store.sweepID(ofRun: first.id) == first.id)
        try store.markRunning(runID: first.id, at: 1_500)
        #expect(try store.runStartedAt(runID: first.id) == 1_500 && store.runStartedAt(runID: second.id) == nil)
    }

    @Test("a decision saved again for the same listing replaces it; coverage marked again moves forward")
    func writesBindTheirOwnArguments() async throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        var a = DecisionLedgerTests.decision("A1", old: "20.00", new: "18.50")
        let b = DecisionLedgerTests.decision("B2", old: "10.00", new: "9.00")
        try await store.saveDecision(a, sweep: 3)
        try await store.saveDecision(b, sweep: 3)
        a.newPrice = usd("18.00")
        try await store.saveDecision(a, sweep: 3)
        #expect(try store.decisions(sweep: 3) == [a, b])

        try store.markChecked(marketplace: .ebay, skus: ["A1", "B2"], sweep: 3, at: 100)
        try store.markChecked(marketplace: .ebay, skus: ["A1"], sweep: 4, at: 200)
        let coverage = try store.coverage(marketplace: .ebay)
        #expect(coverage["A1"]?.lastChecked == 200 && coverage["B2"]?.lastChecked == 100 && coverage.count == 2)
    }

    @Test("a listing row this build cannot read is an error naming the row through the prepared statement too")
    func badRowStillNamed() throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        do {
            let store = try RunStore(path: path)
            try store.saveSweepListings([Self.listing("A1", price: "20.00")], sweep: 7, marketplace: .ebay)
            #expect(try store.sweepListing(sweep: 7, marketplace: .ebay, sku: "A1") != nil)
        }
        try ledgerConnection(path).write { db in try db.execute(sql: "UPDATE sweep_listings SET condition = 'mint'") }
        let store = try RunStore(path: path)
        let error = #expect(throws: (any Error).self) { try store.sweepListing(sweep: 7, marketplace: .ebay, sku: "A1") }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("sweep_listings row") && text.contains("\"A1\"") && text.contains("mint"), "\(text)")
    }
}
