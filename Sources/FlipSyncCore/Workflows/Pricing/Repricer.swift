/// Decides one listing's new price. Pure: the same inputs always give the same decision.
/// README "How repricing decides" states the same rules, in the same order.
///
/// 0. A listing with quantity 0 or less holds `out-of-stock`.
/// 1. Bounds: the `PriceFloor` (margin after fees, shipping and cost, rounded up to the cent),
///    the `Ceiling` (rounded down to the cent), and the window: `step = ⌊max_change × old⌋` in
///    micro-units, edges `old − step` rounded up and `old + step` rounded down to the cent. The
///    allowed range is `[lower, upper] = [max(floor, window low), min(ceiling, window high)]`. If
///    the floor is above the ceiling, or the range is empty, the listing holds for review.
/// 2. Target, on landed prices (price + shipping): the lowest eligible competitor's landed price
///    `L` (see `CompetitorFilter`), and our landed target `T = L − undercut` (`beat-lowest`;
///    a percentage undercut is `⌊share × L⌋` in micro-units), `T = L` (`match-lowest`) or
///    `T = Buy Box` (`match-buy-box`). Our item price is `T − S`, rounded down to the cent,
///    where `S` is the shipping we charge the buyer: our own offer's shipping as the channel
///    shows it among the offers (`isOurs`; the largest if several), else the listing's
///    `shippingCharged`. With no eligible competition, `when_alone` makes the target the
///    ceiling, or holds (`alone-hold`); `match-buy-box` with no Buy Box holds (`no-buy-box`);
///    a target that needs `S` when `S` is unknown holds (`own-shipping-unknown`).
/// 3. A target is clamped to [floor, ceiling], then to the window. A hold of step 2 stays a hold
///    (the price is not moved or rounded) unless the price is outside [floor, ceiling]: then the
///    guardrail moves it to the floor or the ceiling, by at most the window (`below-floor`,
///    `above-ceiling`).
/// 4. Rounding to an ending (.99, .95, .49, .00): down to the ending; if that is below `lower`,
///    up to the next ending; if that is above `upper`, or would reverse the move (a rise turned
///    into a cut or a cut into a rise), the unrounded price. A `followed-competition` price that
///    rounded up becomes `at-floor` (when `lower` is the floor) or `max-change` (when `lower` is
///    the window's edge).
/// 5. A price equal to the old one holds `unchanged`; a change smaller than `change_threshold`
///    holds `below-threshold`.
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

        // 0. Stock.
        if listing.quantity <= 0 {
            return hold(.outOfStock, "quantity \(listing.quantity): an out-of-stock listing is not repriced")
        }

        // 1. Bounds. Money arithmetic traps on mixed currencies, so check them first.
        let ownOffers = competition.offers.filter(\.isOurs)
        var amounts: [(String, Money?)] = [("cost", cost), ("shipping cost", shippingCost), ("fixed fee", fees.fixed),
                                           ("change_threshold", p.changeThreshold.value),
                                           ("shipping charged", listing.shippingCharged), ("ceiling override", ceilingOverride)]
        amounts += ownOffers.map { ("shipping of our own offer", $0.shipping) }
        if case .amount(let undercut) = p.undercut.value { amounts.append(("undercut", undercut)) }
        if p.strategy == .matchBuyBox { amounts.append(("Buy Box", competition.buyBox)) }
        for case let (name, amount?) in amounts where amount.currency != currency {
            return hold(.currencyMismatch, "the \(name) is in \(amount.currency) but the listing is priced in \(currency)")
        }
        let ownShipping = ownOffers.map(\.shipping).max()
        let charged = ownShipping ?? listing.shippingCharged
        let chargedSource = ownShipping != nil ? "our offer's shipping" : "the listing's shipping"
        decision.shippingCharged = charged
        guard let floor = PriceFloor(cost: cost, shipping: shippingCost, fees: fees, minMargin: p.minMargin) else {
            return hold(.floorUnreachable, "no price earns a \(p.minMargin) margin after a \(fees.percent) fee")
        }
        decision.floor = floor.price
        let ceiling = Ceiling(cost: cost, currentPrice: old, markup: p.ceilingMarkup, override: ceilingOverride)
        decision.ceiling = ceiling.price
        guard floor.price <= ceiling.price else {
            return hold(.floorAboveCeiling, "the floor \(floor.price) is above the ceiling \(ceiling.price); needs review")
        }
        let step = Money(micros: maxStepMicros(of: old, by: p.maxChange), currency: currency)
        let windowLow = (old - step).roundedUpToMinorUnit
        let lower = max(floor.price, windowLow)
        let upper = min(ceiling.price, (old + step).roundedDownToMinorUnit)
        guard lower <= upper else {
            return hold(.outOfReach, "no price within \(p.maxChange) of \(old) lies between the floor \(floor.price) "
                        + "and the ceiling \(ceiling.price); needs review")
        }

        // 2. Target.
        var notes: [String] = []
        var target: Money
        var reason: PricingDecision.Reason
        if offers.considered.isEmpty {
            notes.append("no eligible competition (\(offers.excludedCount) offers excluded)")
            switch p.whenAlone {
            case .ceiling: (target, reason) = (ceiling.price, .aloneCeiling)
            case .hold: (target, reason) = (old, .aloneHold)
            }
        } else if let landed = landedTarget(p, lowest: offers.lowestLanded!, buyBox: competition.buyBox, notes: &notes) {
            if let charged {
                target = (landed - charged).roundedDownToMinorUnit
                reason = .followedCompetition
                notes.append("target landed \(landed) − shipping charged \(charged) (\(chargedSource)) → \(target)")
            } else {
                notes.append("the shipping we charge is unknown: our own offer is not among the \(competition.offers.count) "
                             + "offers shown and the listing does not say its shipping")
                (target, reason) = (old, .ownShippingUnknown)
            }
        } else {
            notes.append("no Buy Box among \(offers.considered.count) eligible offers")
            (target, reason) = (old, .noBuyBox)
        }

        // 3. Bounds.
        let limited: Money
        if reason.isStrategyHold {
            // `lower ≤ upper` was checked, so the window always reaches the bound here.
            if old < floor.price {
                limited = floor.price
                reason = .belowFloor
                notes.append("the price \(old) is below the floor \(floor.price): raised to it")
            } else if old > ceiling.price {
                limited = ceiling.price
                reason = .aboveCeiling
                notes.append("the price \(old) is above the ceiling \(ceiling.price): lowered to it")
            } else {
                // A hold holds: the price is inside [floor, ceiling], so it is neither moved nor rounded.
                return hold(reason, (notes + ["price stays \(old)"]).joined(separator: "; "))
            }
        } else {
            let bounded = min(max(target, floor.price), ceiling.price)
            limited = min(max(bounded, lower), upper)
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
        }

        // 4. Rounding.
        let price = rounded(limited, to: p.rounding, within: lower...upper, from: old)
        if price != limited {
            if price > limited, reason == .followedCompetition {
                // Rounding down would have crossed the lower bound: that bound decided the price.
                reason = lower == floor.price ? .atFloor : .limitedByMaxChange
                notes.append("rounded up to \(p.rounding.rawValue): \(price), since rounding down would cross "
                             + (reason == .atFloor ? "the floor \(floor.price)" : "the max change edge \(windowLow)"))
            } else {
                notes.append("rounded to \(p.rounding.rawValue): \(price)")
            }
        }

        // 5. Threshold.
        if price == old {
            return hold(.unchanged, (notes + ["price stays \(old)"]).joined(separator: "; "))
        }
        let change = price > old ? price - old : old - price
        if change < p.changeThreshold.value {
            notes.append("a change of \(change) is below the threshold \(p.changeThreshold.value)")
            return hold(.belowThreshold, notes.joined(separator: "; "))
        }
        decision.newPrice = price
        decision.state = .planned
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
