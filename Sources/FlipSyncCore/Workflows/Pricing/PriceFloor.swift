/// What a marketplace charges us per sale: a share of the item's sale price plus a fixed
/// amount per order (`fee_percent` and `fee_fixed` in the config's `[marketplaces.NAME]`).
public struct MarketplaceFees: Sendable, Hashable {
    public var percent: Percent
    public var fixed: Money

    public init(percent: Percent, fixed: Money) {
        self.percent = percent
        self.fixed = fixed
    }

    public init(_ marketplace: FlipSyncConfig.Marketplace) {
        self.init(percent: marketplace.feePercent, fixed: marketplace.feeFixed)
    }

    /// The fees on one sale at `price`: `percent` of the price (to the micro-unit) plus `fixed`.
    public func charged(at price: Money) -> Money { percent.of(price) + fixed }
}

/// The lowest price at which a sale still earns the minimum margin.
///
/// The floor is the smallest whole number of minor units (cents), never less than one, such that
///
///     price × (1 − fee%) − fixed fee − shipping − cost ≥ margin × cost
///
/// The percentage fee is charged on the item's sale price; `shipping` is what shipping the
/// order costs us. What the buyer pays for shipping is not counted as income, so the floor is
/// on the safe side wherever a channel charges the buyer for shipping.
///
/// Computed exactly in integers: with `f` and `m` in parts per million and amounts in
/// micro-units, `price ≥ (10⁶·(fixed + shipping + cost) + m·cost) / (10⁶ − f)`, rounded up to
/// the minor unit.
public struct PriceFloor: Sendable, Hashable {
    /// The floor: a whole number of minor units.
    public let price: Money
    public let cost: Money
    public let shipping: Money
    public let fees: MarketplaceFees
    public let minMargin: Percent

    /// `minMargin × cost`: the profit the floor guarantees at least.
    public var requiredProfit: Money { minMargin.of(cost) }
    /// The marketplace's fees on a sale at the floor price.
    public var feesAtFloor: Money { fees.charged(at: price) }
    /// What a sale at the floor earns: price − fees − shipping − cost (≥ `requiredProfit`, up to
    /// the micro-unit rounding of the percentage fee).
    public var profitAtFloor: Money { price - feesAtFloor - shipping - cost }

    /// `nil` when no price can earn the margin: the percentage fee is 100% or more, or the
    /// floor would not fit in `Money`. All amounts must be in one currency (a precondition).
    public init?(cost: Money, shipping: Money, fees: MarketplaceFees, minMargin: Percent) {
        precondition(cost.currency == shipping.currency && cost.currency == fees.fixed.currency,
                     "price floor inputs in different currencies")
        let million: Int128 = 1_000_000  // parts per million in one whole
        let keep = million - Int128(fees.percent.partsPerMillion)  // the share of the price we keep, ppm
        guard keep > 0 else { return nil }
        let needed = million * (Int128(fees.fixed.micros) + Int128(shipping.micros) + Int128(cost.micros))
            + Int128(minMargin.partsPerMillion) * Int128(cost.micros)
        // price_micros ≥ needed / keep, and price_micros = minorUnits × unit.
        let unit = Int128(cost.microsPerMinorUnit)
        let divisor = keep * unit
        var minorUnits = needed / divisor
        if needed > 0, needed % divisor != 0 { minorUnits += 1 }  // round up; `/` truncates toward zero
        minorUnits = max(minorUnits, 1)
        guard let micros = Int64(exactly: minorUnits * unit) else { return nil }
        self.price = Money(micros: micros, currency: cost.currency)
        self.cost = cost
        self.shipping = shipping
        self.fees = fees
        self.minMargin = minMargin
    }
}

/// The highest price the repricer may set.
///
/// In order of precedence: an explicit per-listing ceiling; else `cost × (1 + ceiling_markup)`;
/// else, with no markup configured, the listing's current price (the repricer never raises a
/// price it has no ceiling for). Always rounded down to a whole minor unit.
public struct Ceiling: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        /// A ceiling given for this listing.
        case override
        /// `cost × (1 + markup)`.
        case markup(Percent)
        /// No markup configured: the listing's price when the decision was made.
        case currentPrice
    }

    /// The ceiling: a whole number of minor units.
    public let price: Money
    public let source: Source

    public init(cost: Money, currentPrice: Money, markup: Percent?, override: Money?) {
        if let override {
            price = override.roundedDownToMinorUnit
            source = .override
        } else if let markup {
            let million: Int128 = 1_000_000  // parts per million in one whole
            let micros = Int128(cost.micros) * (million + Int128(markup.partsPerMillion)) / million
            price = Money(micros: Int64(clamping: micros), currency: cost.currency).roundedDownToMinorUnit
            source = .markup(markup)
        } else {
            price = currentPrice.roundedDownToMinorUnit
            source = .currentPrice
        }
    }
}
