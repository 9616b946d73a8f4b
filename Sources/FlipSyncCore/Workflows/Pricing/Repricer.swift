/// Decides one listing's new price. Pure: the same inputs always give the same decision.
///
/// 1. Bounds: the `PriceFloor` (margin after fees, shipping and cost), the `Ceiling`, and the
///    window `old ± max_change × old`. If the floor is above the ceiling, or no whole-cent price
///    in the window lies between them, the listing holds for review.
/// 2. Target, on landed prices (price + shipping), because buyers compare landed prices: the
///    lowest eligible competitor's landed price `L` (see `CompetitorFilter`), and our landed target
///    `T = L − undercut` (`beat-lowest`), `T = L` (`match-lowest`) or `T = Buy Box`
///    (`match-buy-box`; with no Buy Box the target is the old price). Our item price is
///    `T − the shipping we charge the buyer`, rounded down to the cent. With no eligible
///    competition, `when_alone` makes the target the ceiling or the old price.
/// 3. The target is clamped to [floor, ceiling], then to the `max_change` window — so even a
///    "hold" moves a price that is outside [floor, ceiling] back inside, by at most `max_change`.
/// 4. Rounding to an ending (.99, .95, .49, .00): down to the ending; if that falls below the
///    lower bound, up to the next ending; if that breaks the upper bound, the unrounded price.
///    Rounding never reverses the move's direction.
/// 5. A price equal to the old one, or closer to it than `change_threshold`, holds.
public enum Repricer {
    public static func decide(
        listing: MarketplaceListing, cost: Money, shippingCost: Money, fees: MarketplaceFees,
        parameters p: RepricingSweep.Parameters, competition: Competition,
        acceptedTitleMatches: Set<String> = [], ceilingOverride: Money? = nil
    ) -> PricingDecision {
        let old = listing.price
        let currency = old.currency
        let offers = CompetitorFilter(condition: listing.condition, currency: currency, minSellerFeedback: p.minSellerFeedback,
                                      llmMatching: p.llmMatching, acceptedTitleMatches: acceptedTitleMatches)
            .apply(to: competition.offers)
        var decision = PricingDecision(
            sku: listing.sku, marketplace: listing.marketplace, listingID: listing.listingID, oldPrice: old, newPrice: nil,
            floor: nil, ceiling: nil, lowestCompetitorLanded: offers.lowestLanded, buyBox: competition.buyBox,
            offersConsidered: offers.considered.count, offersExcluded: offers.excluded, strategy: p.strategy,
            reason: .unchanged, explanation: "")
        func hold(_ reason: PricingDecision.Reason, _ explanation: String) -> PricingDecision {
            decision.reason = reason
            decision.explanation = explanation
            return decision
        }

        // 1. Bounds. Money arithmetic traps on mixed currencies, so check them first.
        var amounts: [(String, Money?)] = [("cost", cost), ("shipping cost", shippingCost), ("fixed fee", fees.fixed),
                                           ("change_threshold", p.changeThreshold.value),
                                           ("shipping charged", listing.shippingCharged), ("ceiling override", ceilingOverride)]
        if case .amount(let undercut) = p.undercut.value { amounts.append(("undercut", undercut)) }
        if p.strategy == .matchBuyBox { amounts.append(("Buy Box", competition.buyBox)) }
        for case let (name, amount?) in amounts where amount.currency != currency {
            return hold(.currencyMismatch, "the \(name) is in \(amount.currency) but the listing is priced in \(currency)")
        }
        guard let floor = PriceFloor(cost: cost, shipping: shippingCost, fees: fees, minMargin: p.minMargin) else {
            return hold(.floorUnreachable, "no price earns a \(p.minMargin) margin after a \(fees.percent) fee")
        }
        decision.floor = floor
        let ceiling = Ceiling(cost: cost, currentPrice: old, markup: p.ceilingMarkup, override: ceilingOverride)
        decision.ceiling = ceiling
        guard floor.price <= ceiling.price else {
            return hold(.floorAboveCeiling, "the floor \(floor.price) is above the ceiling \(ceiling.price); needs review")
        }
        let step = Money(micros: maxStepMicros(of: old, by: p.maxChange), currency: currency)
        let lower = max(floor.price, (old - step).roundedUpToMinorUnit)
        let upper = min(ceiling.price, (old + step).roundedDownToMinorUnit)
        guard lower <= upper else {
            return hold(.outOfReach, "no price within \(p.maxChange) of \(old) lies between the floor \(floor.price) "
                        + "and the ceiling \(ceiling.price); needs review")
        }

        // 2. Target.
        var notes: [String] = []
        let target: Money
        var reason: PricingDecision.Reason
        if offers.considered.isEmpty {
            notes.append("no eligible competition (\(offers.excludedCount) offers excluded)")
            switch p.whenAlone {
            case .ceiling: (target, reason) = (ceiling.price, .aloneCeiling)
            case .hold: (target, reason) = (old, .aloneHold)
            }
        } else if let landed = landedTarget(p, lowest: offers.lowestLanded!, buyBox: competition.buyBox, notes: &notes) {
            let charged = listing.shippingCharged ?? .zero(currency)
            target = (landed - charged).roundedDownToMinorUnit
            reason = .followedCompetition
            notes.append("target landed \(landed) − shipping charged \(charged) → \(target)")
        } else {
            notes.append("no Buy Box among \(offers.considered.count) eligible offers")
            (target, reason) = (old, .noBuyBox)
        }

        // 3. Bounds.
        let bounded = min(max(target, floor.price), ceiling.price)
        let limited = min(max(bounded, lower), upper)
        if limited != bounded {
            reason = .limitedByMaxChange
            notes.append("limited by max change \(p.maxChange) to \(limited)")
        } else if target < floor.price {
            reason = .atFloor
            notes.append("raised to the floor \(floor.price)")
        } else if target > ceiling.price {
            reason = .atCeiling
            notes.append("lowered to the ceiling \(ceiling.price)")
        }

        // 4. Rounding.
        let price = rounded(limited, to: p.rounding, within: lower...upper, from: old)
        if price != limited { notes.append("rounded to \(p.rounding.rawValue): \(price)") }

        // 5. Threshold.
        if price == old {
            return hold(reason.changesPrice ? .unchanged : reason, (notes + ["price stays \(old)"]).joined(separator: "; "))
        }
        let change = price > old ? price - old : old - price
        if change < p.changeThreshold.value {
            notes.append("a change of \(change) is below the threshold \(p.changeThreshold.value)")
            return hold(.belowThreshold, notes.joined(separator: "; "))
        }
        decision.newPrice = price
        decision.reason = reason
        decision.explanation = (notes + ["\(old) → \(price)"]).joined(separator: "; ")
        return decision
    }

    /// The landed price the strategy aims at, or `nil` for `match-buy-box` without a Buy Box.
    static func landedTarget(_ p: RepricingSweep.Parameters, lowest: Money, buyBox: Money?, notes: inout [String]) -> Money? {
        switch p.strategy {
        case .beatLowest:
            let undercut: Money
            switch p.undercut.value {
            case .percent(let share): undercut = share.of(lowest)
            case .amount(let amount): undercut = amount
            }
            notes.append("lowest landed \(lowest) − undercut \(undercut)")
            return lowest - undercut
        case .matchLowest:
            notes.append("lowest landed \(lowest)")
            return lowest
        case .matchBuyBox:
            guard let buyBox else { return nil }
            notes.append("Buy Box \(buyBox)")
            return buyBox
        }
    }

    /// The largest change `max_change` allows from `old`, in micro-units: ⌊ppm × old / 10⁶⌋,
    /// so that `|new − old| ≤ step` exactly when `|new − old| × 10⁶ ≤ ppm × old`.
    static func maxStepMicros(of old: Money, by maxChange: Percent) -> Int64 {
        guard old.micros > 0, maxChange.partsPerMillion > 0 else { return 0 }
        return Int64(Int128(old.micros) * Int128(maxChange.partsPerMillion) / 1_000_000)
    }

    /// `price` moved to the rounding's ending: down; if that is below `range`, up to the next
    /// ending; if that is above `range`, or an ending would reverse the move from `old` (a rise
    /// turned into a cut, or a cut into a rise), `price` itself. An ending the currency cannot
    /// express in whole minor units leaves `price` as it is.
    static func rounded(_ price: Money, to rounding: RepricingSweep.Rounding, within range: ClosedRange<Money>,
                        from old: Money) -> Money {
        guard price != old, let ending = rounding.endingMicros, ending % price.microsPerMinorUnit == 0 else { return price }
        func keepsDirection(_ candidate: Money) -> Bool { price > old ? candidate >= old : candidate <= old }
        let unit = Money.microsPerUnit
        let down = Money(micros: Money.floorDivide(price.micros - ending, unit) * unit + ending, currency: price.currency)
        if down >= range.lowerBound {
            return keepsDirection(down) ? down : price
        }
        let up = Money(micros: down.micros + unit, currency: price.currency)
        return up <= range.upperBound && keepsDirection(up) ? up : price
    }
}

extension RepricingSweep.Rounding {
    /// The ending as a fraction of the major unit, in micro-units (.99 → 990,000); `nil` for `none`.
    var endingMicros: Int64? {
        switch self {
        case .none: nil
        case .cents99: 990_000
        case .cents95: 950_000
        case .cents49: 490_000
        case .whole: 0
        }
    }
}
