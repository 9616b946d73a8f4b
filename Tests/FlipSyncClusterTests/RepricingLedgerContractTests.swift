import FlipSyncCore
@testable import FlipSyncPostgres
import FlipSyncStore
import FlipSyncTestKit
import Foundation
import GRDB
import PostgresNIO
import Synchronization
import Testing

/// One store's repricing ledger, with its run ledger (for resumed chains and start times) and a
/// way to run one statement straight on its database (to plant a row FlipSync would never write).
private struct RepricingStores: Sendable {
    let runs: any RunLedger
    let ledger: any RepricingLedger & OfferMemory & CompetitorMemory & MatchCache
    let execute: @Sendable (String) throws -> Void
}

extension StoreKind {
    /// A new, empty repricing ledger of this kind: the SQLite `RunStore`, or a
    /// `PostgresRepricingLedger` on a fresh database of the suite's server.
    fileprivate func makeRepricingStores() async throws -> RepricingStores {
        switch self {
        case .sqlite:
            let path = TestScratch.file("repricing.sqlite")
            let store = try RunStore(path: path)
            return RepricingStores(runs: store, ledger: store, execute: { sql in
                try ledgerConnection(path).write { db in try db.execute(sql: sql) }
            })
        case .postgres:
            let server = try server()
            let postgres = try PostgresLedger(endpoint: try await server.freshDatabase(), password: server.password)
            return RepricingStores(runs: postgres, ledger: PostgresRepricingLedger(ledger: postgres), execute: { sql in
                try postgres.session.query(sql)
            })
        }
    }
}

private let eur = Currency(code: "EUR")!
private func usd(_ micros: Int64) -> Money { Money(micros: micros, currency: .usd) }

private func listing(_ sku: String, on marketplace: MarketplaceName = .ebay, price: Money = usd(10_000_000), quantity: Int = 3,
                     gtin: String? = nil, asin: String? = nil, shipping: Money? = nil, condition: ItemCondition = .new) -> MarketplaceListing {
    MarketplaceListing(marketplace: marketplace, sku: sku, listingID: "L-\(sku)", gtin: gtin, asin: asin, title: "Item \(sku)",
                       condition: condition, price: price, quantity: quantity, shippingCharged: shipping)
}

private func decision(_ sku: String, on marketplace: MarketplaceName = .ebay, newPrice: Money? = nil, state: PricingDecision.State? = nil,
                      reason: PricingDecision.Reason = .unchanged, explanation: String = "why") -> PricingDecision {
    PricingDecision(sku: sku, marketplace: marketplace, listingID: "L-\(sku)", oldPrice: usd(10_000_000), newPrice: newPrice, floor: nil,
                    ceiling: nil, lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 0, offersExcluded: [:], strategy: .beatLowest,
                    reason: reason, explanation: explanation, state: state)
}

/// The repricing ledger's contract (`RepricingLedger`, `OfferMemory`, `CompetitorMemory`,
/// `MatchCache`): the same tests against SQLite (the reference) and PostgreSQL.
@Suite("RepricingLedgerContractTests: the repricing ledger's contract on SQLite and PostgreSQL", .postgresIfInstalled, .timeLimit(.minutes(3)))
struct RepricingLedgerContractTests {
    @Test("sweep snapshot: save replaces one marketplace of one sweep, append adds pages (1,234 listings, several statements), update replaces and removes rows in one go; every field reads back, ordered by SKU bytes", arguments: StoreKind.available)
    func snapshot(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        let full = listing("B-1", price: Money(micros: 12_340_000, currency: eur), quantity: 0, gtin: "0123456789012", asin: "B00X",
                           shipping: Money(micros: 4_990_000, currency: eur), condition: .newOther)
        try ledger.saveSweepListings([listing("b-2"), full, listing("a-3", condition: .used)], sweep: 1, marketplace: .ebay)
        try ledger.saveSweepListings([listing("Z", on: .amazon)], sweep: 1, marketplace: .amazon)
        try ledger.saveSweepListings([listing("old")], sweep: 2, marketplace: .ebay)
        // Byte order: upper case before lower case, as SQLite sorts.
        #expect(try ledger.sweepListings(sweep: 1, marketplace: .ebay) == [full, listing("a-3", condition: .used), listing("b-2")])
        #expect(try ledger.sweepListing(sweep: 1, marketplace: .ebay, sku: "B-1") == full)
        #expect(try ledger.sweepListing(sweep: 1, marketplace: .ebay, sku: "Z") == nil)

        // Saving again replaces that marketplace's snapshot of that sweep only.
        try ledger.saveSweepListings([listing("c-4")], sweep: 1, marketplace: .ebay)
        #expect(try ledger.sweepListings(sweep: 1, marketplace: .ebay).map(\.sku) == ["c-4"])
        #expect(try ledger.sweepListings(sweep: 1, marketplace: .amazon) == [listing("Z", on: .amazon)])
        #expect(try ledger.sweepListings(sweep: 2, marketplace: .ebay).map(\.sku) == ["old"])

        // A large page: more rows than one statement carries.
        let page = (0..<1_234).map { listing(String(format: "p%05d", 1_233 - $0), quantity: $0) }
        try ledger.appendSweepListings(page, sweep: 1, marketplace: .ebay)
        try ledger.appendSweepListings([], sweep: 1, marketplace: .ebay)
        let all = try ledger.sweepListings(sweep: 1, marketplace: .ebay)
        #expect(all.count == 1_235 && all.first?.sku == "c-4" && all.last?.sku == "p01233" && all[1] == listing("p00000", quantity: 1_233))
        #expect(all.map(\.sku) == all.map(\.sku).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })

        // A duplicate SKU fails the whole save, and the snapshot stays as it was.
        #expect(throws: (any Error).self) {
            try ledger.saveSweepListings([listing("d"), listing("d")], sweep: 1, marketplace: .ebay)
        }
        #expect(try ledger.sweepListings(sweep: 1, marketplace: .ebay).count == 1_235)

        // Update: replace c-4 (completed), drop p00001 (no offer), add a listing not there before.
        let completed = listing("c-4", price: usd(8_000_000), shipping: usd(0))
        try await ledger.updateSweepListings([completed, listing("e-5")], removing: ["p00001", "never-there"], sweep: 1, marketplace: .ebay)
        #expect(try ledger.sweepListing(sweep: 1, marketplace: .ebay, sku: "c-4") == completed)
        #expect(try ledger.sweepListing(sweep: 1, marketplace: .ebay, sku: "p00001") == nil)
        #expect(try ledger.sweepListing(sweep: 1, marketplace: .ebay, sku: "e-5") == listing("e-5"))
        #expect(try ledger.sweepListings(sweep: 1, marketplace: .ebay).count == 1_235)
        try await ledger.updateSweepListings([], removing: ["e-5"], sweep: 1, marketplace: .ebay)
        #expect(try ledger.sweepListings(sweep: 1, marketplace: .ebay).count == 1_234)
    }

    @Test("order is by the bytes of the text, as SQLite's, even on a PostgreSQL column whose collation sorts otherwise (ICU English)", arguments: StoreKind.available)
    func byteOrder(kind: StoreKind) async throws {
        let stores = try await kind.makeRepricingStores()
        if kind == .postgres {
            // The suite's server runs in C.UTF-8 (already byte order): give the columns a collation that is not.
            for (table, column) in [("sweep_listings", "sku"), ("decisions", "sku"), ("decisions", "marketplace")] {
                try stores.execute("ALTER TABLE \(table) ALTER COLUMN \(column) TYPE TEXT COLLATE \"en-x-icu\"")
            }
        }
        let skus = ["b", "B", "a", "_x", "A"], bytes = ["A", "B", "_x", "a", "b"]
        try stores.ledger.saveSweepListings(skus.map { listing($0) }, sweep: 1, marketplace: .ebay)
        for sku in skus { try await stores.ledger.saveDecision(decision(sku, newPrice: usd(1)), sweep: 1) }
        if kind == .postgres {
            // The column's own order differs, so byte order below is the ledger's doing.
            var plain: [String] = []
            for row in try (stores.runs as! PostgresLedger).session.query("SELECT sku FROM sweep_listings ORDER BY sku") {
                plain.append(try row.makeRandomAccess()[0].decode(String.self))
            }
            #expect(plain == ["_x", "a", "A", "b", "B"])
        }
        #expect(try stores.ledger.sweepListings(sweep: 1, marketplace: .ebay).map(\.sku) == bytes)
        #expect(try stores.ledger.decisions(sweep: 1).map(\.sku) == bytes)
        #expect(try stores.ledger.decisions(sweep: 1, marketplace: .ebay, skus: skus).map(\.sku) == bytes)
        #expect(try stores.ledger.changingDecisions(sweep: 1).map(\.sku) == bytes)
        #expect(try stores.ledger.changingDecisions(sweep: 1, after: DecisionKey(marketplace: .ebay, sku: "_x"), limit: 2).map(\.sku) == ["a", "b"])
    }

    @Test("decisions with a change read a page at a time (after a marketplace and SKU) are those read whole, in the same order, once: holds left out, across marketplaces", arguments: StoreKind.available)
    func changingDecisionPages(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        for (index, sku) in (0..<300).map({ ($0 % 2 == 0 ? "s-" : "S-") + String(format: "%03d", ($0 * 7) % 300) }).enumerated() {
            let marketplace: MarketplaceName = index % 3 == 0 ? .amazon : .ebay
            let changing = index % 4 != 1
            try await ledger.saveDecision(decision(sku, on: marketplace, newPrice: changing ? usd(9_000_000) : nil,
                                                   state: changing ? (index % 5 == 0 ? .applied : .planned) : .hold), sweep: 4)
        }
        try await ledger.saveDecision(decision("other", newPrice: usd(1)), sweep: 5)
        let whole = try ledger.changingDecisions(sweep: 4)
        #expect(whole.count == 225)
        #expect(whole.allSatisfy { $0.newPrice != nil })
        for size in [1, 7, 225, 226] {
            var read: [PricingDecision] = []
            var after: DecisionKey?
            while true {
                let page = try ledger.changingDecisions(sweep: 4, after: after, limit: size)
                #expect(page.count <= size)
                read += page
                guard page.count == size, let last = page.last else { break }
                after = DecisionKey(marketplace: last.marketplace, sku: last.sku)
            }
            #expect(read == whole, "pages of \(size)")
        }
    }

    @Test("unit costs: saved by SKU with their currency, a second save replaces a SKU's cost and leaves the others; an unknown SKU has none", arguments: StoreKind.available)
    func unitCosts(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        #expect(try ledger.unitCosts().isEmpty)
        try ledger.saveUnitCosts(["A": usd(1_500_000), "B": Money(micros: 2_000_000, currency: eur)], source: "csv", at: 1)
        try ledger.saveUnitCosts([:], source: "csv", at: 2)
        #expect(try ledger.unitCosts() == ["A": usd(1_500_000), "B": Money(micros: 2_000_000, currency: eur)])
        try ledger.saveUnitCosts(["A": usd(3_000_000)], source: "api", at: 3)
        #expect(try ledger.unitCost(sku: "A") == usd(3_000_000))
        #expect(try ledger.unitCost(sku: "B") == Money(micros: 2_000_000, currency: eur))
        #expect(try ledger.unitCost(sku: "Z") == nil)
    }

    @Test("decisions: every field round-trips; a second save replaces; lists by marketplace then SKU, by SKUs of one marketplace, changing ones; mark moves states and keeps a result when none is given; counts and states; decided listings", arguments: StoreKind.available)
    func decisions(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        let full = PricingDecision(sku: "a", marketplace: .ebay, listingID: "L-a", oldPrice: usd(10_000_000), newPrice: usd(9_490_000),
                                   floor: usd(7_000_000), ceiling: usd(20_000_000), lowestCompetitorLanded: usd(9_500_000),
                                   buyBox: usd(9_990_000), offersConsidered: 7, offersExcluded: [.ours: 1, .titleOnly: 2, .lowFeedback: 3],
                                   strategy: .matchBuyBox, reason: .followedCompetition, explanation: "9.50 landed less 0.01",
                                   shippingCharged: usd(3_990_000), state: .planned, apiResult: "earlier")
        let hold = decision("b"), other = decision("c", on: .amazon, newPrice: usd(11_000_000), reason: .aboveCeiling)
        for d in [hold, other, full] { try await ledger.saveDecision(d, sweep: 5) }
        try await ledger.saveDecision(decision("x"), sweep: 6)
        #expect(try ledger.decisions(sweep: 5) == [other, full, hold])
        #expect(try ledger.decisionCount(sweep: 5) == 3 && ledger.decisionCount(sweep: 7) == 0)

        // Replaced whole: the new explanation and state, the old amounts gone.
        let replaced = decision("a", state: .dryRun, explanation: "again")
        try await ledger.saveDecision(replaced, sweep: 5)
        #expect(try ledger.decisions(sweep: 5, marketplace: .ebay, skus: ["b", "zz", "a"]) == [replaced, hold])
        #expect(try ledger.decisions(sweep: 5, marketplace: .ebay, skus: ["c"]).isEmpty)
        try await ledger.saveDecision(full, sweep: 5)

        try await ledger.markDecisions(sweep: 5, marketplace: .ebay, skus: ["a", "b", "c"], state: .sending, results: [:])
        try await ledger.markDecisions(sweep: 5, marketplace: .ebay, skus: ["a", "b"], state: .applied, results: ["b": "200 OK"])
        var now = try ledger.decisions(sweep: 5)
        #expect(now.map(\.state) == [.planned, .applied, .applied])
        #expect(now.map(\.apiResult) == [nil, "earlier", "200 OK"])
        try await ledger.markDecisions(sweep: 5, marketplace: .ebay, skus: ["a"], state: .failed, results: ["a": "HTTP 500", "b": "ignored"])
        try await ledger.markDecisions(sweep: 5, marketplace: .ebay, skus: [], state: .blocked, results: [:])
        now = try ledger.decisions(sweep: 5)
        #expect(now.map(\.state) == [.planned, .failed, .applied] && now.map(\.apiResult) == [nil, "HTTP 500", "200 OK"])
        #expect(try ledger.decisions(sweep: 6).map(\.state) == [.hold])
        #expect(try ledger.decisionStates(sweep: 5) == [.planned: 1, .failed: 1, .applied: 1])

        // Changing: a new price, or planned, sending, applied or failed; a blocked or dry-run hold is not.
        try await ledger.markDecisions(sweep: 5, marketplace: .ebay, skus: ["b"], state: .blocked, results: [:])
        try await ledger.saveDecision(decision("d", state: .dryRun), sweep: 5)
        try await ledger.saveDecision(decision("e", newPrice: usd(1), state: .dryRun), sweep: 5)
        #expect(try ledger.changingDecisions(sweep: 5).map { "\($0.marketplace.rawValue)/\($0.sku)" } == ["amazon/c", "ebay/a", "ebay/e"])
        #expect(try ledger.decisionStates(sweep: 5) == [.planned: 1, .failed: 1, .blocked: 1, .dryRun: 2])
        #expect(try ledger.decidedListings(sweep: 5) == ["amazon/c", "ebay/a", "ebay/b", "ebay/d", "ebay/e"])
        #expect(try ledger.decidedListings(sweep: 9).isEmpty)
    }

    @Test("a decide task's one read and one write: decideInputs gives each SKU, in the order asked, its snapshot listing and unit cost (nil where none), undecidedInputs the same less what the sweep decided on that marketplace; saveDecisions saves each decision as saveDecision does and marks each listing checked by the sweep, as markChecked does", arguments: StoreKind.available)
    func decideReadAndWrite(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        let a = listing("a", gtin: "0001", shipping: usd(2_500_000)), b = listing("b", price: Money(micros: 5_000_000, currency: eur))
        try ledger.saveSweepListings([a, b], sweep: 7, marketplace: .ebay)
        try ledger.saveSweepListings([listing("c", on: .amazon)], sweep: 7, marketplace: .amazon)
        try ledger.saveSweepListings([listing("a", price: usd(1))], sweep: 8, marketplace: .ebay)
        try ledger.saveUnitCosts(["a": usd(4_000_000), "c": Money(micros: 3_000_000, currency: eur)], source: "test", at: 1)
        #expect(try await ledger.decideInputs(sweep: 7, marketplace: .ebay, skus: ["b", "zz", "a", "c"]) == [
            DecideInput(sku: "b", listing: b, cost: nil), DecideInput(sku: "zz", listing: nil, cost: nil),
            DecideInput(sku: "a", listing: a, cost: usd(4_000_000)),
            DecideInput(sku: "c", listing: nil, cost: Money(micros: 3_000_000, currency: eur)),
        ])
        #expect(try await ledger.decideInputs(sweep: 7, marketplace: .ebay, skus: []).isEmpty)
        // A SKU asked twice is answered twice; a SKU JSON must escape is looked up as itself.
        let odd = listing("q\"u\\o/té\n")
        try ledger.saveSweepListings([a, odd], sweep: 17, marketplace: .ebay)
        #expect(try await ledger.decideInputs(sweep: 17, marketplace: .ebay, skus: ["a", odd.sku, "a"]) == [
            DecideInput(sku: "a", listing: a, cost: usd(4_000_000)), DecideInput(sku: odd.sku, listing: odd, cost: nil),
            DecideInput(sku: "a", listing: a, cost: usd(4_000_000)),
        ])
        // One SKU (a decide task's usual read, bound as it is): the same answers one by one.
        for sku in ["b", "zz", "a", "c"] {
            #expect(try await ledger.decideInputs(sweep: 7, marketplace: .ebay, skus: [sku])
                    == ledger.decideInputs(sweep: 7, marketplace: .ebay, skus: [sku, sku]).prefix(1).map { $0 })
        }
        #expect(try await ledger.decideInputs(sweep: 17, marketplace: .ebay, skus: [odd.sku]) == [DecideInput(sku: odd.sku, listing: odd, cost: nil)])
        #expect(try await ledger.decideInputs(sweep: 7, marketplace: .amazon, skus: ["c"])
                == [DecideInput(sku: "c", listing: listing("c", on: .amazon), cost: Money(micros: 3_000_000, currency: eur))])

        // Undecided only: the same answers in the order asked, less what the sweep decided on
        // that marketplace (a decision of another sweep or marketplace does not count).
        let asked = ["zz", odd.sku, "a"]
        #expect(try await ledger.undecidedInputs(sweep: 17, marketplace: .ebay, skus: asked)
                == ledger.decideInputs(sweep: 17, marketplace: .ebay, skus: asked))
        try await ledger.saveDecision(decision("a"), sweep: 17)
        try await ledger.saveDecision(decision(odd.sku), sweep: 18)
        try await ledger.saveDecision(decision("zz", on: .amazon), sweep: 17)
        #expect(try await ledger.undecidedInputs(sweep: 17, marketplace: .ebay, skus: asked)
                == ledger.decideInputs(sweep: 17, marketplace: .ebay, skus: ["zz", odd.sku]))
        #expect(try await ledger.undecidedInputs(sweep: 17, marketplace: .ebay, skus: ["a", "a"]).isEmpty)
        #expect(try await ledger.undecidedInputs(sweep: 17, marketplace: .ebay, skus: []).isEmpty)
        try await ledger.saveDecision(decision("a", explanation: "before"), sweep: 7)
        try ledger.markChecked(marketplace: .ebay, skus: ["a"], sweep: 3, at: 10)
        let full = PricingDecision(sku: "a", marketplace: .ebay, listingID: "L-a", oldPrice: usd(10_000_000), newPrice: usd(9_490_000),
                                   floor: usd(7_000_000), ceiling: usd(20_000_000), lowestCompetitorLanded: usd(9_500_000),
                                   buyBox: nil, offersConsidered: 4, offersExcluded: [.ours: 1, .lowFeedback: 2],
                                   strategy: .beatLowest, reason: .followedCompetition, explanation: "9.50 landed less 0.01",
                                   shippingCharged: usd(2_500_000), state: .planned)
        let hold = decision("b", reason: .noCost)
        try await ledger.saveDecisions([full, hold], sweep: 7, checkedAt: 500)
        try await ledger.saveDecisions([], sweep: 7, checkedAt: 900)
        #expect(try ledger.decisions(sweep: 7) == [full, hold], "the earlier decision of a replaced whole")
        #expect(try ledger.coverage(marketplace: .ebay) == ["a": ListingCoverage(lastChecked: 500, sweep: 7),
                                                           "b": ListingCoverage(lastChecked: 500, sweep: 7)])
        #expect(try ledger.coverageCounts(sweep: 7, marketplace: .ebay)
                    == SweepCoverageCounts(listings: 2, checked: 2, neverChecked: 0, oldestUnchecked: nil))
    }

    @Test("runs: a resumed chain's sweep is its first run (an unknown run is its own); runStartedAt is nil until the run starts", arguments: StoreKind.available)
    func sweepOfRun(kind: StoreKind) async throws {
        let stores = try await kind.makeRepricingStores()
        func fire(_ resumes: Int64?) throws -> RunInfo {
            try #require(try stores.runs.recordFire(job: "nightly", kind: "repricing", trigger: .manual, requestedBy: nil, scheduledAt: nil,
                                                    status: .queued, skipReason: nil, summary: nil, at: 1_000, resumes: resumes))
        }
        let first = try fire(nil), second = try fire(first.id), third = try fire(second.id), alone = try fire(nil)
        #expect(try stores.ledger.sweepID(ofRun: third.id) == first.id)
        #expect(try stores.ledger.sweepID(ofRun: second.id) == first.id)
        #expect(try stores.ledger.sweepID(ofRun: first.id) == first.id)
        #expect(try stores.ledger.sweepID(ofRun: alone.id) == alone.id)
        #expect(try stores.ledger.sweepID(ofRun: third.id + 100) == third.id + 100)
        // Asked before its row exists, a run is its own sweep; once recorded resuming, its chain's
        // (an unknown run's answer is not remembered).
        #expect(try stores.ledger.sweepID(ofRun: alone.id + 1) == alone.id + 1)
        let late = try fire(second.id)
        try #require(late.id == alone.id + 1)
        #expect(try stores.ledger.sweepID(ofRun: late.id) == first.id)
        #expect(try stores.ledger.runStartedAt(runID: third.id) == nil)
        try stores.runs.markRunning(runID: third.id, at: 5_000)
        #expect(try stores.ledger.runStartedAt(runID: third.id) == 5_000)
        #expect(try stores.ledger.runStartedAt(runID: third.id + 100) == nil)
    }

    @Test("coverage: markChecked records (and moves) each listing's last check and sweep per marketplace; coverageCounts counts the snapshot's listings decided, never checked and the oldest check of those not decided", arguments: StoreKind.available)
    func coverage(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        try ledger.saveSweepListings(["A", "B", "C", "D", "E"].map { listing($0) }, sweep: 7, marketplace: .ebay)
        try ledger.markChecked(marketplace: .ebay, skus: ["C"], sweep: 3, at: 100)
        try ledger.markChecked(marketplace: .ebay, skus: ["D", "D"], sweep: 4, at: 50)
        try ledger.markChecked(marketplace: .ebay, skus: ["A"], sweep: 2, at: 20)
        try ledger.markChecked(marketplace: .amazon, skus: ["E"], sweep: 4, at: 10)
        try ledger.markChecked(marketplace: .ebay, skus: [], sweep: 4, at: 10)
        try await ledger.saveDecision(decision("A"), sweep: 7)
        #expect(try ledger.coverage(marketplace: .ebay) == ["A": ListingCoverage(lastChecked: 20, sweep: 2),
                                                           "C": ListingCoverage(lastChecked: 100, sweep: 3),
                                                           "D": ListingCoverage(lastChecked: 50, sweep: 4)])
        #expect(try ledger.coverage(marketplace: .amazon) == ["E": ListingCoverage(lastChecked: 10, sweep: 4)])
        // A decided (its older check not counted), B and E never checked here, D the oldest of C and D.
        #expect(try ledger.coverageCounts(sweep: 7, marketplace: .ebay)
                    == SweepCoverageCounts(listings: 5, checked: 1, neverChecked: 2, oldestUnchecked: 50))
        try ledger.markChecked(marketplace: .ebay, skus: ["D", "B"], sweep: 7, at: 300)
        #expect(try ledger.coverage(marketplace: .ebay)["D"] == ListingCoverage(lastChecked: 300, sweep: 7))
        #expect(try ledger.coverageCounts(sweep: 7, marketplace: .ebay)
                    == SweepCoverageCounts(listings: 5, checked: 1, neverChecked: 1, oldestUnchecked: 100))
        #expect(try ledger.coverageCounts(sweep: 7, marketplace: .amazon)
                    == SweepCoverageCounts(listings: 0, checked: 0, neverChecked: 0, oldestUnchecked: nil))
    }

    @Test("remembered offers: every field round-trips per marketplace; remembering a SKU again replaces its whole row (the last of one call wins); forget drops only the SKUs named", arguments: StoreKind.available)
    func offers(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        let a = RememberedOffer(sku: "A", offerID: "O-1", marketplaceID: "EBAY_US", price: usd(19_990_000), availableQuantity: 4,
                                domesticShippingCost: Money(micros: 5_000_000, currency: eur), fulfillmentPolicyID: "FP-9", updatedAt: 100)
        let b = RememberedOffer(sku: "B", offerID: "O-2", marketplaceID: nil, price: nil, availableQuantity: nil, domesticShippingCost: nil,
                                fulfillmentPolicyID: nil, updatedAt: 101)
        let elsewhere = RememberedOffer(sku: "A", offerID: "S-1", marketplaceID: nil, price: usd(1), availableQuantity: 0,
                                        domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 5)
        try await ledger.rememberOffers(marketplace: .ebay, [a, b])
        try await ledger.rememberOffers(marketplace: .shopify, [elsewhere])
        try await ledger.rememberOffers(marketplace: .ebay, [])
        #expect(try ledger.rememberedOffers(marketplace: .ebay) == ["A": a, "B": b])
        let interim = RememberedOffer(sku: "A", offerID: "O-3", marketplaceID: nil, price: usd(2), availableQuantity: 1,
                                      domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 150)
        let replaced = RememberedOffer(sku: "A", offerID: "O-1", marketplaceID: "EBAY_US", price: nil, availableQuantity: 2,
                                       domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 200)
        try await ledger.rememberOffers(marketplace: .ebay, [interim, replaced])
        #expect(try ledger.rememberedOffers(marketplace: .ebay) == ["A": replaced, "B": b])
        try ledger.forgetOffers(marketplace: .ebay, skus: ["B", "nope"], sentAt: 300)
        try ledger.forgetOffers(marketplace: .ebay, skus: [], sentAt: 300)
        #expect(try ledger.rememberedOffers(marketplace: .ebay) == ["A": replaced])
        #expect(try ledger.rememberedOffers(marketplace: .shopify) == ["A": elsewhere])
        #expect(try ledger.rememberedOffers(marketplace: .amazon).isEmpty)
    }

    @Test("a price change in flight: a read asked before it settles is not remembered, one asked after is; settling remembers what it is given; an unsettled change stops counting after the bound", arguments: StoreKind.available)
    func offersInFlight(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        func offer(_ sku: String, _ micros: Int64, at: Int64) -> RememberedOffer {
            RememberedOffer(sku: sku, offerID: "O-\(sku)", marketplaceID: "EBAY_US", price: usd(micros), availableQuantity: nil,
                            domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: at)
        }
        try await ledger.rememberOffers(marketplace: .ebay, [offer("A", 10, at: 100), offer("B", 10, at: 100), offer("C", 10, at: 100)])
        try ledger.forgetOffers(marketplace: .ebay, skus: ["A", "B", "A"], sentAt: 1_000)
        #expect(try ledger.rememberedOffers(marketplace: .ebay).keys.sorted() == ["C"])
        // Reads asked before the send, and after it while it is out, may hold the old price.
        try await ledger.rememberOffers(marketplace: .ebay, [offer("A", 10, at: 900), offer("B", 10, at: 1_500), offer("C", 11, at: 1_500)])
        #expect(try ledger.rememberedOffers(marketplace: .ebay) == ["C": offer("C", 11, at: 1_500)])
        // A's change answered at 2,000: what it set is remembered; B's sender died.
        try ledger.settleOffers(marketplace: .ebay, skus: ["A"], offers: [offer("A", 20, at: 2_000)], at: 2_000)
        #expect(try ledger.rememberedOffers(marketplace: .ebay)["A"] == offer("A", 20, at: 2_000))
        // A read of A asked before the answer is not remembered over it; one asked after is.
        try await ledger.rememberOffers(marketplace: .ebay, [offer("A", 10, at: 1_999), offer("B", 10, at: 2_500)])
        #expect(try ledger.rememberedOffers(marketplace: .ebay)["A"] == offer("A", 20, at: 2_000))
        #expect(try ledger.rememberedOffers(marketplace: .ebay)["B"] == nil)
        try await ledger.rememberOffers(marketplace: .ebay, [offer("A", 21, at: 2_000)])
        #expect(try ledger.rememberedOffers(marketplace: .ebay)["A"] == offer("A", 21, at: 2_000))
        // B: unsettled, so in flight until the bound has passed since it was sent.
        let bound = OfferChanges.inFlightBound
        try await ledger.rememberOffers(marketplace: .ebay, [offer("B", 10, at: 1_000 + bound - 1)])
        #expect(try ledger.rememberedOffers(marketplace: .ebay)["B"] == nil)
        try await ledger.rememberOffers(marketplace: .ebay, [offer("B", 12, at: 1_000 + bound)])
        #expect(try ledger.rememberedOffers(marketplace: .ebay)["B"] == offer("B", 12, at: 1_000 + bound))
        // Another marketplace's SKU of the same name is not held back by eBay's change.
        try ledger.forgetOffers(marketplace: .ebay, skus: ["S"], sentAt: 5_000)
        try await ledger.rememberOffers(marketplace: .shopify, [offer("S", 1, at: 4_000)])
        #expect(try ledger.rememberedOffers(marketplace: .shopify)["S"] == offer("S", 1, at: 4_000))
        // A new change to A is in flight again, whatever was settled before.
        try ledger.forgetOffers(marketplace: .ebay, skus: ["A"], sentAt: 6_000)
        try await ledger.rememberOffers(marketplace: .ebay, [offer("A", 21, at: 6_500)])
        #expect(try ledger.rememberedOffers(marketplace: .ebay)["A"] == nil)
    }

    @Test("PostgreSQL: a read remembered while a price change to its SKU is being recorded (that transaction open on another connection) waits for it, and is then not remembered", .enabled(if: TestPostgres.binDirectory() != nil))
    func offerReadWaitsForChangeInFlight() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let postgres = try PostgresLedger(endpoint: endpoint, password: server.password)
        let ledger = PostgresRepricingLedger(ledger: postgres)
        let sender = try PostgresLedger(endpoint: endpoint, password: server.password)
        let observer = try PostgresLedger(endpoint: endpoint, password: server.password)
        let read = RememberedOffer(sku: "A", offerID: "O", marketplaceID: "EBAY_US", price: usd(10), availableQuantity: 1,
                                   domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: 999)
        final class Flag: Sendable { let raised = Atomic(false) }
        let done = Flag()
        var remembering: Task<Void, any Error>?
        var waited = false
        try sender.session.transaction { () throws(LedgerError) in
            // The change to A recorded (sent at 1,000, after the read was asked), not committed yet.
            try PostgresRepricingLedger(ledger: sender).forgetOffers(marketplace: .ebay, skus: ["A"], sentAt: 1_000)
            remembering = Task.detached {
                defer { done.raised.store(true, ordering: .sequentiallyConsistent) }
                try ledger.rememberOffers(marketplace: .ebay, [read])
            }
            // Until the read waits on the lock, or has ended without waiting (at most 10 s).
            for _ in 0..<1_000 where !done.raised.load(ordering: .sequentiallyConsistent) {
                let waiting = try observer.session.query("""
                    SELECT count(*)::BIGINT FROM pg_locks WHERE NOT granted AND relation = 'listing_offer_changes'::regclass
                    """)[0]
                if (try? waiting.makeRandomAccess()[0].decode(Int64.self)) ?? 0 > 0 {
                    waited = true
                    break
                }
                usleep(10_000)
            }
        }
        try await remembering?.value
        #expect(waited, "the read waited for the change's transaction")
        #expect(try ledger.rememberedOffers(marketplace: .ebay).isEmpty, "the read, older than the change, is not remembered")
    }

    @Test("remembered searches: ids in the order found, each once; remembering a key again replaces its ids and time; forgetItems drops ids from every search of that marketplace only", arguments: StoreKind.available)
    func searches(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        let many = (0..<12).map { "id\(11 - $0)" }
        try await ledger.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["x", "y", "x", "z"], searchedAt: 100))
        try await ledger.rememberSearch(marketplace: .ebay, key: "0456|1000", RememberedSearch(itemIDs: ["y", "w"], searchedAt: 110))
        try await ledger.rememberSearch(marketplace: .ebay, key: "0789|3000", RememberedSearch(itemIDs: many, searchedAt: 120))
        try await ledger.rememberSearch(marketplace: .ebay, key: "empty", RememberedSearch(itemIDs: [], searchedAt: 130))
        try await ledger.rememberSearch(marketplace: .amazon, key: "0123|1000", RememberedSearch(itemIDs: ["y"], searchedAt: 90))
        #expect(try ledger.rememberedSearches(marketplace: .ebay) == [
            "0123|1000": RememberedSearch(itemIDs: ["x", "y", "z"], searchedAt: 100),
            "0456|1000": RememberedSearch(itemIDs: ["y", "w"], searchedAt: 110),
            "0789|3000": RememberedSearch(itemIDs: many, searchedAt: 120),
            "empty": RememberedSearch(itemIDs: [], searchedAt: 130),
        ])
        try ledger.forgetItems(marketplace: .ebay, itemIDs: ["y", "id3", "absent"])
        try ledger.forgetItems(marketplace: .ebay, itemIDs: [])
        var searches = try ledger.rememberedSearches(marketplace: .ebay)
        #expect(searches["0123|1000"]?.itemIDs == ["x", "z"] && searches["0456|1000"]?.itemIDs == ["w"])
        #expect(searches["0789|3000"]?.itemIDs == many.filter { $0 != "id3" })
        #expect(try ledger.rememberedSearches(marketplace: .amazon) == ["0123|1000": RememberedSearch(itemIDs: ["y"], searchedAt: 90)])
        try await ledger.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["q", "x"], searchedAt: 200))
        searches = try ledger.rememberedSearches(marketplace: .ebay)
        #expect(searches["0123|1000"] == RememberedSearch(itemIDs: ["q", "x"], searchedAt: 200) && searches.count == 4)
        #expect(try ledger.rememberedSearches(marketplace: .shopify).isEmpty)
    }

    @Test("searches remembered at once: 8 callers replacing the same search with lists of their own, 25 rounds; each round leaves one caller's ids, in its order, with its time: never a mix", arguments: StoreKind.available)
    func searchesRememberedAtOnce(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        func ids(_ caller: Int) -> [String] { (0..<(3 + caller)).map { "c\(caller)-\($0)" } }
        for round in 0..<25 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<8 {
                    group.addTask {
                        try await ledger.rememberSearch(marketplace: .ebay, key: "0123|1000",
                                                        RememberedSearch(itemIDs: ids(caller), searchedAt: Int64(round * 100 + caller)))
                    }
                }
                try await group.waitForAll()
            }
            let found = try #require(try ledger.rememberedSearches(marketplace: .ebay)["0123|1000"])
            let callers = Set(found.itemIDs.map { $0.prefix { $0 != "-" } })
            try #require(callers.count == 1, "round \(round): ids of several callers: \(found.itemIDs)")
            let caller = try #require(Int(callers.first!.dropFirst()))
            #expect(found == RememberedSearch(itemIDs: ids(caller), searchedAt: Int64(round * 100 + caller)), "round \(round)")
        }
    }

    @Test("remembered searches by subject: the keys before their first | (or whole) among the subjects, with their ids in order; no other subject, marketplace or prefix", arguments: StoreKind.available)
    func searchesBySubject(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        try await ledger.rememberSearch(marketplace: .ebay, key: "0123|1000", RememberedSearch(itemIDs: ["b", "a"], searchedAt: 100))
        try await ledger.rememberSearch(marketplace: .ebay, key: "0123|1000,3000", RememberedSearch(itemIDs: ["c"], searchedAt: 101))
        try await ledger.rememberSearch(marketplace: .ebay, key: "0123", RememberedSearch(itemIDs: [], searchedAt: 102))
        try await ledger.rememberSearch(marketplace: .ebay, key: "01234|1000", RememberedSearch(itemIDs: ["d"], searchedAt: 103))
        try await ledger.rememberSearch(marketplace: .ebay, key: "012|1000", RememberedSearch(itemIDs: ["e"], searchedAt: 104))
        try await ledger.rememberSearch(marketplace: .ebay, key: "0123}", RememberedSearch(itemIDs: ["f"], searchedAt: 105))
        try await ledger.rememberSearch(marketplace: .ebay, key: "0456|3000", RememberedSearch(itemIDs: ["g", "h"], searchedAt: 106))
        try await ledger.rememberSearch(marketplace: .amazon, key: "0123|1000", RememberedSearch(itemIDs: ["z"], searchedAt: 90))
        #expect(try ledger.rememberedSearches(marketplace: .ebay, subjects: ["0123"]) == [
            "0123|1000": RememberedSearch(itemIDs: ["b", "a"], searchedAt: 100),
            "0123|1000,3000": RememberedSearch(itemIDs: ["c"], searchedAt: 101),
            "0123": RememberedSearch(itemIDs: [], searchedAt: 102),
        ])
        let two = try ledger.rememberedSearches(marketplace: .ebay, subjects: ["0456", "0123", "0456", "9999"])
        #expect(Set(two.keys) == ["0123|1000", "0123|1000,3000", "0123", "0456|3000"] && two["0456|3000"]?.itemIDs == ["g", "h"])
        #expect(try ledger.rememberedSearches(marketplace: .ebay, subjects: []).isEmpty)
        #expect(try ledger.rememberedSearches(marketplace: .ebay, subjects: ["0123|1000", "01"]).isEmpty)
        #expect(try ledger.rememberedSearches(marketplace: .amazon, subjects: ["0123"]) == ["0123|1000": RememberedSearch(itemIDs: ["z"], searchedAt: 90)])
        // What the whole marketplace's read gives for those keys.
        let all = try ledger.rememberedSearches(marketplace: .ebay)
        #expect(two.allSatisfy { all[$0.key] == $0.value })
    }

    @Test("PostgreSQL finds a subject's searches through the index of m17-search-subjects, not by reading the marketplace's 20,000 searches", .enabled(if: TestPostgres.binDirectory() != nil))
    func subjectIndex() async throws {
        let server = try server()
        let postgres = try PostgresLedger(endpoint: try await server.freshDatabase(), password: server.password)
        let ledger = PostgresRepricingLedger(ledger: postgres)
        try postgres.session.query("""
            INSERT INTO competitor_searches (marketplace, search_key, searched_at)
            SELECT 'ebay', lpad(i::text, 13, '0') || '|1000', i FROM generate_series(1, 20000) AS i
            """)
        try postgres.session.query("ANALYZE competitor_searches")
        let subjects: [LedgerValue] = [.text("ebay"), .text(#"["0000000000017","0000000019999","9"]"#)]
        let plan = try postgres.session.query("EXPLAIN " + PostgresRepricingLedger.searchesSQL(where: PostgresRepricingLedger.bySubject), subjects)
            .map { row in try row.makeRandomAccess()[0].decode(String.self) }.joined(separator: "\n")
        #expect(plan.contains("competitor_searches_by_subject") && !plan.contains("Seq Scan"), "\(plan)")
        #expect(try Set(ledger.rememberedSearches(marketplace: .ebay, subjects: ["0000000000017", "0000000019999", "9"]).keys)
                == ["0000000000017|1000", "0000000019999|1000"])
    }

    @Test("match cache: a miss before saving; a hit (every field) until expiresAt, a miss from then on; another title hash misses; a second save replaces", arguments: StoreKind.available)
    func matches(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        #expect(try ledger.cachedMatch(sku: "A", offerID: "o1", titleHash: "h1", now: 0) == nil)
        let yes = CachedMatch(sameProduct: true, confidencePerMille: 930, provider: "ollama", inputTokens: 412, outputTokens: 9, expiresAt: 1_000)
        try ledger.saveMatch(yes, sku: "A", offerID: "o1", titleHash: "h1")
        #expect(try ledger.cachedMatch(sku: "A", offerID: "o1", titleHash: "h1", now: 999) == yes)
        #expect(try ledger.cachedMatch(sku: "A", offerID: "o1", titleHash: "h1", now: 1_000) == nil)
        #expect(try ledger.cachedMatch(sku: "A", offerID: "o1", titleHash: "h2", now: 0) == nil)
        #expect(try ledger.cachedMatch(sku: "B", offerID: "o1", titleHash: "h1", now: 0) == nil)
        let no = CachedMatch(sameProduct: false, confidencePerMille: 120, provider: "openai", inputTokens: 500, outputTokens: 3, expiresAt: 2_000)
        try ledger.saveMatch(no, sku: "A", offerID: "o1", titleHash: "h1")
        #expect(try ledger.cachedMatch(sku: "A", offerID: "o1", titleHash: "h1", now: 1_500) == no)
    }

    @Test("PostgreSQL, two nodes at once: marking the same 1,500 listings checked in opposite orders (three statements a transaction), upserting the same unit costs and replacing the same search, 10 rounds each: no deadlock nor duplicate key, and what is left is one node's", .enabled(if: TestPostgres.binDirectory() != nil))
    func twoNodes() async throws {
        let server = try server()
        let endpoint = try await server.freshDatabase()
        let nodes = [PostgresRepricingLedger(ledger: try PostgresLedger(endpoint: endpoint, password: server.password)),
                     PostgresRepricingLedger(ledger: try PostgresLedger(endpoint: endpoint, password: server.password))]
        let skus = (0..<1_500).map { String(format: "S%04d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (node, ledger) in nodes.enumerated() {
                group.addTask {
                    let order = node == 0 ? skus : skus.reversed()
                    for round in 0..<10 {
                        try ledger.markChecked(marketplace: .ebay, skus: order, sweep: Int64(node), at: Int64(round))
                        try ledger.saveUnitCosts(Dictionary(uniqueKeysWithValues: order.map { ($0, usd(Int64(node + 1))) }), source: "node \(node)",
                                                 at: Int64(round))
                        try await ledger.rememberSearch(marketplace: .ebay, key: "0123|1000",
                                                  RememberedSearch(itemIDs: ["n\(node)-a", "shared", "n\(node)-b"], searchedAt: Int64(round)))
                    }
                }
            }
            try await group.waitForAll()
        }
        let coverage = try nodes[0].coverage(marketplace: .ebay)
        #expect(coverage.count == 1_500 && coverage.values.allSatisfy { $0.lastChecked == 9 })
        #expect(try nodes[1].unitCosts().count == 1_500)
        let search = try #require(try nodes[1].rememberedSearches(marketplace: .ebay)["0123|1000"])
        #expect(search.itemIDs == ["n0-a", "shared", "n0-b"] || search.itemIDs == ["n1-a", "shared", "n1-b"])
    }

    @Test("a row that does not decode is an error naming its table and saying why, never a default", arguments: StoreKind.available)
    func badRows(kind: StoreKind) async throws {
        let stores = try await kind.makeRepricingStores()
        let ledger = stores.ledger
        try ledger.saveSweepListings([listing("A")], sweep: 1, marketplace: .ebay)
        try await ledger.saveDecision(decision("A"), sweep: 1)
        try await ledger.saveDecision(decision("B"), sweep: 2)
        try ledger.saveUnitCosts(["A": usd(1)], source: "csv", at: 1)
        try await ledger.rememberOffers(marketplace: .ebay, [RememberedOffer(sku: "A", offerID: "O", marketplaceID: nil, price: usd(1),
                                                                       availableQuantity: 1, domesticShippingCost: nil,
                                                                       fulfillmentPolicyID: nil, updatedAt: 1)])
        try stores.execute("UPDATE sweep_listings SET condition = 'mint'")
        try stores.execute("UPDATE decisions SET strategy = 'guess' WHERE sweep_id = 1")
        try stores.execute("UPDATE decisions SET offers_excluded = '{\"bogus\":1}' WHERE sweep_id = 2")
        try stores.execute("UPDATE unit_costs SET currency = 'XXX'")
        try stores.execute("UPDATE listing_offers SET price_currency = NULL")
        func failure(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        let listingError = failure { _ = try ledger.sweepListings(sweep: 1, marketplace: .ebay) }
        #expect(listingError.contains("sweep_listings row") && listingError.contains("unknown condition \"mint\""), "\(listingError)")
        #expect(failure { _ = try ledger.sweepListing(sweep: 1, marketplace: .ebay, sku: "A") }.contains("unknown condition \"mint\""))
        var decideError = "no error"
        do { _ = try await ledger.decideInputs(sweep: 1, marketplace: .ebay, skus: ["A"]) } catch { decideError = "\(error)" }
        #expect(decideError.contains("sweep_listings row") && decideError.contains("unknown condition \"mint\""), "\(decideError)")
        var pageError = "no error"  // several SKUs: the json_each statement
        do { _ = try await ledger.decideInputs(sweep: 1, marketplace: .ebay, skus: ["Z", "A"]) } catch { pageError = "\(error)" }
        #expect(pageError.contains("sweep_listings row") && pageError.contains("unknown condition \"mint\""), "\(pageError)")
        // No listing in sweep 9, so only the cost does not decode: the error names unit_costs.
        var costError = "no error"
        do { _ = try await ledger.decideInputs(sweep: 9, marketplace: .ebay, skus: ["A"]) } catch { costError = "\(error)" }
        #expect(costError.contains("unit_costs row") && costError.contains("unknown currency \"XXX\""), "\(costError)")
        let decisionError = failure { _ = try ledger.decisions(sweep: 1) }
        #expect(decisionError.contains("decisions row") && decisionError.contains("unknown strategy \"guess\""), "\(decisionError)")
        #expect(failure { _ = try ledger.decisions(sweep: 2) }.contains("unknown exclusion \"bogus\""))
        #expect(failure { _ = try ledger.unitCost(sku: "A") }.contains("unknown currency \"XXX\""))
        #expect(failure { _ = try ledger.unitCosts() }.contains("unit_costs row"))
        let offerError = failure { _ = try ledger.rememberedOffers(marketplace: .ebay) }
        #expect(offerError.contains("listing_offers row") && offerError.contains("price_micros: an amount without its currency"), "\(offerError)")
    }

    @Test("lean reads: the snapshot in SKU pages, the selection in coverage order and offers by SKU equal what the whole-catalog reads give (mixed-case SKUs, byte order)", arguments: StoreKind.available)
    func leanReads(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        let skus = (0..<60).map { ($0 % 3 == 0 ? "a-" : $0 % 3 == 1 ? "B-" : "_c") + String(format: "%02d", ($0 * 37) % 60) }
        try ledger.saveSweepListings(skus.map { listing($0) }, sweep: 7, marketplace: .ebay)
        try ledger.saveSweepListings([listing("other", on: .amazon)], sweep: 7, marketplace: .amazon)
        for (index, sku) in skus.enumerated() where index % 4 != 0 {
            try ledger.markChecked(marketplace: .ebay, skus: [sku], sweep: index % 4 == 1 ? 7 : 3, at: Int64(1_000 + index % 5))
        }
        try ledger.markChecked(marketplace: .ebay, skus: ["gone"], sweep: 3, at: 1)
        let whole = try ledger.sweepListings(sweep: 7, marketplace: .ebay)
        for size in [1, 7, 60, 61] {
            var read: [MarketplaceListing] = []
            var after: String?
            while true {
                let page = try ledger.sweepListings(sweep: 7, marketplace: .ebay, after: after, limit: size)
                #expect(page.count <= size)
                read += page
                guard page.count == size, let last = page.last else { break }
                after = last.sku
            }
            #expect(read == whole, "pages of \(size)")
        }
        let coverage = try ledger.coverage(marketplace: .ebay)
        func rank(_ sku: String) -> (Int, Int64, [UInt8]) {
            guard let c = coverage[sku] else { return (1, 0, Array(sku.utf8)) }
            return c.sweep == 7 ? (0, 0, Array(sku.utf8)) : (2, c.lastChecked, Array(sku.utf8))
        }
        let ordered = whole.map(\.sku).sorted { a, b in
            let (x, y) = (rank(a), rank(b))
            return x.0 != y.0 ? x.0 < y.0 : x.1 != y.1 ? x.1 < y.1 : x.2.lexicographicallyPrecedes(y.2)
        }
        let checkedBy7 = whole.filter { coverage[$0.sku]?.sweep == 7 }.count
        #expect(checkedBy7 == 15)
        #expect(try ledger.sweepCheckedCount(sweep: 7, marketplace: .ebay) == checkedBy7)
        #expect(Set(ordered.prefix(checkedBy7)) == Set(whole.map(\.sku).filter { coverage[$0]?.sweep == 7 }))
        #expect(try ledger.sweepCheckedCount(sweep: 7, marketplace: .amazon) == 0)
        for limit in [0, 1, 15, 16, 60, 100] {
            #expect(try ledger.sweepSKUsInCoverageOrder(sweep: 7, marketplace: .ebay, limit: limit) == Array(ordered.prefix(limit)), "limit \(limit)")
        }
        let offers = skus.enumerated().map { index, sku in
            RememberedOffer(sku: sku, offerID: "O-\(index)", marketplaceID: "EBAY_US", price: usd(Int64(index) * 1_000_000),
                            availableQuantity: index, domesticShippingCost: nil, fulfillmentPolicyID: nil, updatedAt: Int64(index))
        }
        try await ledger.rememberOffers(marketplace: .ebay, offers)
        let all = try ledger.rememberedOffers(marketplace: .ebay)
        let asked = Array(skus.prefix(25)) + ["missing"]
        #expect(try ledger.rememberedOffers(marketplace: .ebay, skus: asked) == all.filter { asked.contains($0.key) })
        #expect(try ledger.rememberedOffers(marketplace: .ebay, skus: asked).count == 25)
        #expect(try ledger.rememberedOffers(marketplace: .amazon, skus: asked).isEmpty)
        #expect(try ledger.rememberedOffers(marketplace: .ebay, skus: []).isEmpty)
    }

    @Test("decide cut: 700 listings added in a shuffled order, in pages, one re-added with another key, are cut into the tasks CompetitionGroupBuilder makes of them in SKU byte order (shared keys, limits, a limit of 0, refresh tasks first, no key alone); a range of tasks reads back; other sweeps and marketplaces are untouched; clearing empties one marketplace, then the sweep", arguments: StoreKind.available)
    func decideCut(kind: StoreKind) async throws {
        let ledger = try await kind.makeRepricingStores().ledger
        let skus = (0..<700).map { ($0 % 3 == 0 ? "a-" : $0 % 3 == 1 ? "B-" : "_\u{e9}") + String(format: "%03d", ($0 * 37) % 700) }
        func key(_ index: Int) -> CompetitionGroupKey? {
            switch index % 7 {
            case 0, 1: return nil
            case 2: return CompetitionGroupKey("G\(index % 23)")
            case 3: return CompetitionGroupKey("G\(index % 23)", limit: 4)
            case 4: return CompetitionGroupKey("R\(index % 5)", refresh: true)
            case 5: return CompetitionGroupKey("batch", limit: 20)
            default: return CompetitionGroupKey("tiny", limit: 0)
            }
        }
        var keys = Dictionary(uniqueKeysWithValues: skus.enumerated().map { ($0.element, key($0.offset)) })
        let shuffled = (0..<700).map { skus[($0 * 389) % 700] }
        for start in stride(from: 0, to: shuffled.count, by: 97) {
            let page = shuffled[start..<min(start + 97, shuffled.count)].map { DecideCutEntry(sku: $0, key: keys[$0]!) }
            try await ledger.addToDecideCut(page, sweep: 7, marketplace: .ebay)
        }
        keys[skus[10]] = CompetitionGroupKey("R1", refresh: true)
        try await ledger.addToDecideCut([DecideCutEntry(sku: skus[10], key: keys[skus[10]]!)], sweep: 7, marketplace: .ebay)
        try await ledger.addToDecideCut([DecideCutEntry(sku: skus[0], key: nil)], sweep: 8, marketplace: .ebay)
        try await ledger.addToDecideCut([DecideCutEntry(sku: "A1", key: nil), DecideCutEntry(sku: "A2", key: CompetitionGroupKey("x"))],
                                        sweep: 7, marketplace: .amazon)

        var builder = CompetitionGroupBuilder<String>()
        for sku in skus.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) { builder.add(sku, key: keys[sku]!) }
        let (placed, groups) = builder.build()
        let expected = groups.map { (skus: Array(placed[$0.range]), refresh: $0.refresh) }

        let count = try await ledger.cutDecideWave(sweep: 7, marketplace: .ebay)
        #expect(count == expected.count)
        let cut = try await ledger.decideCutTasks(sweep: 7, marketplace: .ebay, tasks: 0..<count)
        #expect(cut.map(\.task) == Array(0..<count))
        #expect(cut.map(\.skus) == expected.map(\.skus))
        #expect(cut.map(\.refresh) == expected.map(\.refresh))
        #expect(expected.prefix { $0.refresh }.count == 5 && expected.contains { $0.skus.count == 20 } && expected.contains { $0.skus.count == 4 })
        #expect(try await ledger.decideCutTasks(sweep: 7, marketplace: .ebay, tasks: 3..<10) == Array(cut[3..<10]))
        #expect(try await ledger.decideCutTasks(sweep: 7, marketplace: .ebay, tasks: count..<(count + 5)).isEmpty)
        // The other sweep and marketplace are not numbered by this cut, and cut on their own.
        #expect(try await ledger.decideCutTasks(sweep: 8, marketplace: .ebay, tasks: 0..<10).isEmpty)
        #expect(try await ledger.cutDecideWave(sweep: 7, marketplace: .amazon) == 2)
        #expect(try await ledger.decideCutTasks(sweep: 7, marketplace: .amazon, tasks: 0..<2).map(\.skus) == [["A1"], ["A2"]])

        try await ledger.clearDecideCut(sweep: 7, marketplace: .ebay)
        #expect(try await ledger.cutDecideWave(sweep: 7, marketplace: .ebay) == 0)
        #expect(try await ledger.cutDecideWave(sweep: 7, marketplace: .amazon) == 2)
        try await ledger.clearDecideCut(sweep: 7, marketplace: nil)
        #expect(try await ledger.cutDecideWave(sweep: 7, marketplace: .amazon) == 0)
        #expect(try await ledger.cutDecideWave(sweep: 8, marketplace: .ebay) == 1)
    }

    @Test("a decide cut left by a sweep that never finished its decide wave is deleted when the sweep's first run is pruned, and no other", arguments: StoreKind.available)
    func decideCutPruned(kind: StoreKind) async throws {
        let stores = try await kind.makeRepricingStores()
        let old = try #require(try stores.runs.recordFire(job: "j", kind: "repricing-sweep", trigger: .schedule, requestedBy: nil, scheduledAt: 1,
                                                          status: .interrupted, skipReason: nil, summary: nil, at: 1, resumes: nil))
        let new = try #require(try stores.runs.recordFire(job: "j", kind: "repricing-sweep", trigger: .schedule, requestedBy: nil, scheduledAt: 2,
                                                          status: .interrupted, skipReason: nil, summary: nil, at: 5_000, resumes: nil))
        for run in [old, new] {
            try await stores.ledger.addToDecideCut([DecideCutEntry(sku: "S", key: nil)], sweep: run.id, marketplace: .ebay)
        }
        #expect(try stores.runs.pruneRuns(createdBefore: 1_000, limit: 10) == 1)
        #expect(try stores.runs.pruneSweepRows(limit: 10) == 1)
        #expect(try await stores.ledger.cutDecideWave(sweep: old.id, marketplace: .ebay) == 0)
        #expect(try await stores.ledger.cutDecideWave(sweep: new.id, marketplace: .ebay) == 1)
    }

    @Test("pruneSweepRows deletes the snapshot and decisions of sweeps whose first run is gone, oldest sweep first, up to `limit` rows a call; a sweep whose first run is there is never touched", arguments: StoreKind.available)
    func sweepRowsPruned(kind: StoreKind) async throws {
        let stores = try await kind.makeRepricingStores()
        func run(at: Int64, resumes: Int64? = nil) throws -> Int64 {
            try #require(try stores.runs.recordFire(job: "j", kind: "repricing-sweep", trigger: .schedule, requestedBy: nil, scheduledAt: at,
                                                    status: .succeeded, skipReason: nil, summary: nil, at: at, resumes: resumes)).id
        }
        let old = try run(at: 1), middle = try run(at: 2), resume = try run(at: 5_000, resumes: middle), new = try run(at: 6_000)
        #expect(try stores.ledger.sweepID(ofRun: resume) == middle)
        // Sweeps of 5, 4 and 3 listings; each listing decided on eBay, one on Amazon too.
        for (sweep, count) in [(old, 5), (middle, 4), (new, 3)] {
            let skus = (0..<count).map { "S\(sweep)-\($0)" }
            try stores.ledger.saveSweepListings(skus.map { listing($0) }, sweep: sweep, marketplace: .ebay)
            try stores.ledger.saveSweepListings([listing("A\(sweep)", on: .amazon)], sweep: sweep, marketplace: .amazon)
            try await stores.ledger.saveDecisions(skus.map { decision($0) } + [decision("A\(sweep)", on: .amazon)], sweep: sweep, checkedAt: 10)
        }
        #expect(try stores.runs.pruneSweepRows(limit: 100) == 0, "every sweep's first run is there")

        // The oldest run goes: its sweep's 6 snapshot and 6 decision rows go, 5 at a time.
        #expect(try stores.runs.pruneRuns(createdBefore: 2, limit: 10) == 1)
        #expect(try stores.runs.pruneSweepRows(limit: 5) == 5)
        #expect(try stores.ledger.sweepListings(sweep: old, marketplace: .ebay).count + stores.ledger.sweepListings(sweep: old, marketplace: .amazon).count == 1)
        #expect(try stores.ledger.decisionCount(sweep: old) == 6, "the snapshot goes before the decisions")
        #expect(try stores.runs.pruneSweepRows(limit: 5) == 5)
        #expect(try stores.runs.pruneSweepRows(limit: 5) == 2)
        #expect(try stores.runs.pruneSweepRows(limit: 5) == 0)
        #expect(try stores.ledger.sweepListings(sweep: old, marketplace: .ebay).isEmpty)
        #expect(try stores.ledger.decisionCount(sweep: old) == 0)
        for sweep in [middle, new] {
            #expect(try stores.ledger.sweepListings(sweep: sweep, marketplace: .ebay).count == (sweep == middle ? 4 : 3))
            #expect(try stores.ledger.decisionCount(sweep: sweep) == (sweep == middle ? 5 : 4))
        }

        // The middle sweep's first run is old, but its resume is not: the first run stays, and
        // with it the sweep's rows, while the resume is kept.
        #expect(try stores.runs.pruneRuns(createdBefore: 3, limit: 10) == 0)
        #expect(try stores.runs.run(id: resume)?.resumes == middle)
        #expect(try stores.runs.pruneSweepRows(limit: 1_000) == 0)
        #expect(try stores.ledger.decisionCount(sweep: middle) == 5)

        // Once the resume is old too, the chain goes whole, and nothing reaches the sweep.
        #expect(try stores.runs.pruneRuns(createdBefore: 5_001, limit: 10) == 2)
        #expect(try stores.runs.pruneSweepRows(limit: 1_000) == 10)
        #expect(try stores.ledger.decisionCount(sweep: middle) == 0)
        #expect(try stores.ledger.decisionCount(sweep: new) == 4)

        // With no run left at all, nothing is reachable: every sweep's rows go.
        #expect(try stores.runs.pruneRuns(createdBefore: 10_000, limit: 10) == 1)
        #expect(try stores.runs.pruneSweepRows(limit: 1_000) == 8)
        #expect(try stores.ledger.sweepListings(sweep: new, marketplace: .ebay).isEmpty)
    }
}
