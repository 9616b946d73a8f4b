import Testing
@testable import FlipSyncCore

/// Random listings, costs, fees, offers and parameters (a fixed seed, so a failure reproduces),
/// and the invariants every decision must keep.
@Suite("Pricing: invariants over random inputs", .timeLimit(.minutes(5)))
struct PricingPropertyTests {
    static let currencies = [Currency.usd, Currency(code: "JPY")!, Currency(code: "KWD")!]

    /// An amount of whole minor units in `range` (given in major units × 100), or any micro-amount.
    static func amount(_ range: ClosedRange<Int64>, _ currency: Currency, wholeUnits: Bool = true,
                       _ rng: inout SplitMix64) -> Money {
        let micros = Int64.random(in: range, using: &rng) * 10_000
        let money = Money(micros: micros, currency: currency)
        return wholeUnits ? money.roundedDownToMinorUnit : Money(micros: micros + Int64.random(in: 0..<10_000, using: &rng),
                                                                 currency: currency)
    }

    static func percent(_ range: ClosedRange<Int64>, _ rng: inout SplitMix64) -> Percent {
        Percent(partsPerMillion: Int64.random(in: range, using: &rng))
    }

    struct Inputs {
        var listing: MarketplaceListing
        var cost: Money
        var shippingCost: Money
        var fees: MarketplaceFees
        var parameters: RepricingSweep.Parameters
        var competition: Competition
        var accepted: Set<String>
        var ceilingOverride: Money?

        func decide() -> PricingDecision {
            Repricer.decide(listing: listing, cost: cost, shippingCost: shippingCost, fees: fees, parameters: parameters,
                            competition: competition, acceptedTitleMatches: accepted, ceilingOverride: ceilingOverride)
        }
    }

    static func randomInputs(_ rng: inout SplitMix64) -> Inputs {
        let currency = currencies.randomElement(using: &rng)!
        // Rarely, one input in another currency, to exercise the currency check.
        let other = Int.random(in: 0..<100, using: &rng) == 0 ? currencies.first { $0 != currency }! : currency
        let costCurrency = Int.random(in: 0..<20, using: &rng) == 0 ? other : currency
        let wholeCost = Bool.random(using: &rng)
        let cost = amount(0...50_000, costCurrency, wholeUnits: wholeCost, &rng)
        let oldPrice = Bool.random(using: &rng)
            ? amount(1...200_000, currency, &rng)
            : max(Money(micros: cost.micros * Int64.random(in: 50...400, using: &rng) / 100, currency: currency).roundedDownToMinorUnit,
                  Money(micros: 0, currency: currency))
        let conditions: [ItemCondition] = [.new, .new, .new, .used]
        let listing = MarketplaceListing(
            marketplace: .ebay, sku: "SKU", listingID: "L", title: "t", condition: conditions.randomElement(using: &rng)!,
            price: oldPrice, quantity: Int.random(in: 0..<50, using: &rng) == 0 ? 0 : 1, shippingCharged: Bool.random(using: &rng) ? nil : amount(0...1_500, currency, &rng))
        let feePercent = Int.random(in: 0..<200, using: &rng) == 0
            ? Percent(partsPerMillion: 1_000_000) : percent(0...500_000, &rng)
        let fees = MarketplaceFees(percent: feePercent, fixed: amount(0...100, currency, &rng))

        var offers: [CompetitorOffer] = []
        for i in 0..<Int.random(in: 0...8, using: &rng) {
            let landed = Money(micros: max(1, oldPrice.micros) * Int64.random(in: 30...200, using: &rng) / 100, currency: currency)
            let shipping = amount(0...1_000, currency, &rng)
            let price = max(landed - shipping, .zero(currency)).roundedDownToMinorUnit
            offers.append(CompetitorOffer(
                offerID: "o\(i)", title: "t", matchedByIdentifier: Int.random(in: 0..<4, using: &rng) > 0, price: price,
                shipping: shipping, condition: conditions.randomElement(using: &rng)!, sellerID: "s\(i)",
                sellerFeedback: Int.random(in: 0..<8, using: &rng) == 0 ? nil : percent(800_000...1_000_000, &rng),
                isOurs: Int.random(in: 0..<8, using: &rng) == 0, isBuyBoxWinner: false))
        }
        let buyBox = Bool.random(using: &rng) ? offers.randomElement(using: &rng)?.landed : nil
        let accepted = Set(offers.filter { _ in Bool.random(using: &rng) }.map(\.offerID))

        let marginLimit: Int64 = Bool.random(using: &rng) ? 500_000 : 5_000_000
        let undercut: RepricingSweep.Adjustment = Bool.random(using: &rng)
            ? .percent(percent(0...500_000, &rng)) : .amount(amount(0...500, other, &rng))
        let parameters = RepricingSweep.Parameters(
            strategy: RepricingSweep.Strategy.allCases.randomElement(using: &rng)!, undercut: undercut,
            minMargin: percent(0...marginLimit, &rng),
            maxChange: percent(1...1_000_000, &rng),
            ceilingMarkup: Bool.random(using: &rng) ? percent(1...10_000_000, &rng) : nil,
            whenAlone: RepricingSweep.WhenAlone.allCases.randomElement(using: &rng)!,
            minSellerFeedback: percent(800_000...1_000_000, &rng),
            changeThreshold: amount(0...100, currency, &rng),
            rounding: RepricingSweep.Rounding.allCases.randomElement(using: &rng)!,
            llmMatching: Bool.random(using: &rng))
        let wholeOverride = Bool.random(using: &rng)
        let ceilingOverride = Int.random(in: 0..<5, using: &rng) == 0
            ? amount(0...200_000, currency, wholeUnits: wholeOverride, &rng) : nil
        return Inputs(listing: listing, cost: cost, shippingCost: amount(0...2_000, currency, &rng), fees: fees,
                      parameters: parameters, competition: Competition(offers: offers, buyBox: buyBox), accepted: accepted,
                      ceilingOverride: ceilingOverride)
    }

    @Test("20,000 random decisions keep every invariant, and every reason occurs")
    func invariants() {
        var rng = SplitMix64(seed: 0x5EED_F10B)
        var reasons: [PricingDecision.Reason: Int] = [:]
        let million = Int128(1_000_000)
        for i in 0..<20_000 {
            let inputs = Self.randomInputs(&rng)
            let d = inputs.decide()
            reasons[d.reason, default: 0] += 1
            let old = inputs.listing.price
            #expect(d == inputs.decide(), "case \(i): not deterministic")
            #expect(d.offersConsidered + d.offersExcluded.values.reduce(0, +) == inputs.competition.offers.count, "case \(i)")
            #expect(d.reason.changesPrice == (d.newPrice != nil), "case \(i): \(d.reason) with \(String(describing: d.newPrice))")
            #expect(d.state == (d.newPrice == nil ? .hold : .planned), "case \(i): \(d.state) with \(String(describing: d.newPrice))")
            guard let new = d.newPrice else { continue }
            guard let floor = d.floor, let ceiling = d.ceiling else {
                Issue.record("case \(i): a new price without bounds")
                continue
            }
            let context = "case \(i): \(d.reason), \(old) → \(new), floor \(floor), ceiling \(ceiling): \(d.explanation)"
            #expect(new.currency == old.currency, "\(context)")
            #expect(floor <= new && new <= ceiling, "\(context)")
            let change = Int128(new.micros - old.micros).magnitude
            #expect(UInt128(million) * change <= UInt128(inputs.parameters.maxChange.partsPerMillion) * UInt128(old.micros),
                    "\(context): more than max change \(inputs.parameters.maxChange)")
            #expect(new.micros % new.microsPerMinorUnit == 0, "\(context): not whole minor units")
            #expect(new != old && change >= UInt128(inputs.parameters.changeThreshold.value.micros), "\(context): below threshold")
        }
        // `no-cost` is the sweep's hold for a listing it cannot give to the repricer (no cost, no floor).
        for reason in PricingDecision.Reason.allCases where reason != .noCost {
            #expect(reasons[reason, default: 0] > 0, "no random case produced \(reason)")
        }
    }

    @Test("10,000 random floors are the smallest whole-cent prices that earn the margin")
    func floorsAreMinimal() {
        var rng = SplitMix64(seed: 0xF100_4)
        let million = Int128(1_000_000)
        for i in 0..<10_000 {
            let currency = Self.currencies.randomElement(using: &rng)!
            let wholeCost = Bool.random(using: &rng)
            let cost = Self.amount(0...100_000, currency, wholeUnits: wholeCost, &rng)
            let shipping = Self.amount(0...3_000, currency, &rng)
            let fees = MarketplaceFees(percent: Self.percent(0...999_999, &rng), fixed: Self.amount(0...200, currency, &rng))
            let margin = Self.percent(0...5_000_000, &rng)
            guard let floor = PriceFloor(cost: cost, shipping: shipping, fees: fees, minMargin: margin) else {
                Issue.record("case \(i): no floor for a fee of \(fees.percent)")
                continue
            }
            // profit × 10⁶ = price × (10⁶ − fee) − 10⁶ × (fixed + shipping + cost), compared with margin × cost × 10⁶.
            func earnsMargin(_ price: Money) -> Bool {
                Int128(price.micros) * (million - Int128(fees.percent.partsPerMillion))
                    - million * (Int128(fees.fixed.micros) + Int128(shipping.micros) + Int128(cost.micros))
                    >= Int128(margin.partsPerMillion) * Int128(cost.micros)
            }
            let unit = floor.price.microsPerMinorUnit
            #expect(floor.price.micros % unit == 0 && floor.price.currency == currency, "case \(i)")
            #expect(earnsMargin(floor.price), "case \(i): \(floor.price) misses the margin")
            if floor.price.micros > unit {
                let lower = Money(micros: floor.price.micros - unit, currency: currency)
                #expect(!earnsMargin(lower), "case \(i): \(lower) already earns the margin; floor \(floor.price)")
            }
        }
    }

    /// The shipping we charge as the README defines it: our own offer's (the largest), else the listing's.
    static func shippingCharged(_ inputs: Inputs) -> Money? {
        inputs.competition.offers.filter(\.isOurs).map(\.shipping).max() ?? inputs.listing.shippingCharged
    }

    @Test("beat-lowest with no rounding lands exactly at the undercut price when no bound applies")
    func beatLowestLandsBelowCompetition() {
        var rng = SplitMix64(seed: 0xBEA7)
        var checked = 0
        for _ in 0..<10_000 {
            var inputs = Self.randomInputs(&rng)
            inputs.parameters.strategy = .beatLowest
            inputs.parameters.rounding = .none
            let d = inputs.decide()
            guard d.reason == .followedCompetition, let new = d.newPrice, let lowest = d.lowestCompetitorLanded else { continue }
            let undercut: Money
            switch inputs.parameters.undercut.value {
            case .percent(let p): undercut = p.of(lowest)
            case .amount(let a): undercut = a
            }
            guard let charged = Self.shippingCharged(inputs) else {
                Issue.record("followed competition without a known shipping charge")
                continue
            }
            #expect(d.shippingCharged == charged)
            #expect(new == (lowest - undercut - charged).roundedDownToMinorUnit)
            #expect(new + charged <= lowest - undercut)
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test("beat-lowest, any rounding: landed price after the change ≤ lowest landed − undercut whenever not clamped")
    func beatLowestLandedNeverAboveTarget() {
        var rng = SplitMix64(seed: 0x1A4D_ED)
        var checked = 0
        for _ in 0..<20_000 {
            var inputs = Self.randomInputs(&rng)
            inputs.parameters.strategy = .beatLowest
            let d = inputs.decide()
            // Not clamped: the strategy's target decided the price (no floor, ceiling or max-change).
            guard d.reason == .followedCompetition, let new = d.newPrice, let lowest = d.lowestCompetitorLanded,
                  let charged = Self.shippingCharged(inputs) else { continue }
            let undercut: Money
            switch inputs.parameters.undercut.value {
            case .percent(let p): undercut = p.of(lowest)
            case .amount(let a): undercut = a
            }
            #expect(new + charged <= lowest - undercut, "\(inputs.parameters.rounding): \(d.explanation)")
            checked += 1
        }
        #expect(checked > 500)
    }
}
