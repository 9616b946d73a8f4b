import Foundation
import GRDB
import Testing
@testable import FlipSyncCore
@testable import FlipSyncStore
import FlipSyncTestKit

/// One decision type from the repricer to the ledger, `show --json` and the circuit breaker.
@Suite("Pricing decisions in the ledger", .timeLimit(.minutes(2)))
struct DecisionLedgerTests {
    static func decision(_ sku: String, old: String, new: String?, strategy: RepricingSweep.Strategy = .matchLowest,
                         reason: PricingDecision.Reason = .followedCompetition) -> PricingDecision {
        PricingDecision(sku: sku, marketplace: .amazon, listingID: "L-" + sku, oldPrice: usd(old), newPrice: new.map(usd),
                        floor: usd("5.00"), ceiling: usd("40.00"), lowestCompetitorLanded: usd("9.99"), buyBox: nil,
                        offersConsidered: 3, offersExcluded: [.ours: 1, .lowFeedback: 2], strategy: strategy, reason: reason,
                        explanation: "the lowest landed price less 1%", shippingCharged: usd("3.99"))
    }

    @Test("a decision saved by the sweep is read back as the same value, strategy, reason and amounts included")
    func roundTrip() async throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        var planned = Self.decision("A1", old: "20.00", new: "18.50")
        var hold = Self.decision("B2", old: "12.00", new: nil, strategy: .matchBuyBox, reason: .noBuyBox)
        hold.floor = nil
        hold.ceiling = nil
        #expect(planned.state == .planned && hold.state == .hold)
        try await store.saveDecision(planned, sweep: 7)
        try await store.saveDecision(hold, sweep: 7)
        #expect(try store.decisions(sweep: 7) == [planned, hold])
        try await store.markDecisions(sweep: 7, marketplace: .amazon, skus: ["A1"], state: .applied, results: ["A1": "applied"])
        planned.state = .applied
        planned.apiResult = "applied"
        #expect(try store.decisions(sweep: 7, marketplace: .amazon, skus: ["A1"]) == [planned])
    }

    @Test("show --json prints a decision in the keys it always had, and reads back the same decision")
    func jsonShape() throws {
        let d = Self.decision("A1", old: "20.00", new: "18.50")
        let data = try JSONEncoder().encode(d)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["marketplace", "sku", "listingID", "currency", "oldPriceMicros", "newPriceMicros", "floorMicros",
                                     "ceilingMicros", "lowestCompetitorMicros", "shippingChargedMicros", "offersConsidered",
                                     "offersExcluded", "strategy", "reasonCode", "reason", "state"])
        #expect(object["currency"] as? String == "USD" && object["oldPriceMicros"] as? Int64 == 20_000_000)
        #expect(object["reasonCode"] as? String == "followed-competition" && object["strategy"] as? String == "match-lowest")
        #expect(object["offersExcluded"] as? [String: Int] == ["ours": 1, "low-feedback": 2])
        #expect(try JSONDecoder().decode(PricingDecision.self, from: data) == d)
    }

    @Test("a decision row this build cannot read is an error naming the row, never a default", arguments: [
        ("currency", "'XYZ'", "unknown currency \"XYZ\""),
        ("strategy", "'beat-everyone'", "unknown strategy \"beat-everyone\""),
        ("reason_code", "'guessed'", "unknown reason_code \"guessed\""),
        ("offers_excluded", "'{\"cosmic-rays\":1}'", "unknown exclusion \"cosmic-rays\""),
        ("marketplace", "'etsy'", "unknown marketplace \"etsy\""),
    ])
    func badRow(column: String, value: String, message: String) async throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        do {
            let store = try RunStore(path: path)
            try await store.saveDecision(Self.decision("A1", old: "20.00", new: "18.50"), sweep: 7)
        }
        try await ledgerConnection(path).write { db in try db.execute(sql: "UPDATE decisions SET \(column) = \(value)") }
        let store = try RunStore(path: path)
        let error = #expect(throws: (any Error).self) { try store.decisions(sweep: 7) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("decisions row (sweep_id 7, ") && text.contains("sku \"A1\")") && text.contains(message), "\(text)")
    }

    @Test("the circuit breaker judges the decisions the ledger returns, with their own currency")
    func breakerOverStoredDecisions() async throws {
        let scratch = Scratch()
        let store = try RunStore(path: scratch.path + "/ledger.sqlite")
        // Two of three cut by 40%: over a 50% share of sharp (25%) drops.
        try await store.saveDecision(Self.decision("A1", old: "20.00", new: "12.00"), sweep: 3)
        try await store.saveDecision(Self.decision("A2", old: "10.00", new: "6.00"), sweep: 3)
        try await store.saveDecision(Self.decision("A3", old: "10.00", new: "9.90"), sweep: 3)
        let trip = try #require(CircuitBreaker.evaluate(decisions: try store.decisions(sweep: 3), share: pct("50%"), drop: pct("25%")))
        #expect(trip.sharpDrops == 2 && trip.evaluated == 3)
        #expect(trip.worst.map(\.sku) == ["A1", "A2"] && trip.worst.first?.newPrice == usd("12.00"))
    }

    @Test("a snapshot listing or unit cost row in an unknown currency is an error naming the row, never USD")
    func unknownCurrencyInListingsAndCosts() async throws {
        let scratch = Scratch()
        let path = scratch.path + "/ledger.sqlite"
        do {
            let store = try RunStore(path: path)
            try store.saveSweepListings([MarketplaceListing(marketplace: .ebay, sku: "A1", listingID: "L1", title: "Lamp", condition: .new,
                                                            price: usd("20.00"), quantity: 2)], sweep: 7, marketplace: .ebay)
            try store.saveUnitCosts(["A1": usd("8.00")], source: "shopify", at: 1)
            #expect(try store.sweepListings(sweep: 7, marketplace: .ebay).map(\.price) == [usd("20.00")])
            #expect(try store.unitCost(sku: "A1") == usd("8.00"))
        }
        try await ledgerConnection(path).write { db in
            try db.execute(sql: "UPDATE sweep_listings SET currency = 'XYZ'")
            try db.execute(sql: "UPDATE unit_costs SET currency = 'XYZ'")
        }
        let store = try RunStore(path: path)
        let listing = #expect(throws: (any Error).self) { try store.sweepListings(sweep: 7, marketplace: .ebay) }
        #expect("\(listing.map { "\($0)" } ?? "")".contains("sweep_listings row (sweep_id 7, marketplace \"ebay\", sku \"A1\") does not decode"))
        #expect("\(listing.map { "\($0)" } ?? "")".contains("unknown currency \"XYZ\""))
        let cost = #expect(throws: (any Error).self) { try store.unitCosts() }
        #expect("\(cost.map { "\($0)" } ?? "")".contains("unit_costs row (sku \"A1\") does not decode"))
        #expect("\(cost.map { "\($0)" } ?? "")".contains("unknown currency \"XYZ\""))
        #expect(throws: (any Error).self) { try store.unitCost(sku: "A1") }
    }
}
