import Foundation
import Testing
@testable import FlipSyncCore

// MARK: - Helpers shared by the pricing tests

func usd(_ text: String) -> Money { try! Money(parsing: text + " USD") }
func pct(_ text: String) -> Percent { try! Percent(parsing: text) }

func pricingListing(price: String, shippingCharged: String? = nil, condition: ItemCondition = .new,
                    marketplace: MarketplaceName = .ebay, quantity: Int = 1) -> MarketplaceListing {
    MarketplaceListing(marketplace: marketplace, sku: "SKU-1", listingID: "L-1", title: "Widget", condition: condition,
                       price: usd(price), quantity: quantity, shippingCharged: shippingCharged.map(usd))
}

func pricingOffer(_ id: String, price: String, shipping: String = "0", byIdentifier: Bool = true,
                  feedback: Percent? = Percent(partsPerMillion: 990_000), condition: ItemCondition = .new,
                  ours: Bool = false, currency: String = "USD") -> CompetitorOffer {
    CompetitorOffer(offerID: id, title: "Widget", matchedByIdentifier: byIdentifier,
                    price: try! Money(parsing: "\(price) \(currency)"), shipping: try! Money(parsing: "\(shipping) \(currency)"),
                    condition: condition, sellerID: "seller-\(id)", sellerFeedback: feedback, isOurs: ours)
}

// MARK: - The floor

@Suite("Pricing: the price floor", .timeLimit(.minutes(2)))
struct PriceFloorTests {
    @Test("worked example: cost 10.00, eBay 13.25% + 0.30, shipping 4.50, margin 15% → floor 18.79")
    func workedExample() throws {
        let floor = try #require(PriceFloor(cost: usd("10.00"), shipping: usd("4.50"),
                                            fees: MarketplaceFees(percent: pct("13.25%"), fixed: usd("0.30")),
                                            minMargin: pct("15%")))
        // (0.30 + 4.50 + 10.00 + 15% × 10.00) / (1 − 13.25%) = 16.30 / 0.8675 = 18.7896… → 18.79
        #expect(floor.price == usd("18.79"))
        #expect(floor.requiredProfit == usd("1.50"))
        #expect(floor.feesAtFloor == usd("2.789675"))  // 13.25% × 18.79 = 2.489675, + 0.30
        #expect(floor.profitAtFloor == usd("1.500325"))
        // One cent less misses the margin: 18.78 − 2.48835 − 0.30 − 4.50 − 10.00 = 1.49165 < 1.50.
        #expect(usd("18.78") - floor.fees.charged(at: usd("18.78")) - usd("4.50") - usd("10.00") == usd("1.49165"))
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var cost: Money, shipping: Money, fee: Percent, fixed: Money, margin: Percent
        var expected: Money?
        var testDescription: String { name }
    }

    static let jpy = Currency(code: "JPY")!
    static let cases: [Case] = [
        Case(name: "no fees, no margin: the cost", cost: usd("10"), shipping: usd("0"), fee: pct("0%"), fixed: usd("0"),
             margin: pct("0%"), expected: usd("10.00")),
        Case(name: "an exact result is not rounded up", cost: usd("10"), shipping: usd("0"), fee: pct("0%"), fixed: usd("0"),
             margin: pct("10%"), expected: usd("11.00")),
        Case(name: "a 50% fee doubles what must be covered", cost: usd("1"), shipping: usd("0.50"), fee: pct("50%"),
             fixed: usd("0.25"), margin: pct("0%"), expected: usd("3.50")),
        Case(name: "a micro over a cent rounds up a whole cent", cost: usd("10.000001"), shipping: usd("0"), fee: pct("0%"),
             fixed: usd("0"), margin: pct("0%"), expected: usd("10.01")),
        Case(name: "zero-digit currency: whole yen, rounded up", cost: Money(micros: 1_000_000_000, currency: jpy),
             shipping: .zero(jpy), fee: pct("10%"), fixed: .zero(jpy), margin: pct("0%"),
             expected: Money(micros: 1_112_000_000, currency: jpy)),  // 1000 / 0.9 = 1111.1…
        Case(name: "nothing to cover: one cent, never zero", cost: usd("0"), shipping: usd("0"), fee: pct("0%"), fixed: usd("0"),
             margin: pct("0%"), expected: usd("0.01")),
        Case(name: "a 100% fee: no floor", cost: usd("1"), shipping: usd("0"), fee: pct("100%"), fixed: usd("0"),
             margin: pct("0%"), expected: nil),
    ]

    @Test("floor examples", arguments: cases)
    func examples(_ c: Case) {
        let floor = PriceFloor(cost: c.cost, shipping: c.shipping, fees: MarketplaceFees(percent: c.fee, fixed: c.fixed),
                               minMargin: c.margin)
        #expect(floor?.price == c.expected)
    }

    @Test("the ceiling: an override wins, then cost × (1 + markup), then the current price; whole cents, rounded down")
    func ceiling() {
        #expect(Ceiling(cost: usd("10"), currentPrice: usd("20"), markup: pct("150%"), override: usd("30.019")).price == usd("30.01"))
        let markup = Ceiling(cost: usd("10"), currentPrice: usd("20"), markup: pct("150%"), override: nil)
        #expect(markup.price == usd("25.00") && markup.source == .markup(pct("150%")))
        #expect(Ceiling(cost: usd("9.99"), currentPrice: usd("20"), markup: pct("33.3333%"), override: nil).price == usd("13.31"))
        let current = Ceiling(cost: usd("10"), currentPrice: usd("20"), markup: nil, override: nil)
        #expect(current.price == usd("20.00") && current.source == .currentPrice)
    }
}

// MARK: - Competitor filter

@Suite("Pricing: which competitor offers count", .timeLimit(.minutes(2)))
struct CompetitorFilterTests {
    @Test("the stored exclusions are exactly what JSONEncoder with sorted keys writes, for every subset of reasons")
    func storedExclusionsJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let reasons = CompetitorFilter.ExclusionReason.allCases
        for mask in 0..<(1 << reasons.count) {
            var counts: [CompetitorFilter.ExclusionReason: Int] = [:]
            for (index, reason) in reasons.enumerated() where mask & (1 << index) != 0 { counts[reason] = index * 7 + mask % 5 }
            let codes = Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) })
            #expect(CompetitorFilter.ExclusionReason.storedJSON(counts) == String(decoding: try encoder.encode(codes), as: UTF8.self))
        }
    }

    static let offers = [
        pricingOffer("ours", price: "5", ours: true),
        pricingOffer("euro", price: "5", currency: "EUR"),
        pricingOffer("used", price: "5", condition: .used),
        pricingOffer("title-rejected", price: "5", byIdentifier: false),
        pricingOffer("title-accepted", price: "19", byIdentifier: false),
        pricingOffer("no-feedback", price: "5", feedback: nil),
        pricingOffer("low-feedback", price: "5", feedback: pct("94.9999%")),
        pricingOffer("at-minimum", price: "21", feedback: pct("95%")),
        pricingOffer("good", price: "20", shipping: "1.50"),
    ]

    func filter(llm: Bool) -> CompetitorFilter {
        CompetitorFilter(condition: .new, currency: .usd, minSellerFeedback: pct("95%"), llmMatching: llm,
                         acceptedTitleMatches: ["title-accepted"])
    }

    @Test("with title matching on: accepted title matches count; every exclusion is counted once under its reason")
    func titleMatchingOn() {
        let result = filter(llm: true).apply(to: Self.offers)
        #expect(result.considered.map(\.offerID) == ["title-accepted", "at-minimum", "good"])
        #expect(result.excluded == [.ours: 1, .otherCurrency: 1, .otherCondition: 1, .titleOnly: 1, .unknownFeedback: 1,
                                    .lowFeedback: 1])
        #expect(result.lowestLanded == usd("19"))
    }

    @Test("with title matching off: every title-only offer is excluded, accepted or not")
    func titleMatchingOff() {
        let result = filter(llm: false).apply(to: Self.offers)
        #expect(result.considered.map(\.offerID) == ["at-minimum", "good"])
        #expect(result.excluded[.titleOnly] == 2 && result.excludedCount == 7)
        #expect(result.lowestLanded == usd("21"))  // 20 + 1.50 shipping lands above 21 + 0
    }

    @Test("an offer failing several checks is counted under the first")
    func firstReasonWins() {
        let offer = pricingOffer("x", price: "5", byIdentifier: false, feedback: nil, condition: .used, ours: true)
        #expect(filter(llm: true).exclusion(of: offer) == .ours)
    }
}

// MARK: - Decisions

/// The baseline for the decision examples: cost 10.00, our shipping 2.00, fees 10% + 0, margin 10%
/// → floor (2 + 10 + 1) / 0.9 = 14.444… → 14.45; markup 150% → ceiling 25.00; max change 10%.
struct DecisionCase: CustomTestStringConvertible, Sendable {
    var name: String
    var price = "20.00"
    var shippingCharged: String? = "0.00"
    var parameters = RepricingSweep.Parameters(minMargin: pct("10%"), ceilingMarkup: pct("150%"))
    var offers: [CompetitorOffer] = []
    var buyBox: Money? = nil
    var ceilingOverride: Money? = nil
    var cost = usd("10.00")
    var expected: Money?
    var reason: PricingDecision.Reason
    var testDescription: String { name }

    func decide() -> PricingDecision {
        Repricer.decide(listing: pricingListing(price: price, shippingCharged: shippingCharged), cost: cost,
                        shippingCost: usd("2.00"), fees: MarketplaceFees(percent: pct("10%"), fixed: usd("0")),
                        parameters: parameters, competition: Competition(offers: offers, buyBox: buyBox),
                        ceilingOverride: ceilingOverride)
    }
}

extension RepricingSweep.Parameters {
    /// The decision examples' baseline with some keys changed.
    func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }
}

@Suite("Pricing: decisions, one behaviour per example", .timeLimit(.minutes(2)))
struct RepricerExampleTests {
    static let base = RepricingSweep.Parameters(minMargin: pct("10%"), ceilingMarkup: pct("150%"))
    static let lowest1950 = [pricingOffer("a", price: "17.50", shipping: "2.00"), pricingOffer("b", price: "20.00", shipping: "0")]

    static let strategies: [DecisionCase] = [
        DecisionCase(name: "beat-lowest 1%: 19.50 landed − 0.195 → 19.30", offers: lowest1950,
                     expected: usd("19.30"), reason: .followedCompetition),
        DecisionCase(name: "beat-lowest by an amount: 19.50 − 0.25 → 19.25",
                     parameters: base.with { $0.undercut.value = .amount(usd("0.25")) }, offers: lowest1950,
                     expected: usd("19.25"), reason: .followedCompetition),
        DecisionCase(name: "beat-lowest on landed price: the shipping we charge comes off the item price",
                     price: "16.00", shippingCharged: "3.99", offers: lowest1950,
                     expected: usd("15.31"), reason: .followedCompetition),  // 19.305 − 3.99 = 15.315 → 15.31
        DecisionCase(name: "match-lowest: 19.50", parameters: base.with { $0.strategy = .matchLowest }, offers: lowest1950,
                     expected: usd("19.50"), reason: .followedCompetition),
        DecisionCase(name: "match-buy-box: the Buy Box, not the lowest", parameters: base.with { $0.strategy = .matchBuyBox },
                     offers: lowest1950, buyBox: usd("21.00"), expected: usd("21.00"), reason: .followedCompetition),
        DecisionCase(name: "match-buy-box without a Buy Box holds", parameters: base.with { $0.strategy = .matchBuyBox },
                     offers: lowest1950, expected: nil, reason: .noBuyBox),
        DecisionCase(name: "our own offer is not the competition",
                     offers: lowest1950 + [pricingOffer("me", price: "15.00", ours: true)],
                     expected: usd("19.30"), reason: .followedCompetition),
        DecisionCase(name: "a target below the floor stops at the floor",
                     parameters: base.with { $0.maxChange = pct("50%") }, offers: [pricingOffer("a", price: "14.00")],
                     expected: usd("14.45"), reason: .atFloor),
        DecisionCase(name: "a cut larger than max change stops at max change (20.00 − 10%)",
                     offers: [pricingOffer("a", price: "14.00")], expected: usd("18.00"), reason: .limitedByMaxChange),
        DecisionCase(name: "a target above the ceiling stops at the ceiling", price: "24.00",
                     parameters: base.with { $0.strategy = .matchLowest }, offers: [pricingOffer("a", price: "30.00")],
                     expected: usd("25.00"), reason: .atCeiling),
        DecisionCase(name: "without a markup the ceiling is today's price: no rise",
                     parameters: base.with { $0.strategy = .matchLowest; $0.ceilingMarkup = nil },
                     offers: [pricingOffer("a", price: "21.00")], expected: nil, reason: .unchanged),
        DecisionCase(name: "a per-listing ceiling override allows the rise",
                     parameters: base.with { $0.strategy = .matchLowest; $0.ceilingMarkup = nil },
                     offers: [pricingOffer("a", price: "21.00")], ceilingOverride: usd("20.75"),
                     expected: usd("20.75"), reason: .atCeiling),
    ]

    static let alone: [DecisionCase] = [
        DecisionCase(name: "alone, ceiling: up by at most max change", expected: usd("22.00"), reason: .limitedByMaxChange),
        DecisionCase(name: "alone, ceiling: reaches the ceiling when max change allows",
                     parameters: base.with { $0.maxChange = pct("50%") }, expected: usd("25.00"), reason: .aloneCeiling),
        DecisionCase(name: "alone, hold: holds", parameters: base.with { $0.whenAlone = .hold }, expected: nil, reason: .aloneHold),
        DecisionCase(name: "alone, hold: a price below the floor still moves up to it, and the reason names the floor",
                     price: "14.00", parameters: base.with { $0.whenAlone = .hold }, expected: usd("14.45"), reason: .belowFloor),
        DecisionCase(name: "alone, hold: a price above the ceiling moves down to it (max change 20%)", price: "26.00",
                     parameters: base.with { $0.whenAlone = .hold; $0.maxChange = pct("20%") }, expected: usd("25.00"),
                     reason: .aboveCeiling),
        DecisionCase(name: "alone, hold: a price inside the bounds is not rounded", price: "20.37",
                     parameters: base.with { $0.whenAlone = .hold; $0.rounding = .cents99 }, expected: nil, reason: .aloneHold),
        DecisionCase(name: "match-buy-box with no Buy Box: a price below the floor moves up to it", price: "14.00",
                     parameters: base.with { $0.strategy = .matchBuyBox }, offers: lowest1950, expected: usd("14.45"),
                     reason: .belowFloor),
        DecisionCase(name: "only excluded offers count as alone",
                     offers: [pricingOffer("u", price: "5", condition: .used), pricingOffer("t", price: "5", byIdentifier: false)],
                     expected: usd("22.00"), reason: .limitedByMaxChange),
    ]

    static let reviews: [DecisionCase] = [
        DecisionCase(name: "old price too far below the floor for max change: review", price: "10.00",
                     offers: lowest1950, expected: nil, reason: .outOfReach),
        DecisionCase(name: "floor above the ceiling: review", parameters: base.with { $0.ceilingMarkup = pct("10%") },
                     offers: lowest1950, expected: nil, reason: .floorAboveCeiling),
        DecisionCase(name: "cost in another currency: review", offers: lowest1950,
                     cost: try! Money(parsing: "10 EUR"), expected: nil, reason: .currencyMismatch),
    ]

    static let thresholds: [DecisionCase] = [
        DecisionCase(name: "a change below the threshold holds (0.30 < 0.50)",
                     parameters: base.with { $0.strategy = .matchLowest; $0.changeThreshold.value = usd("0.50") },
                     offers: [pricingOffer("a", price: "19.70")], expected: nil, reason: .belowThreshold),
        DecisionCase(name: "a change equal to the threshold applies (0.50)",
                     parameters: base.with { $0.strategy = .matchLowest; $0.changeThreshold.value = usd("0.50") },
                     offers: [pricingOffer("a", price: "19.50")], expected: usd("19.50"), reason: .followedCompetition),
        DecisionCase(name: "already at the target: unchanged", parameters: base.with { $0.strategy = .matchLowest },
                     offers: [pricingOffer("a", price: "20.00")], expected: nil, reason: .unchanged),
        DecisionCase(name: "rounding that lands back on the old price holds", price: "19.99",
                     parameters: base.with { $0.strategy = .matchLowest; $0.rounding = .cents99 },
                     offers: [pricingOffer("a", price: "20.50")], expected: nil, reason: .unchanged),
        DecisionCase(name: "rounding applies to the decision (19.30 → 18.99)", parameters: base.with { $0.rounding = .cents99 },
                     offers: lowest1950, expected: usd("18.99"), reason: .followedCompetition),
    ]

    @Test("strategies", arguments: strategies)
    func strategy(_ c: DecisionCase) { check(c) }

    @Test("when alone", arguments: alone)
    func whenAlone(_ c: DecisionCase) { check(c) }

    @Test("holds that need review", arguments: reviews)
    func review(_ c: DecisionCase) {
        check(c)
        #expect(c.reason.needsReview)
    }

    @Test("change threshold", arguments: thresholds)
    func threshold(_ c: DecisionCase) { check(c) }

    func check(_ c: DecisionCase) {
        let decision = c.decide()
        #expect(decision.newPrice == c.expected, "\(decision.explanation)")
        #expect(decision.reason == c.reason, "\(decision.explanation)")
        #expect(decision.reason.changesPrice == (c.expected != nil))
    }

    @Test("a decision records its bounds, the competition it saw, and explains itself")
    func recordsItsInputs() {
        let d = DecisionCase(name: "", offers: Self.lowest1950 + [pricingOffer("u", price: "1", condition: .used)],
                             expected: nil, reason: .followedCompetition).decide()
        #expect(d.floor == usd("14.45") && d.ceiling == usd("25.00"))
        #expect(d.lowestCompetitorLanded == usd("19.50") && d.offersConsidered == 2 && d.offersExcluded == [.otherCondition: 1])
        #expect(d.strategy == .beatLowest && d.sku == "SKU-1" && d.listingID == "L-1" && d.oldPrice == usd("20.00"))
        #expect(d.explanation == "lowest landed 19.50 USD − undercut 0.195 USD; target landed 19.305 USD − shipping charged 0.00 USD (the listing's shipping) → 19.30 USD; 20.00 USD → 19.30 USD")
        #expect(d.shippingCharged == usd("0.00"))
    }
}

// MARK: - README worked examples, our shipping, guardrails

@Suite("Pricing: README worked examples and the shipping we charge", .timeLimit(.minutes(2)))
struct RepricerReadmeExampleTests {
    /// Amazon, FS-00032 of the trust issue: cost 60.00, shipping cost 4.50, fees 15% + 0, margin 15%
    /// → floor 73.50 / 0.85 = 86.470… → 86.48; no markup, so the ceiling is today's price.
    static let amazonParameters = RepricingSweep.Parameters(
        marketplaces: [.amazon], undercut: .percent(pct("1%")), minMargin: pct("15%"), maxChange: pct("10%"), rounding: .cents99)
    static let amazonFees = MarketplaceFees(percent: pct("15%"), fixed: usd("0"))

    static func amazon(price: String, offers: [CompetitorOffer], parameters: RepricingSweep.Parameters = amazonParameters,
                       quantity: Int = 1) -> PricingDecision {
        Repricer.decide(listing: pricingListing(price: price, marketplace: .amazon, quantity: quantity), cost: usd("60.00"),
                        shippingCost: usd("4.50"), fees: amazonFees, parameters: parameters, competition: Competition(offers: offers))
    }

    @Test("README: Amazon beat-lowest takes our shipping from our own offer: 117.99 with 4.99 shipping vs 115.42 landed → 108.99")
    func amazonBeatLowestUsesOurShipping() throws {
        let offers = [pricingOffer("them", price: "110.43", shipping: "4.99"), pricingOffer("other", price: "125.00", shipping: "0"),
                      pricingOffer("us", price: "117.99", shipping: "4.99", ours: true)]
        let d = Self.amazon(price: "117.99", offers: offers)
        // L = 115.42; T = 115.42 − 1% × 115.42 = 114.2658; item 114.2658 − 4.99 = 109.2758 → 109.27; .99 → 108.99.
        #expect(d.floor == usd("86.48") && d.ceiling == usd("117.99"))
        #expect(d.newPrice == usd("108.99"), "\(d.explanation)")
        #expect(d.reason == .followedCompetition && d.shippingCharged == usd("4.99"))
        #expect(try #require(d.newPrice) + usd("4.99") < usd("115.42"))  // landed 113.98
        // With an undercut of 0.01: 115.41 − 4.99 = 110.42 → 109.99, landed 114.98.
        let cent = Self.amazon(price: "117.99", offers: offers,
                               parameters: Self.amazonParameters.with { $0.undercut.value = .amount(usd("0.01")) })
        #expect(cent.newPrice == usd("109.99"), "\(cent.explanation)")
    }

    @Test("Amazon without our own offer among the offers: holds own-shipping-unknown, never assumes free shipping")
    func ownOfferMissingHolds() {
        let d = Self.amazon(price: "117.99", offers: [pricingOffer("them", price: "110.43", shipping: "4.99")])
        #expect(d.newPrice == nil && d.reason == .ownShippingUnknown && d.shippingCharged == nil, "\(d.explanation)")
        // The guardrail still applies: a price below the floor moves up to it, then rounds like any move
        // (.99: down to 85.99 would cross the floor, so up to 86.99).
        let low = Self.amazon(price: "80.00", offers: [pricingOffer("them", price: "110.43", shipping: "4.99")],
                              parameters: Self.amazonParameters.with { $0.ceilingMarkup = pct("150%") })
        #expect(low.newPrice == usd("86.99") && low.reason == .belowFloor, "\(low.explanation)")
    }

    @Test("our own offer's shipping wins over the listing's; with several of ours, the largest")
    func ownOfferShippingWins() {
        let listing = pricingListing(price: "20.00", shippingCharged: "1.00")
        let offers = [pricingOffer("a", price: "17.50", shipping: "2.00"), pricingOffer("me", price: "20.00", shipping: "3.00", ours: true),
                      pricingOffer("me2", price: "20.00", shipping: "3.50", ours: true)]
        let d = Repricer.decide(listing: listing, cost: usd("10.00"), shippingCost: usd("2.00"),
                                fees: MarketplaceFees(percent: pct("10%"), fixed: usd("0")),
                                parameters: RepricerExampleTests.base.with { $0.maxChange = pct("50%") },
                                competition: Competition(offers: offers))
        // 19.50 − 0.195 = 19.305 − 3.50 = 15.805 → 15.80.
        #expect(d.shippingCharged == usd("3.50") && d.newPrice == usd("15.80") && d.reason == .followedCompetition, "\(d.explanation)")
    }

    @Test("README: rounding at the max-change edge: 137.99 − 10% → 124.20; down to 123.99 would cross it, so 124.99 (max-change)")
    func roundingAtTheWindowEdge() {
        // Amazon FS-00011 of the trust issue: lowest landed 111.36, our offer ships for 3.99.
        let offers = [pricingOffer("them", price: "107.37", shipping: "3.99"), pricingOffer("us", price: "137.99", shipping: "3.99", ours: true)]
        let d = Self.amazon(price: "137.99", offers: offers, parameters: Self.amazonParameters.with { $0.ceilingMarkup = pct("150%") })
        // T = 111.36 − 1.1136 = 110.2464; 110.2464 − 3.99 = 106.2564 → 106.25; window [124.20, 151.78] → 124.20.
        #expect(d.newPrice == usd("124.99") && d.reason == .limitedByMaxChange, "\(d.explanation)")
        #expect(d.explanation.contains("limited by max change 10% to 124.20 USD"))
    }

    @Test("a followed price that rounds up because rounding down would cross the floor is at-floor")
    func roundedUpAtTheFloor() throws {
        // Floor 14.45; L = 14.60, T = 14.454 → 14.45; .99 down is 13.99 < 14.45, so up to 14.99.
        let d = DecisionCase(name: "", parameters: RepricerExampleTests.base.with { $0.maxChange = pct("50%"); $0.rounding = .cents99 },
                             offers: [pricingOffer("a", price: "14.60")], expected: nil, reason: .atFloor).decide()
        #expect(d.newPrice == usd("14.99") && d.reason == .atFloor, "\(d.explanation)")
    }

    @Test("README: hold with the price above the ceiling: 107.99 cut to the ceiling 89.19 (above-ceiling); with 10% it is out of reach")
    func holdAboveTheCeiling() {
        func decide(_ maxChange: String) -> PricingDecision {
            Repricer.decide(listing: pricingListing(price: "107.99", shippingCharged: "0.00"), cost: usd("59.46"), shippingCost: usd("4.50"),
                            fees: MarketplaceFees(percent: pct("13.25%"), fixed: usd("0.30")),
                            parameters: RepricingSweep.Parameters(minMargin: pct("10%"), maxChange: pct(maxChange), ceilingMarkup: pct("50%"),
                                                                  whenAlone: .hold),
                            competition: Competition(offers: []))
        }
        let d = decide("20%")
        // Ceiling 59.46 × 1.5 = 89.19; window 107.99 ± 21.598 → [86.40, 129.58]; floor 70.206 / 0.8675 → 80.93.
        #expect(d.ceiling == usd("89.19") && d.floor == usd("80.93"))
        #expect(d.newPrice == usd("89.19") && d.reason == .aboveCeiling, "\(d.explanation)")
        // 10%: the window's lower edge 97.20 is above the ceiling: no allowed price, held for review.
        #expect(decide("10%").reason == .outOfReach)
    }

    @Test("window edges are rounded inward: 19.99 ± 10% (1.999) → [18.00, 21.98]")
    func windowEdgesInward() {
        let up = DecisionCase(name: "", price: "19.99", expected: nil, reason: .limitedByMaxChange).decide()
        #expect(up.newPrice == usd("21.98") && up.reason == .limitedByMaxChange, "\(up.explanation)")
        let down = DecisionCase(name: "", price: "19.99", offers: [pricingOffer("a", price: "10.00")], expected: nil,
                                reason: .limitedByMaxChange).decide()
        #expect(down.newPrice == usd("18.00") && down.reason == .limitedByMaxChange, "\(down.explanation)")
    }

    @Test("an out-of-stock listing holds out-of-stock")
    func outOfStock() {
        let d = Self.amazon(price: "117.99", offers: [], quantity: 0)
        #expect(d.newPrice == nil && d.reason == .outOfStock && d.floor == nil)
    }
}

// MARK: - Rounding

@Suite("Pricing: rounding to an ending", .timeLimit(.minutes(2)))
struct PricingRoundingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var price: Money, rounding: RepricingSweep.Rounding, lower: Money, upper: Money, old: Money
        var expected: Money
        var testDescription: String { name }
    }

    static let yen = Currency(code: "JPY")!
    static let cases: [Case] = [
        Case(name: ".99 rounds down", price: usd("19.30"), rounding: .cents99, lower: usd("18"), upper: usd("22"), old: usd("20"),
             expected: usd("18.99")),
        Case(name: ".95 rounds down", price: usd("19.30"), rounding: .cents95, lower: usd("18"), upper: usd("22"), old: usd("20"),
             expected: usd("18.95")),
        Case(name: ".49 rounds down within the unit", price: usd("19.50"), rounding: .cents49, lower: usd("18"), upper: usd("22"),
             old: usd("20"), expected: usd("19.49")),
        Case(name: ".00 rounds down", price: usd("19.30"), rounding: .whole, lower: usd("18"), upper: usd("22"), old: usd("20"),
             expected: usd("19.00")),
        Case(name: "already on the ending stays", price: usd("18.99"), rounding: .cents99, lower: usd("18"), upper: usd("22"),
             old: usd("20"), expected: usd("18.99")),
        Case(name: "below the floor: up to the next ending", price: usd("18.79"), rounding: .cents99, lower: usd("18.79"),
             upper: usd("22"), old: usd("20"), expected: usd("18.99")),
        Case(name: "up would break the ceiling: unrounded", price: usd("18.79"), rounding: .cents99, lower: usd("18.79"),
             upper: usd("18.90"), old: usd("20"), expected: usd("18.79")),
        Case(name: "below the max-change bound: up to the next ending", price: usd("18.00"), rounding: .cents99,
             lower: usd("18.00"), upper: usd("22"), old: usd("20"), expected: usd("18.99")),
        Case(name: "up would turn a cut into a rise: unrounded", price: usd("18.20"), rounding: .cents99, lower: usd("18.20"),
             upper: usd("22"), old: usd("18.50"), expected: usd("18.20")),
        Case(name: "down would turn a rise into a cut: unrounded", price: usd("20.30"), rounding: .cents99, lower: usd("18"),
             upper: usd("22"), old: usd("20.00"), expected: usd("20.30")),
        Case(name: "down to the old price cancels a small rise", price: usd("20.30"), rounding: .cents99, lower: usd("18"),
             upper: usd("22"), old: usd("19.99"), expected: usd("19.99")),
        Case(name: "below one unit: down is negative, so up", price: usd("0.50"), rounding: .cents99, lower: usd("0.40"),
             upper: usd("1.50"), old: usd("1.20"), expected: usd("0.99")),
        Case(name: "no rounding", price: usd("19.37"), rounding: .none, lower: usd("18"), upper: usd("22"), old: usd("20"),
             expected: usd("19.37")),
        Case(name: "the old price is never rounded on its own", price: usd("20.00"), rounding: .cents99, lower: usd("18"),
             upper: usd("22"), old: usd("20.00"), expected: usd("20.00")),
        Case(name: "an ending yen cannot express leaves the price", price: Money(micros: 1_234_000_000, currency: yen),
             rounding: .cents99, lower: Money(micros: 1_000_000_000, currency: yen),
             upper: Money(micros: 2_000_000_000, currency: yen), old: Money(micros: 1_500_000_000, currency: yen),
             expected: Money(micros: 1_234_000_000, currency: yen)),
    ]

    @Test("rounding examples", arguments: cases)
    func examples(_ c: Case) {
        #expect(Repricer.rounded(c.price, to: c.rounding, within: c.lower...c.upper, from: c.old) == c.expected)
    }
}

// MARK: - Circuit breaker

@Suite("Pricing: the circuit breaker", .timeLimit(.minutes(2)))
struct CircuitBreakerTests {
    static func decision(_ sku: String, old: String, new: String?) -> PricingDecision {
        PricingDecision(sku: sku, marketplace: .ebay, listingID: sku, oldPrice: usd(old), newPrice: new.map(usd), floor: nil,
                        ceiling: nil, lowestCompetitorLanded: nil, buyBox: nil, offersConsidered: 0, offersExcluded: [:],
                        strategy: .beatLowest, reason: new == nil ? .unchanged : .followedCompetition, explanation: "")
    }

    /// Ten decisions: `sharp` drops of more than 25%, one drop of exactly 25%, a rise, and holds.
    static func run(sharp: Int) -> [PricingDecision] {
        var out = (0..<sharp).map { decision("S\($0)", old: "20.00", new: "14.99") }
        out.append(decision("EXACT", old: "20.00", new: "15.00"))
        out.append(decision("RISE", old: "10.00", new: "20.00"))
        while out.count < 10 { out.append(decision("H\(out.count)", old: "20.00", new: nil)) }
        return out
    }

    @Test("exactly the share of sharp drops does not trip (2 of 10 at 20%)")
    func atBoundary() {
        #expect(CircuitBreaker.evaluate(decisions: Self.run(sharp: 2), share: pct("20%"), drop: pct("25%")) == nil)
    }

    @Test("one more than the share trips, and names the counts and the deepest drops")
    func trips() throws {
        var decisions = Self.run(sharp: 3)
        decisions[1] = Self.decision("DEEP", old: "20.00", new: "5.00")
        let trip = try #require(CircuitBreaker.evaluate(decisions: decisions, share: pct("20%"), drop: pct("25%")))
        #expect(trip.sharpDrops == 3 && trip.evaluated == 10)
        #expect(trip.worst.map(\.sku) == ["DEEP", "S0", "S2"])
        #expect(trip.worst.first?.drop == pct("75%"))
        #expect(trip.description.hasPrefix("circuit breaker: 3 of 10 decisions would cut the price by more than 25%"))
    }

    @Test("a drop of exactly `drop` is not sharp")
    func exactDropIsNotSharp() {
        let decisions = (0..<5).map { Self.decision("E\($0)", old: "20.00", new: "15.00") }
        #expect(CircuitBreaker.evaluate(decisions: decisions, share: pct("1%"), drop: pct("25%")) == nil)
    }

    @Test("no decisions: no trip")
    func empty() {
        #expect(CircuitBreaker.evaluate(decisions: [], share: pct("20%"), drop: pct("25%")) == nil)
    }

    @Test("at most five examples")
    func examplesAreCapped() throws {
        let decisions = (0..<9).map { Self.decision("S\($0)", old: "20.00", new: "1.00") }
        let trip = try #require(CircuitBreaker.evaluate(decisions: decisions, share: pct("50%"), drop: pct("25%")))
        #expect(trip.worst.count == CircuitBreaker.maxExamples && trip.sharpDrops == 9)
    }
}
